//! `appjwt emulator`: a server a connector under test can use; driven here
//! by `appjwt token` like a person would.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::ChildStdout;

use crate::support::{ACCOUNT, CLIENT_ID, Cli, HANG_GUARD, SECRET, assert_no_secret, temp_path};

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    match tokio::time::timeout(HANG_GUARD, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        other => panic!("no line from the emulator: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tokens_logs_requests_and_stops_on_sigterm() {
    let ca = temp_path("emulator-ca.pem");
    let ca_arg = ca.display().to_string();
    let mut child = Cli::new(&["emulator", "--listen", "127.0.0.1:0", "--ca-out", &ca_arg])
        .args(&["--lifetime", "600"])
        .secret_env(SECRET)
        .spawn();
    let stdout = child.stdout.take();
    let mut lines = match stdout {
        Some(s) => BufReader::new(s).lines(),
        None => panic!("no stdout"),
    };

    let first = next_line(&mut lines).await;
    let addr = first
        .strip_prefix("listening on https://")
        .unwrap_or_default();
    let port: u16 = addr
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a listening line: {first:?}"));
    assert_ne!(port, 0, "printed the requested port, not the bound one");
    // Then the line to paste; the secret was given, so it is not repeated.
    let exports = next_line(&mut lines).await;
    let ca_abs = std::path::absolute(&ca)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    assert_eq!(
        exports,
        format!(
            "export LP_CSDS_HOST={addr} LP_CA_FILE={ca_abs} LP_VERIFY_WITH=jwks \
             LP_ACCOUNT={ACCOUNT} LP_CLIENT_ID={CLIENT_ID}"
        )
    );

    let out = Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&[
            "--csds-host",
            addr,
            "--ca-file",
            &ca_arg,
            "--format",
            "json",
        ])
        .args(&["--verify", "jwks"])
        .secret_env(SECRET)
        .run()
        .await;
    out.expect(0, "");
    let v = out.json();
    assert_eq!(v["claims"]["aud"], ACCOUNT);
    let lifetime =
        v["claims"]["exp"].as_i64().unwrap_or(0) - v["claims"]["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 600, "{out:?}");

    // One line per request: the lookup, then the key set the token will
    // be checked with and the token, asked for at once (either may be
    // logged first).
    let lookup = next_line(&mut lines).await;
    assert!(
        lookup.starts_with(&format!("GET /api/account/{ACCOUNT}/service/"))
            && lookup.contains(" 200 "),
        "{lookup:?}"
    );
    let sentinel = [next_line(&mut lines).await, next_line(&mut lines).await];
    assert!(
        sentinel
            .iter()
            .any(|l| l.starts_with("GET /sentinel/well-known/jwks 200 ")),
        "{sentinel:?}"
    );
    let token_line = format!("POST /sentinel/api/account/{ACCOUNT}/app/token 200 ");
    assert!(
        sentinel.iter().any(|l| l.starts_with(&token_line)),
        "{sentinel:?}"
    );

    // A wrong secret is logged as a 401, without the secret.
    let wrong = "wrong-secret-value";
    Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&[
            "--csds-host",
            addr,
            "--ca-file",
            &ca_arg,
            "--verify",
            "jwks",
        ])
        .secret_env(wrong)
        .run()
        .await
        .expect(1, "cannot get a token");
    let _lookup = next_line(&mut lines).await;
    // The key set and the token are asked for at once: either may be
    // logged first.
    let refused = [next_line(&mut lines).await, next_line(&mut lines).await];
    assert!(
        refused
            .iter()
            .any(|l| l.contains("/app/token") && l.contains(" 401 ")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|l| l.contains("/sentinel/well-known/jwks 200")),
        "{refused:?}"
    );

    let pid = child.id().unwrap_or_else(|| panic!("no pid"));
    let kill = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await;
    assert!(matches!(kill, Ok(s) if s.success()), "{kill:?}");
    let status = match tokio::time::timeout(HANG_GUARD, child.wait()).await {
        Ok(Ok(s)) => s,
        other => panic!("emulator did not stop: {other:?}"),
    };
    assert_eq!(status.code(), Some(0), "{status:?}");

    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr).await;
    }
    let stdout = format!(
        "{first}\n{exports}\n{lookup}\n{}\n{}\n{rest}",
        sentinel.join("\n"),
        refused.join("\n")
    );
    assert_no_secret(&stdout, &stderr);
    assert!(!stderr.contains(wrong), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_their_exit_codes() {
    let ca = temp_path("unused-ca.pem").display().to_string();
    // No secret for the registered client.
    Cli::new(&["emulator", "--listen", "127.0.0.1:0", "--ca-out", &ca])
        .run()
        .await
        .expect(2, "set LP_CLIENT_SECRET, or pass --print-secret");
    // Not an address: clap's own usage error.
    let out = Cli::new(&["emulator", "--listen", "localhost", "--ca-out", &ca])
        .secret_env(SECRET)
        .run()
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--listen"), "{out:?}");
    // A bad client id for the registered client.
    Cli::new(&["emulator", "--listen", "127.0.0.1:0", "--ca-out", &ca])
        .args(&["--client-id", "bad id/"])
        .secret_env(SECRET)
        .run()
        .await
        .expect(2, "--client-id");
    // A port that is taken.
    let taken = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = taken
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    Cli::new(&["emulator", "--listen", &addr, "--ca-out", &ca])
        .secret_env(SECRET)
        .run()
        .await
        .expect(3, "Address already in use (os error")
        .expect(3, "pick another --listen port");
    // A --ca-out that cannot be written.
    let dir = temp_path("no-such-dir")
        .join("ca.pem")
        .display()
        .to_string();
    Cli::new(&["emulator", "--listen", "127.0.0.1:0", "--ca-out", &dir])
        .secret_env(SECRET)
        .run()
        .await
        .expect(2, "--ca-out");
    drop(taken);
}

/// The export line's variables, as `sh` would set them (the values the
/// emulator prints need no unquoting).
fn exported(line: &str) -> Vec<(String, String)> {
    line.strip_prefix("export ")
        .unwrap_or_else(|| panic!("not an export line: {line:?}"))
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_secret_makes_one_up_and_the_export_line_is_enough() {
    let ca = temp_path("emulator-ca.pem").display().to_string();
    let mut child = Cli::new(&["emulator", "--listen", "127.0.0.1:0", "--ca-out", &ca])
        .args(&["--print-secret", "--account", "12345678"])
        .env("LP_CLIENT_ID", "my-client")
        .spawn();
    let mut lines = match child.stdout.take() {
        Some(s) => BufReader::new(s).lines(),
        None => panic!("no stdout"),
    };
    let _listening = next_line(&mut lines).await;
    let vars = exported(&next_line(&mut lines).await);
    let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "LP_CSDS_HOST",
            "LP_CA_FILE",
            "LP_VERIFY_WITH",
            "LP_ACCOUNT",
            "LP_CLIENT_ID",
            "LP_CLIENT_SECRET"
        ]
    );
    let secret = &vars[5].1;
    assert_eq!(secret.len(), 32, "{secret}");
    assert!(vars.contains(&("LP_ACCOUNT".to_owned(), "12345678".to_owned())));
    assert!(vars.contains(&("LP_CLIENT_ID".to_owned(), "my-client".to_owned())));
    // A bare `appjwt token` with exactly these variables gets a token.
    let mut cli = Cli::new(&["token", "--format", "json"]);
    for (k, v) in &vars {
        cli = cli.env(k, v);
    }
    let out = cli.run().await;
    out.expect(0, "");
    assert_eq!(out.json()["claims"]["aud"], "12345678");
    assert!(!out.stderr.contains(secret.as_str()), "{out:?}");
    let _ = child.start_kill();
    let _ = child.wait().await;
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert!(!stderr.contains(secret.as_str()), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_out_writes_the_line_to_a_private_file() {
    let ca = temp_path("emulator-ca.pem").display().to_string();
    let env_file = temp_path("emulator.env");
    let env_arg = env_file.display().to_string();
    let mut child = Cli::new(&["emulator", "--listen", "127.0.0.1:0", "--ca-out", &ca])
        .args(&["--env-out", &env_arg])
        .secret_env(SECRET)
        .spawn();
    let mut lines = match child.stdout.take() {
        Some(s) => BufReader::new(s).lines(),
        None => panic!("no stdout"),
    };
    let _listening = next_line(&mut lines).await;
    let said = next_line(&mut lines).await;
    assert_eq!(
        said,
        format!("environment for appjwt written to {env_arg}: . {env_arg}")
    );
    let text = std::fs::read_to_string(&env_file).unwrap_or_default();
    assert_eq!(text.lines().count(), 1, "{text}");
    let vars = exported(text.trim_end());
    // The secret was given, so it is not written anywhere.
    assert!(
        !text.contains(SECRET) && !text.contains("LP_CLIENT_SECRET"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_file)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    let mut cli = Cli::new(&["token"]).secret_env(SECRET);
    for (k, v) in &vars {
        cli = cli.env(k, v);
    }
    cli.run().await.expect(0, "");
    let _ = child.start_kill();
    let _ = child.wait().await;
}
