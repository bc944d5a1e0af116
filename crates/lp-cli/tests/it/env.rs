//! Every where/who option from an `LP_*` variable, shown in `--help`, and
//! a flag on the command line beating its variable.

use lp_emulator::Endpoint;

use crate::support::{ACCOUNT, CLIENT_ID, Cli, SECRET, closed_port, emulator, start, temp_path};

/// The options and their variables, per command, as `--help` must show.
const VARIABLES: &[(&str, &[&str])] = &[
    (
        "token",
        &[
            "LP_ACCOUNT",
            "LP_CLIENT_ID",
            "LP_CLIENT_SECRET_FILE",
            "LP_CSDS_HOST",
            "LP_CA_FILE",
            "LP_TIMEOUT",
            "LP_SENTINEL_HOST",
            "LP_RETRIES",
            "LP_API",
            "LP_VERIFY_WITH",
        ],
    ),
    (
        "consumer-jws",
        &[
            "LP_ACCOUNT",
            "LP_CLIENT_ID",
            "LP_CSDS_HOST",
            "LP_CA_FILE",
            "LP_SENTINEL_HOST",
            "LP_IDP_HOST",
            "LP_VERIFY_WITH",
            "LP_TIMEOUT",
        ],
    ),
    (
        "domains",
        &["LP_ACCOUNT", "LP_CSDS_HOST", "LP_CA_FILE", "LP_TIMEOUT"],
    ),
    ("emulator", &["LP_ACCOUNT", "LP_CLIENT_ID"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_names_every_variable() {
    for (command, vars) in VARIABLES {
        // With the secret set: `run` fails the test if --help shows it.
        let out = Cli::new(&[command, "--help"])
            .secret_env(SECRET)
            .run()
            .await;
        out.expect(0, "");
        for var in *vars {
            assert!(
                out.stdout.contains(&format!("[env: {var}=")),
                "{command} --help lacks {var}: {}",
                out.stdout
            );
        }
    }
    let out = Cli::new(&["--help"]).run().await;
    assert!(
        out.stdout
            .contains("a flag on the command line beats the variable"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_token_works_from_the_environment() {
    let emu = start(emulator()).await;
    let out = Cli::new(&["token", "--format", "json"])
        .env("LP_ACCOUNT", ACCOUNT)
        .env("LP_CLIENT_ID", CLIENT_ID)
        .env("LP_CSDS_HOST", &emu.host())
        .env("LP_CA_FILE", &emu.ca())
        .env("LP_VERIFY_WITH", "jwks")
        .secret_env(SECRET)
        .run()
        .await;
    out.expect(0, "");
    assert_eq!(out.json()["claims"]["aud"], ACCOUNT);
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_variable_takes_effect_and_a_flag_beats_it() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let secret_file = temp_path("secret");
    if let Err(e) = std::fs::write(&secret_file, SECRET) {
        panic!("write: {e}");
    }
    let secret_file = secret_file.display().to_string();
    let nowhere = format!("127.0.0.1:{}", closed_port());
    let full = || {
        Cli::new(&["token"])
            .env("LP_ACCOUNT", ACCOUNT)
            .env("LP_CLIENT_ID", CLIENT_ID)
            .env("LP_CLIENT_SECRET_FILE", &secret_file)
            .env("LP_CSDS_HOST", &host)
            .env("LP_CA_FILE", &ca)
            .env("LP_VERIFY_WITH", "jwks")
            .env("LP_RETRIES", "0")
    };
    // Each variable in turn set to something wrong: the run fails on it,
    // and the same option as a flag puts it right.
    let cases: &[(&str, &str, &[&str], i32, &str)] = &[
        ("LP_ACCOUNT", "11111111", &["--account", ACCOUNT], 1, ""),
        ("LP_CLIENT_ID", "other", &["--client-id", CLIENT_ID], 1, ""),
        ("LP_CSDS_HOST", &nowhere, &["--csds-host", &host], 3, ""),
        (
            "LP_CA_FILE",
            "/nonexistent/ca.pem",
            &["--ca-file", &ca],
            2,
            "LP_CA_FILE",
        ),
        (
            "LP_VERIFY_WITH",
            "static",
            &["--verify-with", "jwks"],
            1,
            "LP_VERIFY_WITH=jwks",
        ),
        (
            "LP_SENTINEL_HOST",
            &nowhere,
            &["--sentinel-host", &host],
            3,
            "",
        ),
        ("LP_API", "v3", &["--api", "v1"], 2, "v3"),
        ("LP_TIMEOUT", "0", &["--timeout", "10s"], 2, "--timeout"),
        ("LP_RETRIES", "x", &["--retries", "0"], 2, "--retries"),
    ];
    for &(var, bad, fix, code, needle) in cases {
        let out = full().env(var, bad).run().await;
        assert_eq!(out.code, code, "{var}={bad}: {out:?}");
        assert!(
            out.stderr.contains(needle),
            "{var}={bad} lacks {needle:?}: {out:?}"
        );
        let out = full().env(var, bad).args(fix).run().await;
        assert_eq!(out.code, 0, "{var}={bad} with {fix:?}: {out:?}");
    }
    // A secret file named in the environment was read: no LP_CLIENT_SECRET.
    full().run().await.expect(0, "");
    // LP_CLIENT_SECRET_FILE loses to the flag, too.
    let missing = temp_path("missing").display().to_string();
    full()
        .env("LP_CLIENT_SECRET_FILE", &missing)
        .args(&["--client-secret-file", &secret_file])
        .run()
        .await
        .expect(0, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_and_consumer_jws_read_the_environment() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let out = Cli::new(&["domains", "--service", "sentinel"])
        .env("LP_ACCOUNT", ACCOUNT)
        .env("LP_CSDS_HOST", &host)
        .env("LP_CA_FILE", &ca)
        .run()
        .await;
    out.expect(0, "");
    assert!(out.stdout.contains(&format!("sentinel  {host}")), "{out:?}");
    let out = Cli::new(&[
        "consumer-jws",
        "--ext-consumer-id",
        "John_Doe_facebook12345",
    ])
    .env("LP_ACCOUNT", ACCOUNT)
    .env("LP_CLIENT_ID", CLIENT_ID)
    .env("LP_CSDS_HOST", &host)
    .env("LP_CA_FILE", &ca)
    .env("LP_VERIFY_WITH", "jwks")
    .env("LP_IDP_HOST", &host)
    .secret_env(SECRET)
    .run()
    .await;
    out.expect(0, "");
    assert_eq!(emu.handle.request_count(Endpoint::Consumer), 1);
}
