//! The command line itself: help, versions, clap's usage errors.

use crate::support::{Cli, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage: appjwt"),
        (&["frobnicate"], "unrecognized subcommand"),
        (&["token"], "--account"),
        (&["token", "--account", "1"], "--client-id"),
        (&["domains"], "--account"),
        (&["decode", "--format", "yaml"], "yaml"),
        (&["emulator"], "--ca-out"),
        (&["demo", "extra"], "unexpected argument"),
        (&["emulator", "--ca-out", "x", "--lifetime", "-1"], "'-1'"),
        // There is no flag for the secret, and clap does not echo its value.
        (
            &[
                "token",
                "--account",
                "1",
                "--client-id",
                "x",
                "--client-secret",
                SECRET,
            ],
            "--client-secret",
        ),
    ];
    for &(args, needle) in cases {
        let out = Cli::new(args).run().await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(needle),
            "{args:?} lacks {needle:?}: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_version_exit_0() {
    let cases: &[(&[&str], &str)] = &[
        (&["--help"], "LP_CLIENT_SECRET"),
        (&["help", "token"], "--client-secret-file"),
        (&["token", "--help"], "--sentinel-host"),
        (&["decode", "--help"], "TOKEN|-"),
        (&["domains", "-h"], "--service"),
        (&["emulator", "--help"], "--listen"),
        (&["--version"], "appjwt 0."),
        (&["--help"], "Exit codes"),
    ];
    for &(args, needle) in cases {
        let out = Cli::new(args).run().await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(
            out.stdout.contains(needle),
            "{args:?} lacks {needle:?}: {out:?}"
        );
    }
}
