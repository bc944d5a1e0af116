//! What the harnesses of real programs (tinyproxy, redis-server) share:
//! finding the program, the CI rule for a missing one, and starting it
//! again on another port when the one found free was taken meanwhile.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where `name` (a Debian package's program of the same name) is
/// installed. `None` only outside CI, after printing the skip; with
/// `CI=true` a missing program fails the test.
pub(crate) fn require(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{name} is not installed: `.ci/run` installs it (apt-get install {name})");
        }
        eprintln!("SKIPPED: {name} is not installed (apt-get install -y {name})");
    }
    found
}

/// `launch` (which picks a free port itself) until it succeeds, five times
/// at most: a port found free can be taken before the program binds it.
pub(crate) fn launch_retrying<T>(name: &str, mut launch: impl FnMut() -> Result<T, String>) -> T {
    let mut last = String::new();
    for _ in 0..5 {
        match launch() {
            Ok(running) => return running,
            Err(why) => last = why,
        }
    }
    panic!("{name} did not start: {last}");
}

/// A new directory for one run of `name`'s files (configuration, log),
/// unique in this process and among processes.
pub(crate) fn scratch_dir(name: &str) -> Result<PathBuf, String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lp-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    Ok(dir)
}
