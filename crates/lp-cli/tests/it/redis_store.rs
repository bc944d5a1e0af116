//! `appjwt token --store redis://...`: a fleet of processes against one
//! real `redis-server` (started here on a free loopback port, persistence
//! off) and one emulator.

use std::time::{Duration, Instant};

use integration_tests::redis_server::RedisServer;
use lp_emulator::{Emulator, Endpoint};

use crate::support::{ACCOUNT, CLIENT_ID, Cli, Emu, Out, SECRET, emulator, signing_key, start};

/// Processes started at once.
const FLEET: usize = 50;

/// `appjwt token` for the test client against `emu`, with `--store url`.
fn token_cmd(emu: &Emu, url: &str) -> Cli {
    emu.token_cmd().args(&["--store", url, "--retries", "0"])
}

/// Runs `FLEET` copies of `cmd()` at once; their outputs and how long each
/// took.
async fn fleet(cmd: impl Fn() -> Cli) -> Vec<(Out, Duration)> {
    let runs: Vec<_> = (0..FLEET)
        .map(|_| {
            let cli = cmd();
            tokio::spawn(async move {
                let started = Instant::now();
                let out = cli.run().await;
                (out, started.elapsed())
            })
        })
        .collect();
    let mut outs = Vec::new();
    for run in runs {
        outs.push(run.await.unwrap_or_else(|e| panic!("run: {e}")));
    }
    outs
}

/// Every run printed a token; the distinct tokens.
fn tokens(outs: &[(Out, Duration)]) -> Vec<String> {
    let mut tokens: Vec<String> = outs
        .iter()
        .map(|(out, _)| {
            out.expect(0, "");
            out.stdout.trim().to_owned()
        })
        .collect();
    tokens.sort();
    tokens.dedup();
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_processes_make_one_token_request() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let emu = start(emulator()).await;
    let url = redis.url();
    let outs = fleet(|| token_cmd(&emu, &url)).await;
    assert_eq!(tokens(&outs).len(), 1, "all got the one token");
    for (out, _) in &outs {
        assert!(out.stderr.is_empty(), "{out:?}");
    }
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
    assert!(emu.handle.request_count(Endpoint::Domain) <= 1);
    let slowest = outs.iter().map(|(_, d)| *d).max().unwrap_or_default();
    println!("{FLEET} processes with redis: slowest {slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_costs_only_the_cache() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    redis.kill();
    let emu = start(emulator()).await;
    let outs = fleet(|| token_cmd(&emu, &url)).await;
    tokens(&outs);
    // Every process asked Sentinel itself, and said why once.
    assert_eq!(emu.handle.request_count(Endpoint::Token), FLEET as u64);
    for (out, _) in &outs {
        assert!(
            out.stderr.contains("warning: the redis token store failed"),
            "{out:?}"
        );
        assert!(out.stderr.contains("unavailable"), "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_does_not_answer_is_waited_for_only_the_store_timeout() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // The kernel still accepts connections; the server answers nothing.
    redis.pause();
    let emu = start(emulator()).await;
    let url = redis.url();
    let outs = fleet(|| token_cmd(&emu, &url)).await;
    tokens(&outs);
    for (out, took) in &outs {
        assert!(out.stderr.contains("timed out"), "{out:?}");
        // A handful of store calls of at most 200 ms each, a token request
        // and the start of a process on a loaded 2-core machine: far from
        // the 10 s lease wait or the 30 s --timeout.
        assert!(*took < Duration::from_secs(5), "{took:?}: {out:?}");
    }
    assert_eq!(emu.handle.request_count(Endpoint::Token), FLEET as u64);
    redis.resume();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_redis_password_is_a_warning_and_the_token_still_comes() {
    let Some(redis) = RedisServer::start_with_password("right-password-7f3a") else {
        return;
    };
    let emu = start(emulator()).await;
    let wrong = redis.url_with_password("wrong-password-c41d");
    let out = token_cmd(&emu, &wrong).run().await;
    out.expect(0, "");
    assert!(out.stderr.contains("refused access"), "{out:?}");
    assert!(!out.stderr.contains("wrong-password-c41d"), "{out:?}");
    assert!(out.stderr.contains("[redacted]"), "{out:?}");
    // The first run could write nothing: with the right password the next
    // run fetches and writes, and the one after reads.
    let right = redis.url();
    let second = token_cmd(&emu, &right).run().await;
    second.expect(0, "");
    assert!(second.stderr.is_empty(), "{second:?}");
    let third = token_cmd(&emu, &right).run().await;
    assert_eq!(third.stdout, second.stdout);
    assert_eq!(emu.handle.request_count(Endpoint::Token), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_sealed_with_another_secret_is_ignored() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    // The same account and client id, before and after a secret rotation:
    // two emulators, one per secret, signing with the same key.
    let old_secret = "the-secret-before-rotation";
    let before = start(
        Emulator::builder()
            .client(ACCOUNT, CLIENT_ID, old_secret)
            .signing_key(signing_key()),
    )
    .await;
    let first = before
        .token_cmd()
        .args(&["--store", &url])
        .secret_env(old_secret)
        .run()
        .await;
    first.expect(0, "");
    assert_eq!(before.handle.request_count(Endpoint::Token), 1);

    let after = start(emulator()).await;
    let out = after
        .token_cmd()
        .args(&["--store", &url])
        .secret_env(SECRET)
        .run()
        .await;
    out.expect(0, "");
    // The old record did not open: this run asked its own Sentinel. (The
    // token text may equal the first: same key, same claims, same second.)
    assert_eq!(after.handle.request_count(Endpoint::Token), 1);
    // Its own record replaced the old one: the next run asks nobody.
    let again = after
        .token_cmd()
        .args(&["--store", &url])
        .secret_env(SECRET)
        .run()
        .await;
    assert_eq!(again.stdout, out.stdout);
    assert_eq!(after.handle.request_count(Endpoint::Token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_redis_urls_are_usage_errors_that_hide_the_password() {
    let emu = start(emulator()).await;
    for url in [
        "redis://:hunter2@127.0.0.1:6379/?insecure=1",
        "redis://:hunter2@127.0.0.1:6379/#insecure",
        "redis://:hunter2@127.0.0.1:notaport",
    ] {
        let out = token_cmd(&emu, url).run().await;
        out.expect(2, "--store");
        assert!(!out.stderr.contains("hunter2"), "{out:?}");
    }
    assert_eq!(emu.handle.request_count(Endpoint::Token), 0);
}
