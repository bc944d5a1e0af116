//! `appjwt consumer-jws`, and `--verify-with` for it and `token`.

use lp_emulator::{Endpoint, Fault};

use crate::support::{
    ACCOUNT, CLIENT_ID, Cli, Emu, SECRET, closed_port, contains_jwt, emulator, start, temp_path,
};

const EXT: &str = "John_Doe_facebook12345";

/// `appjwt consumer-jws` for the test client and `EXT` against `emu`,
/// checked with the emulator's JWKS, no retries.
pub fn consumer_cmd(emu: &Emu) -> Cli {
    consumer_cmd_with(emu, EXT, "jwks")
}

/// The same for another consumer id and `--verify-with` value.
fn consumer_cmd_with(emu: &Emu, ext: &str, verify: &str) -> Cli {
    let host = emu.host();
    let ca = emu.ca();
    Cli::new(&[
        "consumer-jws",
        "--account",
        ACCOUNT,
        "--client-id",
        CLIENT_ID,
    ])
    .args(&[
        "--ext-consumer-id",
        ext,
        "--csds-host",
        &host,
        "--ca-file",
        &ca,
    ])
    .args(&["--verify-with", verify, "--retries", "0"])
    .secret_env(SECRET)
}

fn decode(token: &str) -> lp_jwt::UnverifiedToken<'_> {
    match lp_jwt::UnverifiedToken::decode(token) {
        Ok(t) => t,
        Err(e) => panic!("not a token ({e}): {token}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_exactly_the_consumer_jws_and_a_newline() {
    let emu = start(emulator()).await;
    let out = consumer_cmd(&emu).run().await;
    out.expect(0, "");
    assert!(out.stderr.is_empty(), "{out:?}");
    let jws = out.stdout.strip_suffix('\n').unwrap_or_default();
    let token = decode(jws);
    let claims = &token.claims().extra;
    assert_eq!(claims["account_id"], ACCOUNT);
    assert_eq!(claims["ext_consumer_id"], EXT);
    assert_eq!(
        claims["lp_consumer_id"],
        lp_emulator::lp_consumer_id(ACCOUNT, EXT).as_str()
    );
    // Signed by the emulator.
    let keys = lp_jwt::Jwks::from_json(&emu.handle.jwks_json()).unwrap_or_else(|e| panic!("{e}"));
    keys.verify(&token).unwrap_or_else(|e| panic!("{e}"));
    let counts = [Endpoint::Domain, Endpoint::Token, Endpoint::Consumer]
        .map(|e| emu.handle.request_count(e));
    assert_eq!(counts, [1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_format_has_the_token_and_its_claims() {
    let emu = start(emulator()).await;
    let out = consumer_cmd(&emu).args(&["--format", "json"]).run().await;
    out.expect(0, "");
    let v = out.json();
    let mut keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(keys, ["claims", "token"], "{out:?}");
    assert_eq!(v["claims"]["ext_consumer_id"], EXT);
    assert_eq!(v["claims"]["account_id"], ACCOUNT);
    let token = v["token"].as_str().unwrap_or_default();
    assert_eq!(decode(token).claims().extra["ext_consumer_id"], EXT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_from_idp_is_survived_once() {
    let emu = start(emulator()).await;
    emu.handle
        .inject(Endpoint::Consumer, Fault::ConsumerUnauthorized, 1);
    consumer_cmd(&emu).run().await.expect(0, "");
    assert_eq!(emu.handle.request_count(Endpoint::Token), 2);
    assert_eq!(emu.handle.request_count(Endpoint::Consumer), 2);
}

/// One failure case: what to change, then the exit code and a piece of the
/// one error line.
struct Case {
    name: &'static str,
    faults: Vec<(Fault, u32)>,
    ext: &'static str,
    verify: &'static str,
    args: &'static [&'static str],
    code: i32,
    needle: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_with_the_documented_codes_and_leak_nothing() {
    let server = |status: u16| Fault::Status {
        status,
        retry_after: None,
        body: None,
    };
    let cases = [
        Case {
            name: "two 401s",
            faults: vec![(Fault::ConsumerUnauthorized, 2)],
            ext: EXT,
            verify: "jwks",
            args: &[],
            code: 1,
            needle: "401",
        },
        Case {
            name: "idp 500",
            faults: vec![(server(500), 1)],
            ext: EXT,
            verify: "jwks",
            args: &[],
            code: 1,
            needle: "500",
        },
        Case {
            name: "idp 403",
            faults: vec![(server(403), 1)],
            ext: EXT,
            verify: "jwks",
            args: &[],
            code: 1,
            needle: "403",
        },
        Case {
            name: "empty ext consumer id",
            faults: vec![],
            ext: "",
            verify: "jwks",
            args: &[],
            code: 2,
            needle: "--ext-consumer-id",
        },
        Case {
            name: "control character",
            faults: vec![],
            ext: "a\nb",
            verify: "jwks",
            args: &[],
            code: 2,
            needle: "control character",
        },
        Case {
            name: "bad idp host",
            faults: vec![],
            ext: EXT,
            verify: "jwks",
            args: &["--idp-host", "not a host"],
            code: 2,
            needle: "--idp-host",
        },
        Case {
            name: "signature refused",
            faults: vec![],
            ext: EXT,
            verify: "static",
            args: &[],
            code: 1,
            needle: "signature refused",
        },
    ];
    for case in cases {
        let emu = start(emulator()).await;
        for (fault, times) in case.faults {
            emu.handle.inject(Endpoint::Consumer, fault, times);
        }
        let out = consumer_cmd_with(&emu, case.ext, case.verify)
            .args(case.args)
            .run()
            .await;
        assert_eq!(out.code, case.code, "{}: {out:?}", case.name);
        out.expect(case.code, case.needle);
        // Ours, not clap's: the arguments parsed.
        assert!(out.stderr.starts_with("appjwt: "), "{}: {out:?}", case.name);
        assert!(out.stdout.is_empty(), "{}: {out:?}", case.name);
        assert!(!contains_jwt(&out.stderr), "{}: {out:?}", case.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_or_a_server() {
    let cli = |csds: &str| {
        Cli::new(&[
            "consumer-jws",
            "--account",
            ACCOUNT,
            "--client-id",
            CLIENT_ID,
        ])
        .args(&["--ext-consumer-id", EXT, "--csds-host", csds])
        .args(&["--retries", "0"])
    };
    let port = closed_port();
    let nowhere = format!("127.0.0.1:{port}");
    cli(&nowhere).run().await.expect(2, "LP_CLIENT_SECRET");
    cli(&nowhere).secret_env(SECRET).run().await.expect(3, "");
    Cli::new(&[
        "consumer-jws",
        "--account",
        ACCOUNT,
        "--client-id",
        CLIENT_ID,
    ])
    .secret_env(SECRET)
    .run()
    .await
    .expect(2, "--ext-consumer-id");
}

/// The emulator's public key and key set in files, a stranger's key, and
/// files that are neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_a_key_file_or_a_jwks_file() {
    let emu = start(emulator()).await;
    let pem = emu.public_key_file();
    let jwks = emu.jwks_file();
    let stranger = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lp-jwt/tests/data/rsa2048-a.spki.pem"
    );
    let garbage = temp_path("garbage.pem");
    if let Err(e) = std::fs::write(&garbage, "not a key") {
        panic!("write: {e}");
    }
    let garbage = garbage.display().to_string();
    let missing = temp_path("missing.pem").display().to_string();
    let cases: [(&str, &str, i32, &str); 6] = [
        ("--verify-with", &pem, 0, ""),
        ("--verify-with", &jwks, 0, ""),
        ("--verify", &pem, 0, ""),
        ("--verify-with", stranger, 1, "signature"),
        ("--verify-with", &garbage, 2, "pem"),
        ("--verify-with", &missing, 2, "cannot read"),
    ];
    let host = emu.host();
    let ca = emu.ca();
    for (flag, value, code, needle) in cases {
        let out = Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
            .args(&["--csds-host", &host, "--ca-file", &ca, "--retries", "0"])
            .args(&[flag, value])
            .secret_env(SECRET)
            .run()
            .await;
        out.expect(code, needle);
        assert_eq!(out.stdout.is_empty(), code != 0, "{value}: {out:?}");
        // consumer-jws takes the same flag.
        let out = consumer_cmd_with(&emu, EXT, value).run().await;
        out.expect(code, needle);
    }
}
