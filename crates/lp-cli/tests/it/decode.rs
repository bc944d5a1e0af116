//! `appjwt decode`: input forms, output shapes, and the checks.

use crate::support::{ACCOUNT, CLIENT_ID, Cli, SEED_TOKEN, emulator, start};

/// How the token reaches the binary.
#[derive(Clone, Copy)]
enum Input<'a> {
    Arg(&'a str),
    Stdin(&'a str),
    Dash(&'a str),
}

/// Runs `decode` with `input` and `flags`, expects `code` and, on failure,
/// one stderr line containing `needle`.
async fn check(input: Input<'_>, flags: &[&str], code: i32, needle: &str) -> crate::support::Out {
    let cli = match input {
        Input::Arg(t) => Cli::new(&["decode", t]).watch_token(t),
        Input::Stdin(t) => Cli::new(&["decode"]).stdin(t).watch_token(t.trim_end()),
        Input::Dash(t) => Cli::new(&["decode", "-"])
            .stdin(t)
            .watch_token(t.trim_end()),
    };
    let out = cli.args(flags).run().await;
    out.expect(code, needle);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_output_shows_header_claims_key_date_and_expiry() {
    let emu = start(emulator()).await;
    let token = emu.token();
    let kid = emu.handle.current_kid();
    let out = check(Input::Arg(&token), &[], 0, "").await;
    for want in [
        "Header:\n{\n  \"alg\": \"RS256\"",
        "Claims:\n{\n  \"aud\": \"56072331\"",
        "\"azp\": \"75588e18-0213-4e33-8174-883acac7e3c4\"",
        "\"iss\": \"Sentinel\"",
        "signing key issued 20",
        &format!("(kid {kid})"),
        "expires in 59m",
    ] {
        assert!(out.stdout.contains(want), "lacks {want:?}: {out:?}");
    }
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_and_dash_read_the_same_token() {
    let emu = start(emulator()).await;
    let token = emu.token();
    let from_arg = check(Input::Arg(&token), &["--format", "json"], 0, "").await;
    let with_newline = format!("{token}\n");
    let crlf = format!("{token}\r\n");
    for input in [
        Input::Stdin(&with_newline),
        Input::Dash(&with_newline),
        Input::Stdin(&crlf),
        Input::Dash(&token),
    ] {
        let out = check(input, &["--format", "json"], 0, "").await;
        assert_eq!(out.stdout, from_arg.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_header_and_claims_only() {
    let out = Cli::new(&["decode", SEED_TOKEN, "--format", "json"])
        .run()
        .await;
    // Errors are JSON too, as the last line of stderr.
    out.expect_json_error(1, "refused", "expired");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(
        out.stdout.starts_with("{\"header\":{\"alg\":\"RS256\""),
        "{out:?}"
    );
    let v = out.json();
    let expected = serde_json::json!({
        "header": {"kid": "appjwt-13-05-17", "typ": "JWT", "alg": "RS256"},
        "claims": {
            "aud": "le81823118",
            "azp": "75588e18-0213-4e33-8174-883acac7e3c4",
            "scope": "msg.consumer",
            "iss": "Sentinel",
            "exp": 1524646270,
            "iat": 1524642670
        }
    });
    assert_eq!(v, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_token_decodes_but_has_expired() {
    let out = check(Input::Arg(SEED_TOKEN), &[], 1, "expired").await;
    assert!(out.stderr.trim_end().ends_with(" ago"), "{out:?}");
    for want in [
        "\"kid\": \"appjwt-13-05-17\"",
        "\"aud\": \"le81823118\"",
        "signing key issued 2017-05-13 (kid appjwt-13-05-17)",
        "expired 8y",
    ] {
        assert!(out.stdout.contains(want), "lacks {want:?}: {out:?}");
    }
    // With --account the same words, not two epoch numbers.
    let out = check(
        Input::Arg(SEED_TOKEN),
        &["--account", "81823118"],
        1,
        "expired 8y",
    )
    .await;
    assert!(out.stderr.trim_end().ends_with(" ago"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_exits_2_naming_the_problem() {
    let cases: &[(Input<'_>, &str)] = &[
        (Input::Arg("aaaa.bbbb"), "token has 2 segments, expected 3"),
        (Input::Arg("a.b.c.d"), "segments"),
        (Input::Arg("!!!!.e30.c2ln"), "malformed token"),
        (Input::Arg("e30.e30.c2ln"), "malformed token"),
        (Input::Arg(""), "no token given"),
        (Input::Stdin(""), "no token given"),
        (Input::Stdin("\n"), "no token given"),
        (Input::Dash("   \n"), "no token given"),
        (
            Input::Stdin("eyJhbGciOiJSUzI1NiJ9.not json.x"),
            "malformed token",
        ),
    ];
    for &(input, needle) in cases {
        let out = check(input, &[], 2, needle).await;
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_exit_1_on_a_mismatch() {
    let emu = start(emulator()).await;
    let token = emu.token();
    let other_client = "00000000-0000-0000-0000-000000000000";
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--account", ACCOUNT], 0, ""),
        (&["--account", ACCOUNT, "--client-id", CLIENT_ID], 0, ""),
        (&["--client-id", CLIENT_ID], 0, ""),
        (&["--account", "11111111"], 1, "11111111"),
        (
            &["--account", ACCOUNT, "--client-id", other_client],
            1,
            other_client,
        ),
        (&["--client-id", other_client], 1, other_client),
    ];
    for (flags, code, needle) in cases {
        let out = check(Input::Arg(&token), flags, *code, needle).await;
        // The claims are shown whatever the verdict.
        assert!(out.stdout.contains("\"aud\": \"56072331\""), "{out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_checks() {
    let emu = start(emulator()).await;
    let token = emu.token();
    let jwks = emu.jwks_file();
    let pem = emu.public_key_file();
    // A token signed by another key: flip the signature's first character.
    let (signed, sig) = token.rsplit_once('.').unwrap_or_default();
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{flipped}{}", &sig[1..]);
    let missing = crate::support::temp_path("missing").display().to_string();
    let url = format!("https://{}/sentinel/well-known/jwks", emu.host());
    let ca = emu.ca();
    let closed = format!(
        "https://127.0.0.1:{}/sentinel/well-known/jwks",
        crate::support::closed_port()
    );
    let cases: &[(&str, &[&str], i32, &str, &str)] = &[
        (&token, &[], 0, "", "signature not checked"),
        (
            &token,
            &["--jwks", &jwks],
            0,
            "",
            "signature verified with the --jwks key",
        ),
        (
            &token,
            &["--public-key", &pem],
            0,
            "",
            "signature verified with the --public-key",
        ),
        (
            &token,
            &["--liveperson-key"],
            1,
            "signature refused",
            "signature INVALID",
        ),
        (
            &tampered,
            &["--jwks", &jwks],
            1,
            "signature refused",
            "signature INVALID",
        ),
        (
            &tampered,
            &["--public-key", &pem],
            1,
            "signature refused",
            "signature INVALID",
        ),
        (
            &token,
            &["--jwks", &url, "--ca-file", &ca],
            0,
            "",
            "signature verified with the --jwks key",
        ),
        (
            &tampered,
            &["--jwks", &url, "--ca-file", &ca],
            1,
            "signature refused",
            "signature INVALID",
        ),
        // The emulator's CA is not trusted without --ca-file.
        (&token, &["--jwks", &url], 3, "cannot fetch --jwks", ""),
        (
            &token,
            &["--jwks", &closed, "--ca-file", &ca],
            3,
            "cannot fetch --jwks",
            "",
        ),
        (
            &token,
            &["--jwks", "https://exa mple/", "--ca-file", &ca],
            2,
            "not a url",
            "",
        ),
        (&token, &["--jwks", &pem], 2, "--jwks", ""),
        (&token, &["--public-key", &jwks], 2, "--public-key", ""),
        (
            &token,
            &["--public-key", &missing],
            2,
            "cannot read --public-key",
            "",
        ),
        (
            &token,
            &["--jwks", &jwks, "--public-key", &pem],
            2,
            "cannot be used with",
            "",
        ),
    ];
    for &(token, flags, code, needle, stdout_has) in cases {
        let out = check(Input::Arg(token), flags, code, needle).await;
        assert!(
            out.stdout.contains(stdout_has),
            "{flags:?} lacks {stdout_has:?}: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasted_tokens_with_spaces_or_bearer_decode() {
    let emu = start(emulator()).await;
    let token = emu.token();
    let plain = check(Input::Arg(&token), &["--format", "json"], 0, "").await;
    let padded = format!("  {token} \t");
    let bearer = format!("Bearer {token}");
    let header_value = format!(" bearer   {token}\r\n");
    for input in [
        Input::Arg(&padded),
        Input::Arg(&bearer),
        Input::Stdin(&header_value),
        Input::Dash(&bearer),
    ] {
        let out = check(input, &["--format", "json"], 0, "").await;
        assert_eq!(out.stdout, plain.stdout);
    }
    check(Input::Arg("Bearer "), &[], 2, "no token given").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_documents_the_exit_codes() {
    let out = Cli::new(&["decode", "--help"]).run().await;
    out.expect(0, "");
    for want in [
        "Exit codes:",
        "0  the token decodes, has not expired",
        "1  the token has expired (also without --account)",
        "2  no token, a token that does not decode",
        "3  a --jwks URL cannot be fetched",
        "`Bearer ` prefix",
    ] {
        assert!(out.stdout.contains(want), "lacks {want:?}: {out:?}");
    }
    // The codes it documents are the ones it returns.
    check(Input::Arg(SEED_TOKEN), &[], 1, "expired").await;
    check(Input::Arg("x.y"), &[], 2, "segments").await;
    let closed = format!("https://127.0.0.1:{}/jwks", crate::support::closed_port());
    check(
        Input::Arg(SEED_TOKEN),
        &["--jwks", &closed],
        3,
        "cannot fetch --jwks",
    )
    .await;
}
