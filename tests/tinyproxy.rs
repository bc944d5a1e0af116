//! A real HTTP proxy for the proxy tests: Debian's `tinyproxy`, started on
//! a free loopback port with a generated configuration, with or without
//! basic auth, and stopped when dropped. Its log tells the tests which
//! `CONNECT`s it served.
//!
//! Standard library only, so that every crate's tests can use it without
//! building anything more.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long tinyproxy gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Every environment variable the client reads for its proxy setting; test
/// processes remove them from children so a developer's own proxy cannot
/// change a result.
pub const PROXY_ENV: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// A running tinyproxy. Dropping it stops the process and removes its
/// files.
#[derive(Debug)]
pub struct Tinyproxy {
    child: Child,
    port: u16,
    dir: PathBuf,
    credentials: Option<(String, String)>,
}

/// A loopback port nothing listens on: bound, then released.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .port()
}

impl Tinyproxy {
    /// Starts tinyproxy without authentication. `None` only when tinyproxy
    /// is not installed outside CI (the skip is printed); with `CI=true` a
    /// missing tinyproxy fails the test.
    pub fn start() -> Option<Tinyproxy> {
        Tinyproxy::launch(None)
    }

    /// Starts tinyproxy requiring `user` and `password` (basic auth).
    pub fn start_with_auth(user: &str, password: &str) -> Option<Tinyproxy> {
        Tinyproxy::launch(Some((user.to_owned(), password.to_owned())))
    }

    fn launch(credentials: Option<(String, String)>) -> Option<Tinyproxy> {
        let binary = crate::programs::require("tinyproxy")?;
        Some(crate::programs::launch_retrying("tinyproxy", || {
            Tinyproxy::try_launch(&binary, credentials.clone())
        }))
    }

    fn try_launch(
        binary: &Path,
        credentials: Option<(String, String)>,
    ) -> Result<Tinyproxy, String> {
        let dir = crate::programs::scratch_dir("tinyproxy")?;
        let port = free_port();
        let log = dir.join("tinyproxy.log");
        let mut config = format!(
            "Port {port}\n\
             Listen 127.0.0.1\n\
             Timeout 30\n\
             LogFile \"{}\"\n\
             LogLevel Info\n\
             MaxClients 32\n\
             Allow 127.0.0.1\n\
             DisableViaHeader Yes\n",
            log.display()
        );
        if let Some((user, password)) = &credentials {
            config.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(&conf, config).map_err(|e| format!("write {}: {e}", conf.display()))?;
        let child = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut proxy = Tinyproxy {
            child,
            port,
            dir,
            credentials,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                return Err(format!("it exited with {status}: {}", proxy.log()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(proxy);
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, with the configured credentials if any.
    pub fn url(&self) -> String {
        match &self.credentials {
            Some((user, password)) => self.url_as(user, password),
            None => format!("http://{}", self.address()),
        }
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT`, e.g. with a wrong password.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.address())
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }

    /// The targets (`host:port`) of the `CONNECT` requests received so far,
    /// in order. The connection that logs them may still be open, so this
    /// waits a little for a line to appear when there is none yet.
    pub fn connects(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let found = connect_targets(&self.log());
            if !found.is_empty() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The targets of `CONNECT`s received so far, without waiting: for
    /// checking that none was made.
    pub fn connects_now(&self) -> Vec<String> {
        connect_targets(&self.log())
    }
}

/// `Request (file descriptor 5): CONNECT 127.0.0.1:8443 HTTP/1.1` lines.
fn connect_targets(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| line.split_once("): CONNECT "))
        .filter_map(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_connect_lines() {
        let log = "\
CONNECT   Dec 01 22:22:51.969 [8876]: Connect (file descriptor 5): 127.0.0.1
CONNECT   Dec 01 22:22:51.970 [8876]: Request (file descriptor 5): CONNECT 127.0.0.1:8443 HTTP/1.1
INFO      Dec 01 22:22:52.001 [8876]: No upstream proxy for 127.0.0.1
CONNECT   Dec 01 22:22:52.970 [8876]: Request (file descriptor 6): CONNECT [::1]:1 HTTP/1.1
CONNECT   Dec 01 22:22:53.970 [8876]: Request (file descriptor 7): GET http://x/ HTTP/1.1
";
        assert_eq!(connect_targets(log), ["127.0.0.1:8443", "[::1]:1"]);
        assert!(connect_targets("").is_empty());
    }
}
