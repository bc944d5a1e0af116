//! `appjwt webhook verify`: the Python-made vectors of `lp-webhook`, the
//! exit codes, and the account / client id checks.

use serde_json::Value;

use crate::support::{ACCOUNT, CLIENT_ID, Cli, SECRET, temp_path};

/// The vectors `crates/lp-webhook/tests/data/make_vectors.py` wrote with
/// Python's `hmac`; the ones keyed with this suite's secret.
fn vectors() -> Vec<(Vec<u8>, Vec<String>)> {
    let text = include_str!("../../../lp-webhook/tests/data/vectors.json");
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("vectors.json: {e}"));
    let vectors: Vec<_> = doc["vectors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["secret"] == SECRET)
        .map(|v| {
            let hex = v["body_hex"].as_str().unwrap_or_default();
            let body = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|e| panic!("{e}")))
                .collect();
            let headers = v["signatures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["header"].as_str().map(str::to_owned))
                .collect();
            (body, headers)
        })
        .collect();
    assert_eq!(vectors.len(), 6, "one per body of the script");
    vectors
}

/// `appjwt webhook verify --signature SIG ARGS`, secret in the environment.
fn verify(signature: &str, args: &[&str]) -> Cli {
    Cli::new(&["webhook", "verify", "--signature", signature])
        .args(args)
        .secret_env(SECRET)
}

/// A header and body that verify under [`SECRET`] (the script's third body).
fn good() -> (Vec<u8>, String) {
    let (body, headers) = vectors().swap_remove(2);
    (body, headers[0].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_signatures_verify_and_a_changed_body_does_not() {
    for (body, headers) in vectors() {
        for header in headers {
            let out = verify(&header, &[]).stdin_bytes(&body).run().await;
            out.expect(0, "");
            let algorithm = header.split('=').next().unwrap_or_default();
            let want = format!("valid: hmac-{algorithm} signature, ");
            assert!(out.stdout.starts_with(&want), "{header}: {out:?}");
            assert!(
                out.stdout
                    .ends_with(&format!("over {} bytes\n", body.len())),
                "{out:?}"
            );
            let mut changed = body.clone();
            changed.push(b'\n');
            verify(&header, &[])
                .stdin_bytes(&changed)
                .run()
                .await
                .expect(1, "webhook signature does not match the body");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_secret_is_a_mismatch_with_advice() {
    let (body, header) = good();
    let file = temp_path("other-secret");
    std::fs::write(&file, "another-secret\n").unwrap_or_else(|e| panic!("{e}"));
    let path = file.display().to_string();
    // The secret from the file only: LP_CLIENT_SECRET is not set.
    let run = || {
        Cli::new(&["webhook", "verify", "--signature", &header])
            .args(&["--client-secret-file", &path])
            .stdin_bytes(&body)
            .run()
    };
    let out = run().await;
    out.expect(1, "(hmac-sha1, base64 digest)");
    out.expect(
        1,
        &format!("({} bytes on stdin); check that the secret", body.len()),
    );
    // The same file with the right secret passes: the file is read.
    std::fs::write(&file, format!("{SECRET}\n")).unwrap_or_else(|e| panic!("{e}"));
    run().await.expect(0, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_unsupported_signatures_exit_2() {
    let (body, header) = good();
    let digest = header.trim_start_matches("sha1=");
    let cases = [
        (
            format!("md5={digest}"),
            "unknown signature algorithm \"md5\"",
        ),
        (format!("sha512={digest}"), "expected sha1 or sha256"),
        (digest.to_owned(), "no algorithm prefix"),
        (
            "sha1=abc".to_owned(),
            "a sha1 digest is 28 characters of base64 or 40 of hex, got 3",
        ),
        (format!("sha256={digest}"), "got 28"),
        (
            format!("sha1=*{}", &digest[1..]),
            "not valid base64 at byte 5",
        ),
        (
            "sha1=\u{1b}[31m".to_owned(),
            "holds a character no header can",
        ),
        ("sha1=\u{e9}t\u{e9}".to_owned(), "not visible ascii"),
    ];
    for (signature, needle) in cases {
        let out = verify(&signature, &[]).stdin_bytes(&body).run().await;
        out.expect(2, needle);
        assert!(out.stderr.contains("x-liveperson-signature"), "{out:?}");
    }
    // Pasted with surrounding whitespace, it is still the signature.
    verify(&format!("  {header}\n"), &[])
        .stdin_bytes(&body)
        .run()
        .await
        .expect(0, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_example_parses_but_cannot_match() {
    let out = verify("sha1=12DcfY3NhieG0uMlGlNX/SHWBeQ=", &[])
        .stdin("{}")
        .run()
        .await;
    out.expect(1, "does not match the body (hmac-sha1, base64 digest)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_and_client_id_are_checked_against_the_headers() {
    let (body, header) = good();
    let acc = format!("x-liveperson-account-id: {ACCOUNT}");
    let cid = format!("X-LivePerson-Client-Id: {CLIENT_ID}");
    let ids = ["--account", ACCOUNT, "--client-id", CLIENT_ID];
    let run = |extra: Vec<&str>| {
        let args: Vec<&str> = ids.iter().copied().chain(extra).collect();
        verify(&header, &args).stdin_bytes(&body).run()
    };
    let out = run(vec!["-H", &acc, "--header", &cid]).await;
    out.expect(0, "");
    assert!(
        out.stdout
            .ends_with(&format!(", account {ACCOUNT}, client id {CLIENT_ID}\n")),
        "{out:?}"
    );
    run(vec!["-H", "x-liveperson-account-id: 1234", "-H", &cid])
        .await
        .expect(1, "webhook is for account \"1234\", expected 56072331");
    run(vec![
        "-H",
        &acc,
        "-H",
        "x-liveperson-client-id: someone\u{7}else",
    ])
    .await
    .expect(2, "holds a character no header can");
    run(vec![
        "-H",
        &acc,
        "-H",
        "x-liveperson-client-id: someone-else",
    ])
    .await
    .expect(
        1,
        "webhook is for client id \"someone-else\", expected 75588e18",
    );
    run(vec!["-H", &cid])
        .await
        .expect(2, "webhook has no x-liveperson-account-id header: pass it as received with --header 'x-liveperson-account-id: VALUE'");
    run(vec!["-H", &acc, "-H", &acc, "-H", &cid])
        .await
        .expect(2, "more than one x-liveperson-account-id header");
    // A second signature, from --header: refused, not one of them picked.
    run(vec![
        "-H",
        &acc,
        "-H",
        &cid,
        "-H",
        &format!("x-liveperson-signature: {header}"),
    ])
    .await
    .expect(2, "more than one x-liveperson-signature header");
    // Without --account the account header is not looked at.
    verify(&header, &["-H", "x-liveperson-account-id: 1"])
        .stdin_bytes(&body)
        .run()
        .await
        .expect(0, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_before_stdin_is_read() {
    let (_, header) = good();
    let cases: &[(&[&str], &str)] = &[
        (&["--account", "le123"], "leave out the `le`"),
        (&["--client-id", ""], "--client-id"),
        (
            &["-H", "no colon here"],
            "--header: no colon, expected NAME: VALUE",
        ),
        (&["-H", "bad name: x"], "not a header name"),
    ];
    for &(args, needle) in cases {
        verify(&header, args)
            .stdin("{}")
            .run()
            .await
            .expect(2, needle);
    }
    Cli::new(&["webhook", "verify", "--signature", &header])
        .stdin("{}")
        .run()
        .await
        .expect(
            2,
            "no client secret: set LP_CLIENT_SECRET or pass --client-secret-file",
        );
    Cli::new(&["webhook", "verify"])
        .run()
        .await
        .expect(2, "--signature");
    let help = Cli::new(&["webhook", "verify", "--help"]).run().await;
    help.expect(0, "");
    assert!(
        help.stdout
            .contains("Exit codes:\n  0  the signature is the HMAC"),
        "{help:?}"
    );
}
