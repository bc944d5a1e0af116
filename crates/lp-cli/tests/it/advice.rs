//! Errors that say what to do: every case of the issue, each checked for
//! its exit code, its words, and that the flags it suggests exist.

use lp_emulator::{Endpoint, Fault};

use crate::support::{
    ACCOUNT, CLIENT_ID, Cli, Out, SECRET, closed_port, emulator, start, temp_path, token_once,
};

/// Every `--flag` an error line mentions must be one `appjwt COMMAND`
/// has: advice must never send a person to a flag that does not exist.
async fn suggests_only_real_flags(command: &str, out: &Out) {
    let help = Cli::new(&[command, "--help"]).run().await.stdout;
    // A `quoted command` names its own flags, e.g. `appjwt emulator --ca-out`.
    let unquoted: String = out
        .stderr
        .split('`')
        .step_by(2)
        .collect::<Vec<_>>()
        .join(" ");
    let mut rest = unquoted.as_str();
    while let Some(i) = rest.find("--") {
        rest = &rest[i + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        if !name.is_empty() {
            assert!(
                help.contains(&format!("--{name}")),
                "{command} has no --{name}, yet the error suggests it: {out:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_any_request_with_advice() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let missing = temp_path("nope.pem").display().to_string();
    let not_pem = temp_path("not.pem");
    if let Err(e) = std::fs::write(&not_pem, "hello") {
        panic!("write: {e}");
    }
    let not_pem = not_pem.display().to_string();
    let https = format!("https://{host}");
    let with_path = format!("{host}/api");
    let base = |args: &[&str]| {
        Cli::new(&["token", "--client-id", CLIENT_ID, "--verify-with", "jwks"])
            .args(args)
            .secret_env(SECRET)
    };
    let good = ["--account", ACCOUNT, "--csds-host", &host, "--ca-file", &ca];
    let cases: Vec<(Cli, &str)> = vec![
        (
            base(&[
                "--account",
                ACCOUNT,
                "--ca-file",
                &ca,
                "--csds-host",
                &https,
            ]),
            "--csds-host: leave out the scheme: write 127.0.0.1:",
        ),
        (
            base(&good).args(&["--sentinel-host", &with_path]),
            "--sentinel-host: leave out the path: write 127.0.0.1:",
        ),
        (
            base(&[
                "--account",
                ACCOUNT,
                "--csds-host",
                &host,
                "--ca-file",
                &missing,
            ]),
            "No such file or directory (os error 2)",
        ),
        (
            base(&[
                "--account",
                ACCOUNT,
                "--csds-host",
                &host,
                "--ca-file",
                &not_pem,
            ]),
            "expected the PEM certificate `appjwt emulator --ca-out` writes",
        ),
        (
            base(&[
                "--account",
                "abc123",
                "--csds-host",
                &host,
                "--ca-file",
                &ca,
            ]),
            "is digits only, e.g. 56072331",
        ),
        (
            base(&[
                "--account",
                "le56072331",
                "--csds-host",
                &host,
                "--ca-file",
                &ca,
            ]),
            "leave out the `le` of the token's aud: 56072331",
        ),
        (
            Cli::new(&["token", "--client-id", CLIENT_ID]).args(&good),
            "set LP_CLIENT_SECRET or pass --client-secret-file",
        ),
        (
            base(&["--account", ACCOUNT, "--ca-file", &ca, "--csds-host", "a b"]),
            "--csds-host: host has invalid character ' ' at byte 1 (expected HOST[:PORT])",
        ),
        (
            Cli::new(&["token", "--client-id", CLIENT_ID, "--verify-with", &missing])
                .args(&good)
                .secret_env(SECRET),
            "cannot read --verify-with",
        ),
        (
            Cli::new(&["token", "--client-id", CLIENT_ID, "--verify-with", &missing])
                .args(&good)
                .secret_env(SECRET),
            "(os error 2)",
        ),
        (
            Cli::new(&[
                "token",
                "--client-id",
                CLIENT_ID,
                "--client-secret-file",
                &missing,
            ])
            .args(&good),
            "cannot read --client-secret-file",
        ),
        (
            Cli::new(&["domains", "--account", "abc", "--csds-host", &host]),
            "is digits only",
        ),
        (
            Cli::new(&["domains", "--account", ACCOUNT, "--csds-host", &https]),
            "leave out the scheme",
        ),
        (
            Cli::new(&[
                "consumer-jws",
                "--ext-consumer-id",
                "x",
                "--client-id",
                CLIENT_ID,
            ])
            .args(&good)
            .args(&["--idp-host", &https])
            .secret_env(SECRET),
            "--idp-host: leave out the scheme",
        ),
    ];
    for (cli, needle) in cases {
        let command = cli_command(&cli);
        let out = cli.run().await;
        out.expect(2, needle);
        suggests_only_real_flags(&command, &out).await;
    }
    assert_eq!(emu.handle.request_count(Endpoint::Any), 0);
}

/// The subcommand of a prepared run, for its `--help`.
fn cli_command(cli: &Cli) -> String {
    cli.first_arg().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_is_named_when_the_bad_value_came_from_it() {
    let out = Cli::new(&["token", "--client-id", CLIENT_ID, "--account", ACCOUNT])
        .env("LP_CSDS_HOST", "https://api.liveperson.net")
        .secret_env(SECRET)
        .run()
        .await;
    out.expect(
        2,
        "LP_CSDS_HOST (for --csds-host): leave out the scheme: write api.liveperson.net",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_and_server_errors_say_what_to_do() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let nowhere = format!("127.0.0.1:{}", closed_port());
    let token = token_once;
    let cases: Vec<(Cli, i32, &str)> = vec![
        (
            token(&["--csds-host", &nowhere]),
            3,
            "Connection refused (os error 111)",
        ),
        (
            token(&["--csds-host", &nowhere]),
            3,
            "does anything listen there? (--csds-host, --sentinel-host)",
        ),
        (
            token(&["--csds-host", &host]),
            3,
            "if it is `appjwt emulator`, pass --ca-file with the file its `--ca-out` wrote",
        ),
        (
            token(&[
                "--csds-host",
                &host,
                "--ca-file",
                &ca,
                "--verify-with",
                "jwks",
            ])
            .secret_env("wrong"),
            1,
            "check --client-id (LP_CLIENT_ID) and the secret",
        ),
        (
            Cli::new(&["domains", "--account", ACCOUNT, "--csds-host", &nowhere]),
            3,
            "is 127.0.0.1:",
        ),
    ];
    for (cli, code, needle) in cases {
        let command = cli_command(&cli);
        let out = cli.run().await;
        out.expect(code, needle);
        suggests_only_real_flags(&command, &out).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_has_one_prefix() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let nowhere = format!("127.0.0.1:{}", closed_port());
    let run = |csds: &str, extra: &[&str]| {
        Cli::new(&[
            "domains",
            "--account",
            ACCOUNT,
            "--csds-host",
            csds,
            "--ca-file",
            &ca,
        ])
        .args(extra)
    };
    let status = Fault::Status {
        status: 500,
        retry_after: None,
        body: None,
    };
    emu.handle.inject(Endpoint::Domain, status, 1);
    let cases: Vec<(Cli, i32, &str)> = vec![
        (
            run(&nowhere, &[]),
            3,
            "domain lookup failed: transport error",
        ),
        (
            run(&host, &[]),
            1,
            "domain lookup failed: domain api answered",
        ),
        (
            run(&host, &["--service", "nosuch"]),
            1,
            "is nosuch one of the account's services? without --service all are listed",
        ),
    ];
    for (cli, code, needle) in cases {
        let out = cli.run().await;
        out.expect(code, needle);
        assert_eq!(
            out.stderr.matches("domain lookup failed").count(),
            1,
            "{out:?}"
        );
        suggests_only_real_flags("domains", &out).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_signature_names_the_key_and_the_fix() {
    let emu = start(emulator()).await;
    let kid = emu.handle.current_kid();
    let host = emu.host();
    let ca = emu.ca();
    let token = |args: &[&str]| token_once(&["--csds-host", &host, "--ca-file", &ca]).args(args);
    for verify in [&[][..], &["--verify-with", "static"][..]] {
        let out = token(verify).run().await;
        out.expect(1, "access token signature refused");
        for want in [
            "checked with LivePerson's published v1 key",
            &format!("token kid {kid}"),
            "the kid is not LivePerson's (appjwt-13-05-17)",
            "is a loopback host",
            "pass --verify-with jwks (or set LP_VERIFY_WITH=jwks)",
        ] {
            assert!(
                out.stderr.contains(want),
                "{verify:?} lacks {want:?}: {out:?}"
            );
        }
        suggests_only_real_flags("token", &out).await;
    }
    let out = Cli::new(&[
        "consumer-jws",
        "--ext-consumer-id",
        "x",
        "--account",
        ACCOUNT,
    ])
    .args(&[
        "--client-id",
        CLIENT_ID,
        "--csds-host",
        &host,
        "--ca-file",
        &ca,
    ])
    .secret_env(SECRET)
    .run()
    .await;
    out.expect(1, "pass --verify-with jwks");
    // Already checking with the host's keys: a forged signature is just
    // refused, with no advice to do what was done.
    emu.handle
        .inject(Endpoint::Token, Fault::BadSignatureToken, 1);
    let out = token(&["--verify-with", "jwks"]).run().await;
    out.expect(1, "checked with the key set the sentinel host publishes");
    assert!(!out.stderr.contains("pass --verify-with"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_none_warns_once() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let base = || {
        Cli::new(&["token", "--account", ACCOUNT, "--client-id", CLIENT_ID])
            .args(&["--csds-host", &host, "--ca-file", &ca])
            .secret_env(SECRET)
    };
    let cases = [
        (
            base().args(&["--verify-with", "none"]),
            "--verify-with none",
        ),
        (
            base().env("LP_VERIFY_WITH", "none"),
            "LP_VERIFY_WITH (for --verify-with) none",
        ),
    ];
    for (cli, named) in cases {
        let out = cli.run().await;
        out.expect(0, "");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{out:?}");
        assert!(
            lines[0].starts_with(&format!("appjwt: warning: {named}:")),
            "{out:?}"
        );
        assert!(
            lines[0].contains("a forged token would be accepted"),
            "{out:?}"
        );
        assert_eq!(out.stdout.matches('.').count(), 2, "{out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_without_a_secret_suggests_only_its_own_flags() {
    let ca = temp_path("ca.pem").display().to_string();
    let out = Cli::new(&["emulator", "--listen", "127.0.0.1:0", "--ca-out", &ca])
        .run()
        .await;
    out.expect(2, "set LP_CLIENT_SECRET, or pass --print-secret");
    assert!(!out.stderr.contains("--client-secret-file"), "{out:?}");
    suggests_only_real_flags("emulator", &out).await;
}
