//! Project automation, run as `cargo xtask <command>`.
//!
//! Each step is the same cargo command a person would type; xtask only saves
//! remembering them and the order. It has no dependencies so that it builds in
//! a second on a fresh clone.

mod bench;
mod soak;

use std::env;
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci      formatting, clippy, every test (doc tests included), docs, and the
          dependency invariants; stops at the first failure
  bench   the benchmarks against the peer crates; writes BENCHMARKS.md
  soak    the long soak/load run against the emulator (CI runs a short one)
  man     the appjwt man pages (one per command) into target/man
  help    this text
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("man") => man(),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One step of a pipeline: a label and the cargo arguments.
struct Step {
    label: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

fn ci() -> Result<(), String> {
    let steps = [
        Step {
            label: "format",
            args: &["fmt", "--all", "--check"],
            env: &[],
        },
        Step {
            label: "clippy",
            args: &[
                "clippy",
                "--workspace",
                "--exclude",
                "lp-bench",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
            env: &[],
        },
        Step {
            // The facade must build with no network stack at all.
            label: "facade without default features",
            args: &[
                "clippy",
                "--package",
                "lp-appjwt",
                "--no-default-features",
                "--",
                "-D",
                "warnings",
            ],
            env: &[],
        },
        Step {
            label: "tests",
            args: &[
                "test",
                "--workspace",
                "--exclude",
                "lp-bench",
                "--all-features",
            ],
            env: &[],
        },
        Step {
            label: "docs",
            args: &[
                "doc",
                "--workspace",
                "--exclude",
                "lp-bench",
                "--no-deps",
                "--all-features",
            ],
            env: &[("RUSTDOCFLAGS", "-D warnings")],
        },
    ];
    let started = Instant::now();
    for step in &steps {
        run_cargo(step)?;
    }
    check_dependency_invariants()?;
    eprintln!("xtask: ci passed in {:.0?}", started.elapsed());
    Ok(())
}

/// `appjwt man --out-dir target/man`: the pages come from the binary's own
/// clap definition, so xtask needs no dependency for them.
fn man() -> Result<(), String> {
    let status = cargo()
        .args([
            "run",
            "--quiet",
            "--package",
            "lp-cli",
            "--bin",
            "appjwt",
            "--",
        ])
        .args(["man", "--out-dir", "target/man"])
        .status()
        .map_err(|e| format!("cannot run cargo for man: {e}"))?;
    if !status.success() {
        return Err(format!("man failed ({status})"));
    }
    Ok(())
}

pub(crate) fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn run_cargo(step: &Step) -> Result<(), String> {
    eprintln!("xtask: == {} == cargo {}", step.label, step.args.join(" "));
    let started = Instant::now();
    let mut cmd = cargo();
    cmd.args(step.args);
    for (k, v) in step.env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo for {}: {e}", step.label))?;
    if !status.success() {
        return Err(format!("{} failed ({status})", step.label));
    }
    eprintln!("xtask: {} ok in {:.0?}", step.label, started.elapsed());
    Ok(())
}

/// The crates users pick one by one must stay light: this is the promise of
/// the split, so it is checked rather than hoped for.
fn check_dependency_invariants() -> Result<(), String> {
    eprintln!("xtask: == dependency invariants ==");
    let allowed_jwt_roots = ["serde", "serde_json", "base64"];
    let direct = direct_deps("lp-jwt")?;
    if let Some(bad) = direct
        .iter()
        .find(|d| !allowed_jwt_roots.contains(&d.as_str()))
    {
        return Err(format!(
            "lp-jwt must depend only on {allowed_jwt_roots:?}, found {bad}"
        ));
    }
    // None of the protocol crates may pull in a runtime, a network stack or
    // a TLS library (with default features).
    let forbidden = ["tokio", "hyper", "rustls", "ring"];
    for krate in [
        "lp-ids",
        "lp-json",
        "lp-jwt",
        "lp-oauth",
        "lp-domain",
        "lp-consumer",
    ] {
        let deps = normal_deps(krate)?;
        let network: Vec<_> = deps
            .iter()
            .filter(|d| forbidden.contains(&d.as_str()))
            .collect();
        if !network.is_empty() {
            return Err(format!("{krate} must not depend on {network:?}"));
        }
    }
    eprintln!("xtask: dependency invariants ok");
    Ok(())
}

/// Names of all crates in `krate`'s normal (non-dev, non-build) dependency
/// tree with default features.
fn normal_deps(krate: &str) -> Result<Vec<String>, String> {
    tree(krate, &["-e", "normal"])
}

/// Names of `krate`'s direct normal dependencies.
fn direct_deps(krate: &str) -> Result<Vec<String>, String> {
    tree(krate, &["-e", "normal", "--depth", "1"])
        .map(|v| v.into_iter().filter(|d| d != krate).collect())
}

fn tree(krate: &str, extra: &[&str]) -> Result<Vec<String>, String> {
    let out = cargo()
        .args([
            "tree",
            "--quiet",
            "--package",
            krate,
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(extra)
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree for {krate} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}
