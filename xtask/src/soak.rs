//! `cargo xtask soak [SECONDS]`: the long soak/load run (default 30 s).
//!
//! It is the same test CI runs for 5 s, the `soak` test binary of
//! `integration-tests`, given a longer `SOAK_SECS`; it prints the figures RELIABILITY.md
//! quotes. Loopback only.

use std::time::Instant;

const DEFAULT_SECS: u64 = 30;

pub fn run(args: &[String]) -> Result<(), String> {
    let secs = match args {
        [] => DEFAULT_SECS,
        [secs] => secs
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| format!("soak length must be 1 to 3600 seconds, got {secs:?}"))?,
        _ => return Err("usage: cargo xtask soak [SECONDS]".to_owned()),
    };
    eprintln!("xtask: == soak == {secs} s, 64 tasks, 30% injected failures");
    let started = Instant::now();
    let status = crate::cargo()
        .args([
            "test",
            "--package",
            "integration-tests",
            "--test",
            "soak",
            "--test",
            "soak_phases",
            "--",
            "--nocapture",
        ])
        .env("SOAK_SECS", secs.to_string())
        .status()
        .map_err(|e| format!("cannot run cargo for the soak: {e}"))?;
    if !status.success() {
        return Err(format!("soak failed ({status})"));
    }
    eprintln!("xtask: soak ok in {:.0?}", started.elapsed());
    Ok(())
}
