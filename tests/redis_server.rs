//! A real Redis for the store tests: Debian's `redis-server`, started on a
//! free loopback port with persistence off, with or without a password or
//! TLS, and stopped when dropped. Tests can also pause it (`SIGSTOP`: a
//! server that accepts connections and never answers), resume it, kill it
//! and start it again on the same port.
//!
//! Standard library only, like the tinyproxy harness.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tinyproxy::free_port;

/// How long redis-server gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run the server.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// `--requirepass`: the default user's password.
    pub password: Option<String>,
    /// Serve TLS only (`--tls-port`, no plain port) with this certificate
    /// chain and key, both PEM.
    pub tls: Option<RedisTls>,
}

/// A server certificate for [`RedisOptions::tls`].
#[derive(Debug, Clone)]
pub struct RedisTls {
    /// The certificate chain, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

/// A running redis-server. Dropping it kills the process and removes its
/// files.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    options: RedisOptions,
}

impl RedisServer {
    /// Starts redis-server without a password. `None` only when it is not
    /// installed outside CI (the skip is printed); with `CI=true` a missing
    /// redis-server fails the test.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(RedisOptions::default())
    }

    /// Starts redis-server requiring `password` (`--requirepass`).
    pub fn start_with_password(password: &str) -> Option<RedisServer> {
        RedisServer::start_with(RedisOptions {
            password: Some(password.to_owned()),
            tls: None,
        })
    }

    /// Starts redis-server with `options`.
    pub fn start_with(options: RedisOptions) -> Option<RedisServer> {
        let binary = crate::programs::require("redis-server")?;
        Some(crate::programs::launch_retrying("redis-server", || {
            RedisServer::try_launch(binary.clone(), options.clone(), free_port())
        }))
    }

    fn try_launch(
        binary: PathBuf,
        options: RedisOptions,
        port: u16,
    ) -> Result<RedisServer, String> {
        let dir = crate::programs::scratch_dir("redis")?;
        let mut server = RedisServer {
            child: None,
            binary,
            port,
            dir,
            options,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Runs redis-server on `self.port` and waits until it accepts
    /// connections.
    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut command = Command::new(&self.binary);
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--protected-mode", "yes"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"));
        match &self.options.tls {
            None => {
                command.args(["--port", &port]);
            }
            Some(tls) => {
                let cert = self.dir.join("server.crt");
                let key = self.dir.join("server.key");
                std::fs::write(&cert, &tls.cert_pem).map_err(|e| format!("write cert: {e}"))?;
                std::fs::write(&key, &tls.key_pem).map_err(|e| format!("write key: {e}"))?;
                command
                    .args(["--port", "0", "--tls-port", &port])
                    .arg("--tls-cert-file")
                    .arg(&cert)
                    .arg("--tls-key-file")
                    .arg(&key)
                    .args(["--tls-auth-clients", "no"]);
            }
        }
        if let Some(password) = &self.options.password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let child = self.child.insert(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!("it exited with {status}: {}", self.log()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on (TLS only, with [`RedisOptions::tls`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` with TLS), with the password
    /// if one is required.
    pub fn url(&self) -> String {
        match &self.options.password {
            Some(password) => self.url_with_password(password),
            None => format!("{}://127.0.0.1:{}", self.scheme(), self.port),
        }
    }

    /// The URL with `password` for the default user, e.g. a wrong one.
    pub fn url_with_password(&self, password: &str) -> String {
        format!("{}://:{password}@127.0.0.1:{}", self.scheme(), self.port)
    }

    fn scheme(&self) -> &'static str {
        if self.options.tls.is_some() {
            "rediss"
        } else {
            "redis"
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// `SIGSTOP`: the kernel still accepts connections, the server answers
    /// nothing until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// `SIGCONT` after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let Some(child) = &self.child else {
            panic!("redis-server is not running");
        };
        // The shell's own `kill`: procps's may not be installed.
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{name} {}", child.id()))
            .status()
            .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
        assert!(status.success(), "kill -{name} failed: {status}");
    }

    /// Kills the server (`SIGKILL`) and waits for it to go: connections
    /// drop and the port refuses.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and options, with its data
    /// gone (persistence is off), as after a restart.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(why) = self.spawn() {
            panic!(
                "redis-server did not start again on port {}: {why}",
                self.port
            );
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
