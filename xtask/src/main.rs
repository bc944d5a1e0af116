//! Project automation, run as `cargo xtask <command>`.
//!
//! Each step is the same cargo command a person would type; xtask only saves
//! remembering them and the order. It has no dependencies so that it builds in
//! a second on a fresh clone.

mod bench;
mod soak;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci      manifests, formatting, clippy, every feature of every crate on its
          own, every test (doc tests included), docs, packaging, and the
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
    // Cheap checks of the manifests first: they need no build.
    let members = members()?;
    check_manifests(&members)?;
    let (format, rest) = steps.split_at(1);
    for step in format {
        run_cargo(step)?;
    }
    let (clippy, rest) = rest.split_at(1);
    for step in clippy {
        run_cargo(step)?;
    }
    check_feature_matrix(&members)?;
    for step in rest {
        run_cargo(step)?;
    }
    package(&members)?;
    check_dependency_invariants()?;
    eprintln!("xtask: ci passed in {:.0?}", started.elapsed());
    Ok(())
}

/// One workspace member: its folder, its name, whether it is published,
/// and its own features (without `default`).
struct Member {
    dir: PathBuf,
    name: String,
    published: bool,
    features: Vec<String>,
}

/// Every member of the workspace, read from the manifests. The members are
/// `crates/*` plus `xtask`, `tests` and `bench`, as the root manifest says.
fn members() -> Result<Vec<Member>, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or("xtask has no parent folder")?;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .map_err(|e| format!("cannot list crates/: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs.extend(["xtask", "tests", "bench"].map(|d| root.join(d)));
    dirs.into_iter()
        .map(|dir| {
            let path = dir.join("Cargo.toml");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let name = manifest_value(&text, "package", "name")
                .ok_or_else(|| format!("{}: no package name", path.display()))?;
            let published = manifest_value(&text, "package", "publish").as_deref() != Some("false");
            let features = manifest_keys(&text, "features")
                .into_iter()
                .filter(|f| f != "default")
                .collect();
            Ok(Member {
                dir,
                name,
                published,
                features,
            })
        })
        .collect()
}

/// The keys of `[section]` in a manifest. A line-based reading is enough
/// for this workspace's own manifests, which keep one key per line.
fn manifest_keys(text: &str, section: &str) -> Vec<String> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
        } else if inside && !line.starts_with('#') {
            if let Some((key, _)) = line.split_once('=') {
                keys.push(key.trim().to_owned());
            }
        }
    }
    keys
}

/// `key = "value"` (or a bare value such as `false`) in `[section]`.
fn manifest_value(text: &str, section: &str, key: &str) -> Option<String> {
    let header = format!("[{section}]");
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().trim_matches('"').to_owned());
                }
            }
        }
    }
    None
}

/// What a crate on crates.io needs, and what keeps every crate under the
/// shared lints and `rust-version`: clippy's `incompatible_msrv` reads the
/// crate's own `rust-version`, so a crate without it would not be held to
/// the workspace's.
fn check_manifests(members: &[Member]) -> Result<(), String> {
    eprintln!("xtask: == manifests ==");
    for m in members {
        let path = m.dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let lints = manifest_value(&text, "lints", "workspace");
        if lints.as_deref() != Some("true") {
            return Err(format!("{}: needs `[lints] workspace = true`", m.name));
        }
        if manifest_value(&text, "package", "rust-version.workspace").as_deref() != Some("true") {
            return Err(format!("{}: needs `rust-version.workspace = true`", m.name));
        }
        if !m.published {
            continue;
        }
        for key in [
            "description",
            "license.workspace",
            "documentation",
            "readme",
            "keywords",
            "categories",
        ] {
            if manifest_value(&text, "package", key).is_none() {
                return Err(format!("{}: a published crate needs `{key}`", m.name));
            }
        }
        if !m.dir.join("README.md").is_file() {
            return Err(format!("{}: a published crate needs a README.md", m.name));
        }
    }
    eprintln!("xtask: manifests ok");
    Ok(())
}

/// Every published crate with features is linted with no feature, with
/// each feature alone and with all of them, so that no combination a user
/// can pick fails to build or warns. Only the library and binaries
/// (cargo's default targets): the test targets need the features they are written for, and run with all
/// features in the test step. A crate without features builds the same
/// in every case, which the workspace clippy step already covers.
fn check_feature_matrix(members: &[Member]) -> Result<(), String> {
    for m in members
        .iter()
        .filter(|m| m.published && !m.features.is_empty())
    {
        let mut sets: Vec<Vec<String>> = vec![vec!["--no-default-features".to_owned()]];
        for feature in &m.features {
            sets.push(vec![
                "--no-default-features".to_owned(),
                "--features".to_owned(),
                feature.clone(),
            ]);
        }
        sets.push(vec!["--all-features".to_owned()]);
        for set in sets {
            let mut args = vec![
                "clippy".to_owned(),
                "--quiet".to_owned(),
                "--package".to_owned(),
                m.name.clone(),
            ];
            args.extend(set.iter().cloned());
            args.extend(["--", "-D", "warnings"].map(str::to_owned));
            let label = format!("{} {}", m.name, set.join(" "));
            run_cargo_owned(&label, &args)?;
        }
    }
    Ok(())
}

/// `cargo package` for every published crate in one go: cargo packs them
/// in dependency order and builds each from its `.crate` file, resolving
/// the workspace's own crates from the files it just packed (a local
/// overlay of crates.io) and the others from the registry at the versions
/// of Cargo.lock.
fn package(members: &[Member]) -> Result<(), String> {
    // `--allow-dirty`: ci runs before a commit too; what is checked is the
    // working tree, as for every other step.
    let mut args: Vec<String> = ["package", "--workspace", "--locked", "--allow-dirty"]
        .map(str::to_owned)
        .to_vec();
    for m in members.iter().filter(|m| !m.published) {
        args.extend(["--exclude".to_owned(), m.name.clone()]);
    }
    forget_packed_builds(members);
    run_cargo_owned("package", &args)
}

/// Cargo treats what comes from a registry as unchanging: once it has
/// unpacked `lp-emulator 0.1.0` from the packing overlay and built it, a
/// later `cargo package` reuses that source and that build although the
/// crate changed since (the version did not, and the unpacked files carry
/// the tarball's fixed mtime). The next crate's check then compiles against
/// the old API. So the overlay's unpacked sources and the builds made from
/// them are dropped first; the crates' own path builds are kept, and
/// nothing of this exists on a fresh machine.
fn forget_packed_builds(members: &[Member]) {
    let published: Vec<&str> = members
        .iter()
        .filter(|m| m.published)
        .map(|m| m.name.as_str())
        .collect();
    let ours = |name: &str| {
        published.iter().any(|p| {
            name.strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('-'))
        })
    };
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    // The overlay is a local registry: its folder name has no host part
    // and starts with `-`.
    if let Some(src) = cargo_home.map(|h| h.join("registry").join("src")) {
        for registry in entries(&src).filter(|p| file_name(p).starts_with('-')) {
            for unpacked in entries(&registry).filter(|p| ours(file_name(p))) {
                let _ = std::fs::remove_dir_all(unpacked);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let debug = root.join("../target/debug");
    for build in entries(&debug.join(".fingerprint")).filter(|p| ours(file_name(p))) {
        // `lp-appjwt-HASH` is a build from the overlay when its dep-info,
        // `deps/lp_appjwt-HASH.d`, names sources under the overlay's
        // unpacked folder. (Cargo checks those sources by mtime, and the
        // unpacked files keep the tarball's old one: never newer.)
        let name = file_name(&build);
        let Some((krate, hash)) = name.rsplit_once('-') else {
            continue;
        };
        let dep_info = debug
            .join("deps")
            .join(format!("{}-{hash}.d", krate.replace('-', "_")));
        let from_overlay =
            std::fs::read_to_string(dep_info).is_ok_and(|t| t.contains("/registry/src/-"));
        if from_overlay {
            let _ = std::fs::remove_dir_all(&build);
        }
    }
}

/// The entries of `dir`, none if it cannot be read.
fn entries(dir: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

fn run_cargo_owned(label: &str, args: &[String]) -> Result<(), String> {
    run_cargo_with(label, args, &[])
}

fn run_cargo_with(label: &str, args: &[String], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("xtask: == {label} == cargo {}", args.join(" "));
    let started = Instant::now();
    let status = cargo()
        .args(args)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("cannot run cargo for {label}: {e}"))?;
    if !status.success() {
        return Err(format!("{label} failed ({status})"));
    }
    eprintln!("xtask: {label} ok in {:.0?}", started.elapsed());
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
    let args: Vec<String> = step.args.iter().map(|a| (*a).to_owned()).collect();
    run_cargo_with(step.label, &args, step.env)
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
    // a TLS library (with default features). lp-webhook needs ring for the
    // HMAC it checks, and nothing else of the list: a signature check is
    // still bytes in, verdict out.
    let forbidden = ["tokio", "hyper", "rustls", "ring"];
    let none: &[&str] = &[];
    for (krate, allowed) in [
        ("lp-ids", none),
        ("lp-json", none),
        ("lp-jwt", none),
        ("lp-oauth", none),
        ("lp-domain", none),
        ("lp-consumer", none),
        ("lp-webhook", &["ring"]),
    ] {
        let deps = normal_deps(krate)?;
        let network: Vec<_> = deps
            .iter()
            .filter(|d| forbidden.contains(&d.as_str()) && !allowed.contains(&d.as_str()))
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
