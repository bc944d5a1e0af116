//! The README's "Testing your connector offline" block, run exactly as it
//! stands, with the built `appjwt` on `PATH`, so that it cannot rot.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{assert_no_secret, contains_jwt, temp_path};

const README: &str = include_str!("../../../../README.md");

/// The first `sh` block after `heading`.
fn block_after(markdown: &str, heading: &str) -> String {
    let section = match markdown.find(heading) {
        Some(i) => &markdown[i..],
        None => panic!("README has no {heading:?}"),
    };
    let start = match section.find("```sh\n") {
        Some(i) => i + "```sh\n".len(),
        None => panic!("no sh block after {heading:?}"),
    };
    let body = &section[start..];
    match body.find("\n```\n") {
        Some(end) => body[..=end].to_owned(),
        None => panic!("unterminated block after {heading:?}"),
    }
}

#[test]
fn blocks_are_found() {
    let md = "# a\n```sh\nnot this\n```\n## B\ntext\n```sh\necho 1\necho 2\n```\nmore\n";
    assert_eq!(block_after(md, "## B"), "echo 1\necho 2\n");
}

/// What a README script printed, and where it ran.
struct Ran {
    dir: std::path::PathBuf,
    stdout: String,
    stderr: String,
}

/// Runs `script` with bash (`-e -u -o pipefail`), the built `appjwt` on
/// `PATH`, in a fresh folder named after `name`, in a process group of its
/// own; fails unless it succeeds and leaves no process behind.
async fn run_script(name: &str, script: &str) -> Ran {
    let dir = temp_path(name);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("mkdir: {e}");
    }
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_appjwt"))
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let mut cmd = tokio::process::Command::new("bash");
    // -e: a failing line fails the test instead of being skipped over.
    cmd.args(["-e", "-u", "-o", "pipefail", "-c", script])
        .current_dir(&dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        // Its `appjwt token` keeps its token beside it, not in the user's
        // cache.
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env_remove("LP_CLIENT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that whatever it leaves behind can be
        // found and stopped.
        .process_group(0)
        .kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("bash: {e}"),
    };
    let group = child.id().unwrap_or(0);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await;
    // The block ends with `kill "$emulator"`: nothing of it must be left.
    let mut left = true;
    for _ in 0..50 {
        left = group_alive(group).await;
        if !left {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if left {
        let _ = tokio::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .status()
            .await;
    }
    let output = match output {
        Ok(Ok(o)) => o,
        other => panic!("the README block did not finish: {other:?}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the README block failed ({}):\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(!left, "the emulator outlived the block");
    Ran {
        dir,
        stdout,
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_block_runs_as_written() {
    let script = block_after(README, "## Testing your connector offline");
    let Ran {
        dir,
        stdout,
        stderr,
    } = run_script("readme", &script).await;
    assert!(stderr.is_empty(), "{stderr}");
    // The emulator's lines, then `appjwt token --format json`, then curl's
    // answer, which ends without a newline: the emulator's log line for
    // it may follow on the same line, so only the object at its start
    // is read.
    let first_value = |l: &str| {
        serde_json::Deserializer::from_str(l)
            .into_iter::<serde_json::Value>()
            .next()
            .and_then(Result::ok)
    };
    let mut json = stdout.lines().filter(|l| l.starts_with('{'));
    let token: serde_json::Value = json
        .next()
        .and_then(first_value)
        .unwrap_or_else(|| panic!("no appjwt json: {stdout}"));
    assert_eq!(token["claims"]["aud"], "56072331", "{stdout}");
    assert_eq!(token["expires_at"], token["claims"]["exp"], "{stdout}");
    let curl: serde_json::Value = json
        .next()
        .and_then(first_value)
        .unwrap_or_else(|| panic!("no curl json: {stdout}"));
    assert_eq!(curl["token_type"], "Bearer", "{stdout}");
    assert!(
        curl["access_token"].as_str().is_some_and(contains_jwt),
        "{stdout}"
    );
    // The made-up secret went to emulator.env only.
    let env = std::fs::read_to_string(dir.join("emulator.env")).unwrap_or_default();
    let secret = env
        .split("LP_CLIENT_SECRET=")
        .nth(1)
        .map(str::trim)
        .unwrap_or_default();
    assert_eq!(secret.len(), 32, "{env}");
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{stdout}"
    );
    assert_no_secret(&stdout, &stderr);
}

/// The "Using it against LivePerson" block, as written, against an
/// emulator started the way the offline block starts one (its environment
/// file sets what the block expects to be set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_block_runs_as_written_against_the_emulator() {
    let block = block_after(README, "## Using it against LivePerson");
    let script = format!(
        "appjwt emulator --listen 127.0.0.1:0 --ca-out ca.pem --env-out emulator.env --print-secret &\n\
         emulator=$!\n\
         until [ -s emulator.env ]; do kill -0 \"$emulator\" || break; sleep 0.1; done\n\
         . ./emulator.env\n\
         {block}\
         kill \"$emulator\"\n"
    );
    let Ran {
        dir,
        stdout,
        stderr,
    } = run_script("readme-cli", &script).await;
    // Every command printed something, and the files were written.
    assert!(stdout.contains("\"claims\""), "{stdout}");
    // `appjwt token` and `appjwt consumer-jws` each print a token alone on
    // its line; `domains` names the sentinel service.
    let tokens = stdout
        .lines()
        .filter(|l| contains_jwt(l) && !l.contains(' '))
        .count();
    assert!(tokens >= 2, "{tokens} token lines:\n{stdout}");
    assert!(stdout.contains("sentinel"), "{stdout}");
    for file in ["appjwt.bash", "appjwt.1"] {
        let len = std::fs::metadata(dir.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 100, "{file}: {len} bytes");
    }
    assert_no_secret(&stdout, &stderr);
}

/// Whether any process of group `pgid` still runs (`kill -0 -PGID`).
async fn group_alive(pgid: u32) -> bool {
    if pgid == 0 {
        return false;
    }
    tokio::process::Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}
