//! `appjwt emulator`: the emulator as a server, for testing connectors
//! offline.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lp_emulator::Emulator;

use super::{SECRET_ENV, parse_account, parse_client_id, random_secret, secret_from_env};
use crate::args::EmulatorArgs;
use crate::exit::{Failure, chain};
use crate::outln;

pub async fn run(a: EmulatorArgs) -> Result<(), Failure> {
    // Checked here so a typo is bad usage (exit 2), not a failed start.
    parse_account("--account", &a.account)?;
    parse_client_id("--client-id", &a.client_id)?;
    let (secret, generated) = match secret_from_env()? {
        Some(s) if !s.is_empty() => (s, false),
        Some(_) => return Err(Failure::usage(format!("{SECRET_ENV} is empty"))),
        None if a.print_secret => (random_secret(), true),
        None => {
            return Err(Failure::usage(format!(
                "no client secret for the emulator's client: set {SECRET_ENV}, \
                 or pass --print-secret to make one up and print it"
            )));
        }
    };
    let emulator = Emulator::builder()
        .client(&a.account, &a.client_id, &secret)
        .lifetime(Duration::from_secs(a.lifetime))
        .listen(a.listen)
        .on_request(|log| {
            // One line per request; the log never holds secrets or tokens.
            // A closed stdout must not stop the server, so the error is
            // dropped here.
            let _ = outln!("{log}");
        })
        .start()
        .await
        .map_err(|e| {
            Failure::network(format!(
                "cannot start the emulator on {}: {}{}",
                a.listen,
                chain(&e),
                if a.listen.port() == 0 {
                    ""
                } else {
                    "; pick another --listen port, or 0 for any free one"
                }
            ))
        })?;
    emulator.write_ca_pem(&a.ca_out).map_err(|e| {
        Failure::usage(format!("cannot write --ca-out {}: {e}", a.ca_out.display()))
    })?;
    // The bound address, so `--listen 127.0.0.1:0` tells the real port.
    outln!("listening on https://{}", emulator.addr())?;
    let ca = absolute(&a.ca_out);
    let mut exports = vec![
        ("LP_CSDS_HOST", emulator.host().to_string()),
        ("LP_CA_FILE", ca.display().to_string()),
        ("LP_VERIFY_WITH", "jwks".to_owned()),
        ("LP_ACCOUNT", a.account.clone()),
        ("LP_CLIENT_ID", a.client_id.clone()),
    ];
    if generated {
        exports.push((SECRET_ENV, secret));
    }
    let line = export_line(&exports);
    match &a.env_out {
        Some(path) => {
            write_env_file(path, &line).map_err(|e| {
                Failure::usage(format!("cannot write --env-out {}: {e}", path.display()))
            })?;
            outln!(
                "environment for appjwt written to {}: . {0}",
                path.display()
            )?;
        }
        None => outln!("{line}")?,
    }
    wait_for_shutdown().await;
    emulator.shutdown().await;
    Ok(())
}

/// `export A=1 B='x y'`, each value quoted for a POSIX shell.
fn export_line(vars: &[(&str, String)]) -> String {
    let mut line = String::from("export");
    for (name, value) in vars {
        line.push(' ');
        line.push_str(name);
        line.push('=');
        line.push_str(&shell_quote(value));
    }
    line
}

/// The value as is when it is made of safe characters, else in single
/// quotes (a `'` inside becomes `'\''`).
fn shell_quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.,:/@%+=[]".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// `path` made absolute, so the exported `LP_CA_FILE` works from any
/// directory.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Writes the file under a temporary name, then renames it: a script
/// waiting for it to appear never reads half of it. Only the owner may
/// read it, since it may hold a made-up secret.
fn write_env_file(path: &Path, line: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    writeln!(file, "{line}")?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Ctrl-C, or SIGTERM on Unix (what `kill` and CI runners send).
async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let check = |value: &str, want: &str| assert_eq!(shell_quote(value), want, "{value}");
        check("127.0.0.1:8443", "127.0.0.1:8443");
        check("/tmp/ca.pem", "/tmp/ca.pem");
        check("[::1]:8443", "[::1]:8443");
        check("a b", "'a b'");
        check("it's", r"'it'\''s'");
        check("$HOME", "'$HOME'");
        check("", "''");
    }

    #[test]
    fn export_lines() {
        let line = export_line(&[("A", "1".to_owned()), ("B", "x y".to_owned())]);
        assert_eq!(line, "export A=1 B='x y'");
    }
}
