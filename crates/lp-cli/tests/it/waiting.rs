//! `--timeout`, the line that says what a slow call waits for, and the
//! attempt counts in errors.

use std::time::Instant;

use lp_emulator::{Endpoint, Fault};

use crate::support::{emulator, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_named_after_2s_and_cut_off_at_the_timeout() {
    let emu = start(emulator()).await;
    emu.handle.inject(Endpoint::Domain, Fault::Hang, 100);
    let started = Instant::now();
    let out = emu
        .token_cmd()
        .args(&["--timeout", "3s", "--retries", "3"])
        .run()
        .await;
    let took = started.elapsed().as_secs_f64();
    assert_eq!(out.code, 3, "{out:?}");
    let host = emu.host();
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_eq!(
        lines[0],
        format!(
            "appjwt: waiting for domain lookup to {host}, attempt 1 of 4, 2s so far \
             (gives up after 3s, --timeout)"
        ),
        "{out:?}"
    );
    assert!(lines[1].starts_with("appjwt: "), "{out:?}");
    assert!(lines[1].contains("3s"), "{out:?}");
    assert!(lines[1].contains("--timeout"), "{out:?}");
    assert!(
        lines[1].contains(&format!("domain lookup to {host}, attempt 1 of 4")),
        "{out:?}"
    );
    // The whole call, not each attempt: about 3 s, not 4 x 15 s.
    assert!((2.9..10.0).contains(&took), "took {took} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_gets_one_line_and_a_fast_one_none() {
    let emu = start(emulator()).await;
    emu.handle.inject(
        Endpoint::Token,
        Fault::Delay(std::time::Duration::from_millis(2500)),
        1,
    );
    let out = emu.token_cmd().run().await;
    out.expect(0, "");
    // 2.5 s is past the patience: one line, then the token.
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr.contains("waiting for token request to"),
        "{out:?}"
    );
    let out = emu.token_cmd().run().await;
    out.expect(0, "");
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_count_attempts_out_of_the_allowed() {
    let emu = start(emulator()).await;
    let unavailable = Fault::Status {
        status: 503,
        retry_after: None,
        body: None,
    };
    for (retries, attempts) in [("0", 1), ("2", 3)] {
        emu.handle.reset_counts();
        emu.handle.inject(Endpoint::Token, unavailable.clone(), 100);
        let out = emu.token_cmd().args(&["--retries", retries]).run().await;
        out.expect(1, "503");
        let want = format!(
            "token request to {}, attempt {attempts} of {attempts}",
            emu.host()
        );
        assert!(out.stderr.contains(&want), "lacks {want:?}: {out:?}");
        assert_eq!(emu.handle.request_count(Endpoint::Token), attempts);
        emu.handle.clear_faults();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_names_the_attempts_made_and_allowed() {
    let emu = start(emulator()).await;
    // A 503 asking to come back after the timeout: the retry cannot fit.
    emu.handle.inject(
        Endpoint::Token,
        Fault::Status {
            status: 503,
            retry_after: Some("60".to_owned()),
            body: None,
        },
        100,
    );
    let out = emu
        .token_cmd()
        .args(&["--timeout", "3s", "--retries", "5"])
        .run()
        .await;
    out.expect(
        1,
        "gave up at the 3s --timeout after 1 attempt of the 6 allowed",
    );
    let want = format!("token request to {}, attempt 1 of 6 failed", emu.host());
    assert!(out.stderr.contains(&want), "lacks {want:?}: {out:?}");
    assert!(out.stderr.contains("503"), "{out:?}");
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
}
