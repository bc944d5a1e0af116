//! `--proxy`, `--no-proxy` and the proxy variables, through a real
//! tinyproxy on loopback.

use integration_tests::tinyproxy::{Tinyproxy, free_port};

use crate::support::{Emu, emulator, start};

const USER: &str = "connector";
const PASSWORD: &str = "cli-Pr0xy-pa55";
const WRONG: &str = "cli-Wr0ng-pa55";

/// A proxy URL nothing listens on.
fn dead_proxy() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// Runs `appjwt token` with `args` and `env` and checks the exit code,
/// stderr, and whether the proxy saw a CONNECT to the emulator.
async fn check(
    emu: &Emu,
    proxy: &Tinyproxy,
    args: &[&str],
    env: &[(&str, &str)],
    (code, needle): (i32, &str),
    tunnelled: bool,
) {
    let before = proxy.connects_now().len();
    let mut cmd = emu.token_cmd().args(&["--retries", "0"]).args(args);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd.run().await;
    out.expect(code, needle);
    for secret in [USER, PASSWORD, WRONG] {
        assert!(!out.stderr.contains(secret), "{secret} shown: {out:?}");
    }
    let connects = proxy.connects_now();
    assert_eq!(
        connects.len() > before,
        tunnelled,
        "{args:?} {env:?}: {connects:?} {out:?}"
    );
    if tunnelled {
        assert_eq!(connects[before], emu.host(), "{connects:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_variables_and_the_flags_pick_the_proxy() {
    let Some(proxy) = Tinyproxy::start() else {
        return;
    };
    let emu = start(emulator()).await;
    let url = proxy.url();
    let dead = dead_proxy();
    let ok = (0, "");
    check(&emu, &proxy, &[], &[], ok, false).await;
    check(&emu, &proxy, &[], &[("HTTPS_PROXY", &url)], ok, true).await;
    check(&emu, &proxy, &[], &[("https_proxy", &url)], ok, true).await;
    check(&emu, &proxy, &[], &[("ALL_PROXY", &url)], ok, true).await;
    let through = [("HTTPS_PROXY", url.as_str()), ("NO_PROXY", "127.0.0.0/8")];
    check(&emu, &proxy, &[], &through, ok, false).await;
    let flag = ["--proxy", url.as_str()];
    check(&emu, &proxy, &flag, &[("HTTPS_PROXY", &dead)], ok, true).await;
    check(&emu, &proxy, &flag, &[("NO_PROXY", "127.0.0.1")], ok, false).await;
    check(
        &emu,
        &proxy,
        &["--no-proxy"],
        &[("HTTPS_PROXY", &dead)],
        ok,
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_failures_are_network_errors_that_quote_no_credential() {
    let Some(proxy) = Tinyproxy::start_with_auth(USER, PASSWORD) else {
        return;
    };
    let emu = start(emulator()).await;
    let right = proxy.url();
    let wrong = proxy.url_as(USER, WRONG);
    let dead = dead_proxy();
    check(&emu, &proxy, &["--proxy", &right], &[], (0, ""), true).await;
    let refused = (3, "proxy refused the credentials");
    check(&emu, &proxy, &["--proxy", &wrong], &[], refused, true).await;
    check(&emu, &proxy, &[], &[("HTTPS_PROXY", &wrong)], refused, true).await;
    let unreachable = (3, "cannot reach the proxy");
    check(&emu, &proxy, &["--proxy", &dead], &[], unreachable, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_proxy_url_is_bad_usage_that_does_not_echo_it() {
    let Some(proxy) = Tinyproxy::start() else {
        return;
    };
    let emu = start(emulator()).await;
    let socks = format!("socks5://{USER}:{PASSWORD}@127.0.0.1:1080");
    let tls = format!("https://{USER}:{PASSWORD}@127.0.0.1:3128");
    let not_http = (2, "proxy url: only http:// proxies are supported");
    check(&emu, &proxy, &["--proxy", &socks], &[], not_http, false).await;
    let not_tls = (2, "HTTPS_PROXY: a tls connection to the proxy");
    check(&emu, &proxy, &[], &[("HTTPS_PROXY", &tls)], not_tls, false).await;
    let both = (2, "cannot be used with");
    check(
        &emu,
        &proxy,
        &["--proxy", &proxy.url(), "--no-proxy"],
        &[],
        both,
        false,
    )
    .await;
}
