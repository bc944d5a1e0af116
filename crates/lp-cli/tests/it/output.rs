//! How output behaves: JSON errors, colour, a closed stdout, dates,
//! completions and the man page, and what a terminal changes.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::support::{
    ACCOUNT, CLIENT_ID, Cli, SECRET, SEED_TOKEN, closed_port, emulator, start, token_once,
};

/// Runs `appjwt ARGS` on a pseudo-terminal (util-linux `script`), feeding
/// `input`; returns the exit code and everything the terminal showed.
async fn on_a_terminal(args: &str, input: &str, env: &[(&str, &str)]) -> (i32, String) {
    let line = format!("'{}' {args}", env!("CARGO_BIN_EXE_appjwt"));
    let mut cmd = tokio::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("cannot run script(1) from util-linux: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        if let Err(e) = stdin.write_all(input.as_bytes()).await {
            panic!("stdin: {e}");
        }
    }
    let out = match tokio::time::timeout(crate::support::HANG_GUARD, child.wait_with_output()).await
    {
        Ok(Ok(o)) => o,
        other => panic!("script did not finish: {other:?}"),
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_json_makes_errors_one_json_object_on_the_last_line() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let ca = emu.ca();
    let nowhere = format!("127.0.0.1:{}", closed_port());
    let token = |args: &[&str]| token_once(&["--format", "json"]).args(args);
    let cases: Vec<(Cli, i32, &str, &str)> = vec![
        (
            token(&["--csds-host", &host, "--ca-file", &ca]),
            1,
            "refused",
            "signature refused",
        ),
        (
            token(&["--csds-host", &nowhere]),
            3,
            "network",
            "connection failed",
        ),
        (
            token(&["--csds-host", "https://x"]),
            2,
            "usage",
            "leave out the scheme",
        ),
        // clap's own usage errors too, after clap's text.
        (token(&["--no-such-flag"]), 2, "usage", "--no-such-flag"),
        (
            token(&[
                "--csds-host",
                &host,
                "--ca-file",
                &ca,
                "--verify-with",
                "none",
            ])
            .args(&["--api", "v9"]),
            2,
            "usage",
            "v9",
        ),
        (
            Cli::new(&["decode", "--format", "json", SEED_TOKEN]),
            1,
            "refused",
            "expired",
        ),
        (
            Cli::new(&["decode", "--format=json", "a.b"]),
            2,
            "usage",
            "segments",
        ),
        (
            Cli::new(&[
                "domains",
                "--format",
                "json",
                "--account",
                ACCOUNT,
                "--csds-host",
                &nowhere,
            ]),
            3,
            "network",
            "domain lookup failed",
        ),
        (
            Cli::new(&["consumer-jws", "--format", "json", "--ext-consumer-id", "x"])
                .args(&[
                    "--account",
                    ACCOUNT,
                    "--client-id",
                    CLIENT_ID,
                    "--csds-host",
                    &nowhere,
                ])
                .args(&["--retries", "0"])
                .secret_env(SECRET),
            3,
            "network",
            "connection failed",
        ),
    ];
    for (cli, code, kind, needle) in cases {
        let out = cli.run().await;
        out.expect_json_error(code, kind, needle);
        assert!(
            !out.stderr.contains("appjwt: "),
            "a plain line too: {out:?}"
        );
    }
    // Without --format json: the plain line.
    let out = Cli::new(&["decode", SEED_TOKEN]).run().await;
    out.expect(1, "appjwt: invalid token: expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_only_on_a_terminal_and_never_with_no_color() {
    // Piped stderr, NO_COLOR unset: plain text.
    let out = Cli::new(&["-v", "demo"]).allow_color().run().await;
    out.expect(0, "");
    assert!(!out.stderr.is_empty(), "{out:?}");
    assert!(
        !out.stderr.contains('\u{1b}'),
        "colour codes in a pipe: {out:?}"
    );
    // On a terminal: colour, unless NO_COLOR says otherwise.
    let (code, shown) = on_a_terminal("-v demo", "", &[]).await;
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("\u{1b}["),
        "no colour on a terminal: {shown}"
    );
    let (code, shown) = on_a_terminal("-v demo", "", &[("NO_COLOR", "1")]).await;
    assert_eq!(code, 0, "{shown}");
    assert!(
        !shown.contains('\u{1b}'),
        "colour despite NO_COLOR: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_quietly_with_0() {
    let script = format!(
        "'{}' demo | head -1; echo \"status=${{PIPESTATUS[0]}}\"",
        env!("CARGO_BIN_EXE_appjwt")
    );
    let out = match tokio::process::Command::new("bash")
        .args(["-c", &script])
        .env("NO_COLOR", "1")
        .output()
        .await
    {
        Ok(o) => o,
        Err(e) => panic!("bash: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("emulator   https://127.0.0.1:"),
        "{stdout}"
    );
    assert_eq!(lines[1], "status=0", "{stdout} {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_output_gives_iso_dates_beside_epoch_seconds() {
    let out = Cli::new(&["decode", SEED_TOKEN]).run().await;
    out.expect(1, "expired");
    for want in [
        "issued  2018-04-25T07:51:10Z (1524642670)\n",
        "expires 2018-04-25T08:51:10Z (1524646270), expired 8y",
    ] {
        assert!(out.stdout.contains(want), "lacks {want:?}: {out:?}");
    }
    let out = Cli::new(&["demo"]).run().await;
    out.expect(0, "");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("Validated:"))
        .unwrap_or_default();
    // `expires 2026-01-01T12:00:00Z (1767268800), expires in 59m 59s`
    let date = line.split("expires ").nth(1).unwrap_or_default();
    let bytes = date.as_bytes();
    assert!(
        date.len() > 22
            && bytes[4] == b'-'
            && bytes[10] == b'T'
            && bytes[19] == b'Z'
            && date[22..].starts_with(|c: char| c.is_ascii_digit()),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_for_every_shell() {
    let cases = [
        ("bash", "_appjwt()"),
        ("zsh", "#compdef appjwt"),
        ("fish", "complete -c appjwt"),
        ("powershell", "Register-ArgumentCompleter"),
    ];
    for (shell, marker) in cases {
        let out = Cli::new(&["completions", shell]).run().await;
        out.expect(0, "");
        assert!(out.stdout.contains(marker), "{shell}: {out:?}");
        // The flags of the subcommands are in there.
        for flag in ["csds-host", "verify-with", "env-out", "timeout"] {
            assert!(out.stdout.contains(flag), "{shell} lacks {flag}");
        }
    }
    // The bash script is valid bash.
    let bash = Cli::new(&["completions", "bash"]).run().await.stdout;
    let path = crate::support::temp_path("appjwt.bash");
    if let Err(e) = std::fs::write(&path, bash) {
        panic!("write: {e}");
    }
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status();
    assert!(matches!(check, Ok(s) if s.success()), "{check:?}");
    Cli::new(&["completions", "tcsh"])
        .run()
        .await
        .expect(2, "tcsh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_man_page() {
    let out = Cli::new(&["man"]).run().await;
    out.expect(0, "");
    assert!(
        out.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq") || out.stdout.contains(".TH appjwt"),
        "{out:?}"
    );
    for want in [
        ".TH appjwt 1",
        "token",
        "emulator",
        "LP_CLIENT_SECRET",
        "Exit codes",
    ] {
        assert!(out.stdout.contains(want), "lacks {want:?}");
    }
    let dir = crate::support::temp_path("man");
    let dir_arg = dir.display().to_string();
    Cli::new(&["man", "--out-dir", &dir_arg])
        .run()
        .await
        .expect(0, "");
    for page in [
        "appjwt.1",
        "appjwt-token.1",
        "appjwt-decode.1",
        "appjwt-emulator.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decode_on_a_terminal_says_it_reads_stdin() {
    let (code, shown) = on_a_terminal("decode", &format!("{SEED_TOKEN}\n\u{4}"), &[]).await;
    // The seed token has expired: exit 1, after showing its claims.
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("appjwt: reading the token from stdin (paste it, then press Ctrl-D)"),
        "{shown}"
    );
    assert!(shown.contains("\"aud\": \"le81823118\""), "{shown}");
    // From a pipe it says nothing of the sort.
    let out = Cli::new(&["decode"]).stdin(SEED_TOKEN).run().await;
    assert!(!out.stderr.contains("reading the token"), "{out:?}");
}
