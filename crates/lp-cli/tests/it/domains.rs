//! `appjwt domains`: the Domain API answer as a table or JSON.

use lp_emulator::{Endpoint, Fault};

use crate::support::{ACCOUNT, Cli, emulator, start};

/// `domains --account ACCOUNT` against `emu` plus `flags`.
fn domains(emu: &crate::support::Emu, account: &str, flags: &[&str]) -> Cli {
    let host = emu.host();
    let ca = emu.ca();
    Cli::new(&[
        "domains",
        "--account",
        account,
        "--csds-host",
        &host,
        "--ca-file",
        &ca,
    ])
    .args(flags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_table_lists_every_service() {
    let emu = start(emulator()).await;
    let out = domains(&emu, ACCOUNT, &[]).run().await;
    out.expect(0, "");
    let mut lines = out.stdout.lines();
    let head = lines.next().unwrap_or_default();
    assert!(
        head.starts_with("SERVICE") && head.ends_with("HOST"),
        "{out:?}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.len() > 1, "{out:?}");
    let host = emu.host();
    assert!(rows.contains(&vec!["sentinel", host.as_str()]), "{out:?}");
    assert!(rows.iter().all(|r| r.len() == 2), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_one_object_of_service_to_host() {
    let emu = start(emulator()).await;
    let out = domains(&emu, ACCOUNT, &["--format", "json"]).run().await;
    out.expect(0, "");
    let v = out.json();
    let map = v.as_object().cloned().unwrap_or_default();
    assert!(map.len() > 1, "{out:?}");
    assert_eq!(
        map.get("sentinel"),
        Some(&serde_json::Value::from(emu.host()))
    );
    assert!(map.values().all(|h| h.is_string()), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_service() {
    let emu = start(emulator()).await;
    let host = emu.host();
    let out = domains(&emu, ACCOUNT, &["--service", "sentinel"])
        .run()
        .await;
    out.expect(0, "");
    let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{out:?}");
    assert_eq!(
        rows[0].split_whitespace().collect::<Vec<_>>(),
        ["sentinel", host.as_str()]
    );
    let out = domains(
        &emu,
        ACCOUNT,
        &["--service", "sentinel", "--format", "json"],
    )
    .run()
    .await;
    out.expect(0, "");
    assert_eq!(out.json(), serde_json::json!({ "sentinel": host }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_their_exit_codes() {
    let emu = start(emulator()).await;
    let cases: &[(&str, &[&str], i32, &str)] = &[
        ("99999999", &[], 1, "domain lookup failed"),
        (
            "99999999",
            &["--service", "sentinel"],
            1,
            "domain lookup failed",
        ),
        ("bad account!", &[], 2, "--account"),
        (ACCOUNT, &["--service", "bad name/"], 2, "--service"),
        (ACCOUNT, &["--format", "yaml"], 2, "yaml"),
    ];
    for &(account, flags, code, needle) in cases {
        let out = domains(&emu, account, flags).run().await;
        out.expect(code, needle);
        assert!(out.stdout.is_empty(), "{out:?}");
    }
    emu.handle.inject(
        Endpoint::Domain,
        Fault::Status {
            status: 500,
            retry_after: None,
            body: None,
        },
        1,
    );
    domains(&emu, ACCOUNT, &[]).run().await.expect(1, "500");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_or_unreachable_exits_3() {
    let emu = start(emulator()).await;
    let host = emu.host();
    Cli::new(&["domains", "--account", ACCOUNT, "--csds-host", &host])
        .run()
        .await
        .expect(3, "tls");
    let closed = format!("127.0.0.1:{}", crate::support::closed_port());
    Cli::new(&["domains", "--account", ACCOUNT, "--csds-host", &closed])
        .run()
        .await
        .expect(3, "domain lookup failed");
}
