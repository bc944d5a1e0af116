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

    // One line per request: the lookup, the token, the key set to check it.
    let lookup = next_line(&mut lines).await;
    assert!(
        lookup.starts_with(&format!("GET /api/account/{ACCOUNT}/service/"))
            && lookup.contains(" 200 "),
        "{lookup:?}"
    );
    let token = next_line(&mut lines).await;
    assert!(
        token.starts_with(&format!(
            "POST /sentinel/api/account/{ACCOUNT}/app/token 200 "
        )),
        "{token:?}"
    );
    let jwks = next_line(&mut lines).await;
    assert!(
        jwks.starts_with("GET /sentinel/well-known/jwks 200 "),
        "{jwks:?}"
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
    let refused = next_line(&mut lines).await;
    assert!(refused.contains(" 401 "), "{refused:?}");

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
    let stdout = format!("{first}\n{lookup}\n{token}\n{jwks}\n{refused}\n{rest}");
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
        .expect(2, "LP_CLIENT_SECRET");
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
        .expect(3, "cannot start the emulator");
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
