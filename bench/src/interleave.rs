//! Interleaved rounds: contenders take turns in one loop, each timing a
//! batch of calls per round, and every ratio is taken per round, so drift
//! of a shared machine over the run weighs on all contenders alike.
//!
//! ```
//! use lp_bench::interleave::{rounds, summarise, timed};
//!
//! let contenders = [("a", timed(|| 1 + 1)), ("b", timed(|| 2 * 2))];
//! let ns = rounds(&contenders, 5, 10);
//! assert_eq!((ns.len(), ns[0].len()), (2, 5));
//! let json = summarise("g", &["a", "b"], &ns, 10, &[("b", "a")]);
//! assert!(json.starts_with("\"g\":{\"rounds\":5,\"batch\":10,"));
//! ```

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A contender: runs its work `n` times and says how long that took.
pub type Timed = Box<dyn Fn(u32) -> Duration>;

/// A contender timing `batch` calls of `f`, monomorphised so the loop is
/// the same for each.
pub fn timed<R>(f: impl Fn() -> R + 'static) -> Timed {
    Box::new(move |batch| {
        let started = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        started.elapsed()
    })
}

/// Nanoseconds per call of every contender in each of `count` rounds:
/// round `r` runs the contenders in turn starting from `r % n`, after one
/// untimed round.
pub fn rounds(contenders: &[(&str, Timed)], count: usize, batch: u32) -> Vec<Vec<f64>> {
    let n = contenders.len();
    for (_, run) in contenders {
        run(batch);
    }
    let mut ns = vec![Vec::with_capacity(count); n];
    for r in 0..count {
        for k in 0..n {
            let i = (r + k) % n;
            let elapsed = contenders[i].1(batch);
            ns[i].push(elapsed.as_nanos() as f64 / f64::from(batch));
        }
    }
    ns
}

/// The median (the upper one of an even count; 0 when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `"group":{"rounds":..,"batch":..,"median_ns":{..},"ratio":{..}}`, each
/// ratio `over / under` per round (median, min, max), printed too. `names`
/// are the contenders in the order of `ns`; a ratio naming another is left
/// out.
pub fn summarise(
    group: &str,
    names: &[&str],
    ns: &[Vec<f64>],
    batch: u32,
    ratios: &[(&str, &str)],
) -> String {
    let count = ns.first().map_or(0, Vec::len);
    let index = |name: &str| names.iter().position(|n| *n == name);
    let mut json = format!("\"{group}\":{{\"rounds\":{count},\"batch\":{batch},\"median_ns\":{{");
    for (i, name) in names.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let mid = median(ns.get(i).cloned().unwrap_or_default());
        println!("{group} interleaved: {name} median {mid:.1} ns");
        let _ = write!(json, "{sep}\"{name}\":{mid:.1}");
    }
    json.push_str("},\"ratio\":{");
    let mut sep = "";
    for (over, under) in ratios {
        let (Some(a), Some(b)) = (
            index(over).and_then(|i| ns.get(i)),
            index(under).and_then(|i| ns.get(i)),
        ) else {
            continue;
        };
        let per_round: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
        let (lo, hi) = per_round.iter().fold((f64::INFINITY, 0f64), |(lo, hi), r| {
            (lo.min(*r), hi.max(*r))
        });
        let mid = median(per_round);
        println!(
            "{group} interleaved: {over} / {under} = {mid:.3} (min {lo:.3}, max {hi:.3}, {count} rounds)"
        );
        let _ = write!(
            json,
            "{sep}\"{over}/{under}\":{{\"median\":{mid:.4},\"min\":{lo:.4},\"max\":{hi:.4}}}"
        );
        sep = ",";
    }
    json.push_str("}}");
    json
}

/// Writes `{json}` as `$CRITERION_HOME/{dir}/summary.json` for `cargo
/// xtask bench` (nothing without `CRITERION_HOME`).
pub fn write_summary(dir: &str, json: &str) -> std::io::Result<()> {
    let Some(home) = std::env::var_os("CRITERION_HOME") else {
        return Ok(());
    };
    let dir = std::path::Path::new(&home).join(dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("summary.json"), format!("{{{json}}}"))
}
