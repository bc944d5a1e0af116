//! Running the binary, and the emulator it talks to.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_emulator::{Emulator, EmulatorBuilder, EmulatorHandle, SigningKey};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub const ACCOUNT: &str = "56072331";
pub const CLIENT_ID: &str = "75588e18-0213-4e33-8174-883acac7e3c4";
/// Test-only secret; every run checks that neither output contains it.
pub const SECRET: &str = "cli-s3cr3t+with&form=chars";

/// The documentation's example token: issued 2018, long expired.
pub const SEED_TOKEN: &str = "eyJraWQiOiJhcHBqd3QtMTMtMDUtMTciLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJsZTgxODIzMTE4IiwiYXpwIjoiNzU1ODhlMTgtMDIxMy00ZTMzLTgxNzQtODgzYWNhYzdlM2M0Iiwic2NvcGUiOiJtc2cuY29uc3VtZXIiLCJpc3MiOiJTZW50aW5lbCIsImV4cCI6MTUyNDY0NjI3MCwiaWF0IjoxNTI0NjQyNjcwfQ.aC1EbVQDIKJkrMgfoqhDqo5KZVMILTGP5UnK_4lUJQIfpFcrymvQKU9E6zt_WDhWmM2SOOcr1sz4u5xVZ9rMWZciDW_9KofEM2NDgVw1EVBxAIgGYeO0sbE9o--HKjk9DHZvukJkQFhYaHMDnj6ay4BNUqTJpDn6y3XQY7eh7rM";

/// No run of the binary may take longer; a hang fails the test instead of
/// stalling the suite.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// RSA key generation is slow; one key per process serves every test.
pub fn signing_key() -> SigningKey {
    SigningKey::shared()
        .unwrap_or_else(|e| panic!("cannot generate the emulator's signing key: {e}"))
}

/// An emulator with the test client registered.
pub fn emulator() -> EmulatorBuilder {
    Emulator::builder()
        .client(ACCOUNT, CLIENT_ID, SECRET)
        .signing_key(signing_key())
}

pub async fn start(builder: EmulatorBuilder) -> Emu {
    let handle = match builder.start().await {
        Ok(h) => h,
        Err(e) => panic!("emulator did not start: {e}"),
    };
    let ca = temp_path("ca.pem");
    if let Err(e) = handle.write_ca_pem(&ca) {
        panic!("cannot write the CA: {e}");
    }
    Emu { handle, ca }
}

/// A running emulator and its CA written to a file for `--ca-file`.
pub struct Emu {
    pub handle: EmulatorHandle,
    pub ca: PathBuf,
}

impl Emu {
    pub fn host(&self) -> String {
        self.handle.host().to_string()
    }

    pub fn ca(&self) -> String {
        self.ca.display().to_string()
    }

    /// `appjwt token` for the test client against this emulator, with the
    /// secret in the environment.
    pub fn token_cmd(&self) -> Cli {
        let host = self.host();
        let ca = self.ca();
        Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
            .args(&["--csds-host", &host, "--ca-file", &ca, "--verify", "jwks"])
            .secret_env(SECRET)
    }

    /// The emulator's key set, written to a file for `decode --jwks`.
    pub fn jwks_file(&self) -> String {
        let path = temp_path("jwks.json");
        if let Err(e) = std::fs::write(&path, self.handle.jwks_json()) {
            panic!("write: {e}");
        }
        path.display().to_string()
    }

    /// The emulator's public key as PEM, for `decode --public-key`.
    pub fn public_key_file(&self) -> String {
        use base64::Engine;
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(self.handle.public_key_spki_der());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        let path = temp_path("key.pem");
        if let Err(e) = std::fs::write(&path, pem) {
            panic!("write: {e}");
        }
        path.display().to_string()
    }

    /// A fresh valid token for the test client.
    pub fn token(&self) -> String {
        match self.handle.issue_token(ACCOUNT, CLIENT_ID) {
            Ok(t) => t,
            Err(e) => panic!("issue_token: {e}"),
        }
    }
}

/// `appjwt token` for the test client, one attempt, the secret in the
/// environment, and `args` (hosts, CA, verification) added.
pub fn token_once(args: &[&str]) -> Cli {
    Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&["--retries", "0"])
        .args(args)
        .secret_env(SECRET)
}

/// A unique path in cargo's scratch directory for integration tests.
pub fn temp_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("appjwt-it-{}-{n}-{name}", std::process::id()))
}

/// A loopback port nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => panic!("local_addr: {e}"),
    }
}

/// Collects the request paths an emulator serves.
pub fn path_log() -> (
    Arc<Mutex<Vec<String>>>,
    impl Fn(&lp_emulator::RequestLog) + Send + Sync,
) {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let sink = paths.clone();
    let f = move |log: &lp_emulator::RequestLog| {
        if let Ok(mut p) = sink.lock() {
            p.push(format!("{} {}", log.method, log.path));
        }
    };
    (paths, f)
}

/// One invocation of the binary.
pub struct Cli {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    /// Tokens the test knows of, which must not appear in stderr.
    tokens: Vec<String>,
    /// Whether `NO_COLOR=1` is set (the default, so output compares
    /// as plain text).
    no_color: bool,
    /// `XDG_CACHE_HOME` for this run: a fresh directory unless a test
    /// shares one ([`Cli::cache_home`]), so that no run finds another's
    /// token and none writes to the user's own cache.
    cache_home: PathBuf,
}

/// What a run produced.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    pub fn new(args: &[&str]) -> Self {
        Cli {
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            tokens: Vec::new(),
            no_color: true,
            cache_home: temp_path("cache-home"),
        }
        .args(args)
    }

    /// The first argument: the subcommand.
    pub fn first_arg(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or_default()
    }

    /// Sets an environment variable for this run.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Uses `dir` as `XDG_CACHE_HOME` (the token cache is `dir/appjwt`).
    pub fn cache_home(mut self, dir: &std::path::Path) -> Self {
        self.cache_home = dir.to_path_buf();
        self
    }

    /// Runs without `NO_COLOR` in the environment.
    pub fn allow_color(mut self) -> Self {
        self.no_color = false;
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub fn secret_env(mut self, secret: &str) -> Self {
        self.env
            .push(("LP_CLIENT_SECRET".to_owned(), secret.to_owned()));
        self
    }

    pub fn stdin(self, text: &str) -> Self {
        self.stdin_bytes(text.as_bytes())
    }

    /// Bytes on stdin, which need not be text (a webhook body).
    pub fn stdin_bytes(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// A token that must not show up in stderr.
    pub fn watch_token(mut self, token: &str) -> Self {
        let token = token.trim();
        if !token.is_empty() {
            self.tokens.push(token.to_owned());
        }
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_appjwt"));
        // A developer's own proxy settings must not change a result.
        for var in integration_tests::tinyproxy::PROXY_ENV {
            cmd.env_remove(var);
        }
        cmd.args(&self.args)
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR");
        // Whatever the developer running the tests has exported must not
        // reach the binary: each test sets what it means.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LP_") {
                cmd.env_remove(key);
            }
        }
        if self.no_color {
            cmd.env("NO_COLOR", "1");
        }
        cmd.env("XDG_CACHE_HOME", &self.cache_home);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        cmd
    }

    /// Runs to completion and checks the rules every run must keep.
    pub async fn run(self) -> Out {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("cannot run appjwt: {e}"),
        };
        if let (Some(text), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            match pipe.write_all(text).await {
                // A command that fails before it reads stdin closes it.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    panic!("cannot write stdin: {e}")
                }
                _ => {}
            }
        }
        let output = match tokio::time::timeout(HANG_GUARD, child.wait_with_output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => panic!("appjwt {:?}: {e}", self.args),
            Err(_) => panic!("appjwt {:?} did not finish", self.args),
        };
        let out = Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        out.check_hygiene(&self.args, &self.tokens);
        out
    }

    /// Starts the binary with stdout piped line by line (for `emulator`).
    pub fn spawn(self) -> tokio::process::Child {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("cannot run appjwt: {e}"),
        }
    }
}

impl Out {
    fn check_hygiene(&self, args: &[String], tokens: &[String]) {
        assert_ne!(self.code, 101, "appjwt {args:?} panicked: {self:?}");
        assert_ne!(self.code, -1, "appjwt {args:?} died of a signal: {self:?}");
        assert_no_secret(&self.stdout, &self.stderr);
        for t in tokens {
            assert!(
                !self.stderr.contains(t.as_str()),
                "token in stderr: {self:?}"
            );
        }
        // Also tokens the test does not know of, e.g. one the binary got.
        assert!(
            !contains_jwt(&self.stderr),
            "a whole token in stderr of {args:?}: {}",
            self.stderr
        );
    }

    /// Asserts the exit code, and for a failure that stderr contains
    /// `needle` and is exactly one `appjwt: ...` line, or clap's usage
    /// error (`error: ...` and a usage hint, exit 2).
    pub fn expect(&self, code: i32, needle: &str) -> &Self {
        assert_eq!(self.code, code, "exit code: {self:?}");
        if code != 0 {
            let ours = self.stderr.starts_with("appjwt: ") && self.stderr.lines().count() == 1;
            let clap = code == 2 && self.stderr.starts_with("error: ");
            assert!(ours || clap, "not one error line: {self:?}");
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}: {self:?}"
            );
        }
        self
    }

    /// Asserts the exit code and that the last stderr line is the JSON
    /// error object `{"error":..,"kind":..,"exit":..}` with `kind` and an
    /// `error` containing `needle`.
    pub fn expect_json_error(&self, code: i32, kind: &str, needle: &str) -> &Self {
        assert_eq!(self.code, code, "exit code: {self:?}");
        let last = self.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("{\"error\":"),
            "last line not json: {self:?}"
        );
        let v: serde_json::Value = match serde_json::from_str(last) {
            Ok(v) => v,
            Err(e) => panic!("last stderr line is not json ({e}): {self:?}"),
        };
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 3, "{self:?}");
        assert_eq!(v["kind"], kind, "{self:?}");
        assert_eq!(v["exit"], code, "{self:?}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "error lacks {needle:?}: {self:?}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(e) => panic!("stdout is not json ({e}): {self:?}"),
        }
    }
}

pub fn assert_no_secret(stdout: &str, stderr: &str) {
    assert!(!stdout.contains(SECRET), "secret in stdout: {stdout}");
    assert!(!stderr.contains(SECRET), "secret in stderr: {stderr}");
}

/// Whether `text` contains a whole compact JWT: `eyJ...` header, `.`,
/// payload, `.`, at least one signature character.
pub fn contains_jwt(text: &str) -> bool {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices("eyJ").any(|(i, _)| {
        let rest = &text[i..];
        let mut parts = rest.splitn(3, '.');
        let header = parts.next().unwrap_or("");
        let payload = parts.next().unwrap_or("");
        let sig = parts.next().unwrap_or("");
        header.chars().all(b64)
            && !payload.is_empty()
            && payload.chars().all(b64)
            && sig.starts_with(b64)
    })
}

#[test]
fn jwt_detector() {
    let check = |text: &str, want: bool| assert_eq!(contains_jwt(text), want, "{text}");
    check(SEED_TOKEN, true);
    check(&format!("appjwt: oops {SEED_TOKEN}\n"), true);
    check(
        "access_token eyJraWQiOiJhcHBqd3QtMjct... (595 bytes)",
        false,
    );
    check("eyJhbGciOiJSUzI1NiJ9.eyJ9.", false);
    check("no token here", false);
}
