//! `appjwt token`: output formats, where the secret comes from, and every
//! way it can fail with its exit code.

use lp_emulator::{Endpoint, Fault};

use crate::support::{
    ACCOUNT, CLIENT_ID, Cli, SECRET, closed_port, emulator, path_log, start, temp_path,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_format_prints_exactly_the_token_and_a_newline() {
    let emu = start(emulator()).await;
    let out = emu.token_cmd().run().await;
    out.expect(0, "");
    assert!(out.stderr.is_empty(), "{out:?}");
    let token = out.stdout.strip_suffix('\n').unwrap_or_default();
    assert_eq!(token.split('.').count(), 3, "{out:?}");
    assert!(!token.contains(char::is_whitespace), "{out:?}");
    let decoded = match lp_jwt::UnverifiedToken::decode(token) {
        Ok(t) => t,
        Err(e) => panic!("not a token ({e}): {out:?}"),
    };
    assert_eq!(decoded.claims().azp.as_deref(), Some(CLIENT_ID));
    // The Domain API lookup, then one token request.
    assert_eq!(emu.handle.request_count(Endpoint::Domain), 1);
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_format_has_the_documented_members_in_order() {
    let emu = start(emulator()).await;
    let out = emu.token_cmd().args(&["--format", "json"]).run().await;
    out.expect(0, "");
    let v = out.json();
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "access_token",
            "claims",
            "expires_at",
            "header",
            "token_type"
        ],
        "{out:?}"
    );
    // serde_json sorts its own maps, so check the printed order directly.
    let pos = |k: &str| out.stdout.find(&format!("\"{k}\":")).unwrap_or(usize::MAX);
    assert!(
        pos("access_token") < pos("token_type")
            && pos("token_type") < pos("expires_at")
            && pos("expires_at") < pos("header")
            && pos("header") < pos("claims"),
        "{out:?}"
    );
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["header"]["alg"], "RS256");
    assert_eq!(v["claims"]["aud"], ACCOUNT);
    assert_eq!(v["claims"]["azp"], CLIENT_ID);
    assert_eq!(v["claims"]["iss"], "Sentinel");
    // The token's own `exp`, not the client's expiry a fraction of a
    // second before it (which read as one second less).
    let exp = v["claims"]["exp"].as_u64().unwrap_or(0);
    assert_ne!(exp, 0, "{out:?}");
    assert_eq!(v["expires_at"].as_u64(), Some(exp), "{out:?}");
    let token = v["access_token"].as_str().unwrap_or_default();
    assert_eq!(token.split('.').count(), 3, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_v2_uses_the_v2_path() {
    let (paths, log) = path_log();
    let emu = start(emulator().on_request(log)).await;
    emu.token_cmd()
        .args(&["--api", "v2"])
        .run()
        .await
        .expect(0, "");
    let paths = paths.lock().map(|p| p.clone()).unwrap_or_default();
    let want = format!("POST /sentinel/api/v2/account/{ACCOUNT}/app/token");
    assert!(paths.contains(&want), "{paths:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_host_skips_the_domain_lookup() {
    let emu = start(emulator()).await;
    // An unreachable Domain API proves it is not asked.
    let csds = format!("127.0.0.1:{}", closed_port());
    let host = emu.host();
    let ca = emu.ca();
    let out = Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&[
            "--csds-host",
            &csds,
            "--sentinel-host",
            &host,
            "--ca-file",
            &ca,
        ])
        .args(&["--verify", "jwks"])
        .secret_env(SECRET)
        .run()
        .await;
    out.expect(0, "");
    assert_eq!(emu.handle.request_count(Endpoint::Domain), 0);
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_file_with_a_trailing_newline() {
    let emu = start(emulator()).await;
    let file = temp_path("secret");
    if let Err(e) = std::fs::write(&file, format!("{SECRET}\n")) {
        panic!("write: {e}");
    }
    let file = file.display().to_string();
    let host = emu.host();
    let ca = emu.ca();
    let out = Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&["--csds-host", &host, "--ca-file", &ca, "--verify", "jwks"])
        .args(&["--client-secret-file", &file])
        .run()
        .await;
    out.expect(0, "");
    assert_eq!(out.stdout.matches('.').count(), 2, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_verification_choices() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let cli = |verify: &[&str]| {
        Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
            .args(&["--csds-host", &host, "--ca-file", &ca, "--retries", "0"])
            .args(verify)
            .secret_env(SECRET)
    };
    // The emulator's key is not LivePerson's: the default for v1 refuses.
    let cases: &[(&[&str], i32, &str)] = &[
        (&[], 1, "signature refused"),
        (&["--verify", "auto"], 1, "signature refused"),
        (&["--verify", "liveperson-v1"], 1, "signature refused"),
        (&["--verify-with", "static"], 1, "signature refused"),
        (&["--verify-with", "jwks"], 0, ""),
        (&["--verify", "jwks"], 0, ""),
        (&["--verify", "none"], 0, ""),
        // v2 checks against the Sentinel host's JWKS by default.
        (&["--api", "v2"], 0, ""),
    ];
    for &(verify, code, needle) in cases {
        let out = cli(verify).run().await;
        out.expect(code, needle);
        assert_eq!(out.stdout.is_empty(), code != 0, "{verify:?}: {out:?}");
    }
    // A tampered signature is refused by the JWKS key.
    emu.handle
        .inject(Endpoint::Token, Fault::BadSignatureToken, 1);
    cli(&["--verify", "jwks"])
        .run()
        .await
        .expect(1, "signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_without_secrets_or_tokens() {
    let emu = start(emulator()).await;
    let out = emu.token_cmd().args(&["-v"]).run().await;
    out.expect(0, "");
    assert!(!out.stderr.is_empty(), "-v logs nothing: {out:?}");
    let token = out.stdout.trim_end();
    assert!(!out.stderr.contains(token), "{out:?}");
    // -vv too, with a failure in the mix.
    emu.handle.inject(
        Endpoint::Token,
        Fault::Status {
            status: 401,
            retry_after: None,
            body: Some(r#"{"error":"invalid_client"}"#.to_owned()),
        },
        1,
    );
    let out = emu.token_cmd().args(&["-vv"]).run().await;
    assert_eq!(out.code, 1, "{out:?}");
}

/// Failures that stop before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_without_a_request() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let missing = temp_path("missing").display().to_string();
    let base = || Cli::new(&["token", "--csds-host", &host, "--ca-file", &ca]);
    let ids = ["--account", ACCOUNT, "--client-id", CLIENT_ID];
    let cases: Vec<(Cli, &str)> = vec![
        (base().args(&ids), "LP_CLIENT_SECRET"),
        (base().args(&ids).secret_env(""), "client secret"),
        (
            base()
                .args(&["--account", "not an account!", "--client-id", CLIENT_ID])
                .secret_env(SECRET),
            "--account",
        ),
        (
            base()
                .args(&["--account", ACCOUNT, "--client-id", "bad id/"])
                .secret_env(SECRET),
            "--client-id",
        ),
        (
            base().args(&ids).args(&["--client-secret-file", &missing]),
            "--client-secret-file",
        ),
        (
            Cli::new(&["token", "--csds-host", &host, "--ca-file", &missing])
                .args(&ids)
                .secret_env(SECRET),
            "--ca-file",
        ),
        (
            base()
                .args(&ids)
                .args(&["--sentinel-host", "no spaces allowed"])
                .secret_env(SECRET),
            "--sentinel-host",
        ),
        (
            base().args(&ids).args(&["--api", "v3"]).secret_env(SECRET),
            "v3",
        ),
    ];
    for (cli, needle) in cases {
        let out = cli.run().await;
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains(needle), "lacks {needle:?}: {out:?}");
    }
    assert_eq!(emu.handle.request_count(Endpoint::Any), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_exits_1_with_one_line() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let wrong = "not-the-secret";
    let out = Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&["--csds-host", &host, "--ca-file", &ca])
        .secret_env(wrong)
        .run()
        .await;
    out.expect(1, "cannot get a token");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(!out.stderr.contains(wrong), "{out:?}");
    // Rejected credentials are never retried.
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_exit_1_after_the_retries() {
    let emu = start(emulator()).await;
    let unavailable = Fault::Status {
        status: 503,
        retry_after: None,
        body: None,
    };
    emu.handle.inject(Endpoint::Token, unavailable, 100);
    let out = emu.token_cmd().args(&["--retries", "1"]).run().await;
    out.expect(1, "503");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(emu.handle.request_count(Endpoint::Token), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_fails_validation_exits_1() {
    let emu = start(emulator()).await;
    for fault in [
        Fault::WrongAccountToken,
        Fault::ExpiredToken,
        Fault::WrongIssuerToken,
    ] {
        emu.handle.inject(Endpoint::Token, fault.clone(), 1);
        let out = emu.token_cmd().args(&["--retries", "0"]).run().await;
        assert_eq!(out.code, 1, "{fault:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{fault:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{fault:?}: {out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_answers_exit_1() {
    let emu = start(emulator()).await;
    for fault in [
        Fault::MalformedJson,
        Fault::NonJson200,
        Fault::HugeBody(4 << 20),
    ] {
        emu.handle.inject(Endpoint::Token, fault.clone(), 1);
        let out = emu.token_cmd().args(&["--retries", "0"]).run().await;
        assert_eq!(out.code, 1, "{fault:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{fault:?}: {out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_host_exits_3() {
    let csds = format!("127.0.0.1:{}", closed_port());
    let out = Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&["--csds-host", &csds, "--retries", "0"])
        .secret_env(SECRET)
        .run()
        .await;
    out.expect(3, "connection failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_exits_3() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let out = Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
        .args(&["--csds-host", &host])
        .secret_env(SECRET)
        .run()
        .await;
    out.expect(3, "tls");
    // A TLS failure is not retried, and no HTTP request got through.
    assert_eq!(emu.handle.request_count(Endpoint::Any), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_quietly() {
    let emu = start(emulator()).await;
    let mut child = emu.token_cmd().spawn();
    // The reader is gone before the token is written.
    drop(child.stdout.take());
    let status = match tokio::time::timeout(crate::support::HANG_GUARD, child.wait()).await {
        Ok(Ok(s)) => s,
        other => panic!("appjwt did not finish: {other:?}"),
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut stderr).await;
    }
    assert_eq!(status.code(), Some(0), "{status:?}: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
