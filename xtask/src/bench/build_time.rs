//! Target 8's build time: a clean release build of a binary that makes one
//! cold `token()` (Domain API lookup, then the token request), written with
//! lp-appjwt and with oauth2 + reqwest, each in a throw-away project with
//! an empty target directory, the two taking turns.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Clean builds per contender; the order alternates by round.
pub const ROUNDS: usize = 3;

/// What the two binaries do, for the report.
pub const WHAT: &str = "`main` on a current-thread tokio runtime: look up the account's \
    `sentinel` host with the Domain API, fetch one token, print its length. lp-appjwt: \
    `AppJwtClient::builder(..).build()?.token().await?` (default features: it also checks \
    the signature and the claims). oauth2 + reqwest: the lookup by hand with reqwest and \
    serde_json, then oauth2's `exchange_client_credentials().request_async(&http)` (as \
    section 3c's contender)";

/// One contender: its dependency lines and its `main.rs`.
pub struct Subject {
    pub name: &'static str,
    pub deps: String,
    main: &'static str,
}

/// Seconds of each clean build, per contender, in round order, and what
/// `cargo build --timings` says each unit (crate, build script) took in it.
pub struct BuildTimes {
    pub subjects: Vec<Subject>,
    pub seconds: Vec<Vec<f64>>,
    /// Per contender, per round: (`name version`, seconds), units of one
    /// crate summed.
    pub units: Vec<Vec<Vec<(String, f64)>>>,
}

const OURS: &str = r#"use lp_appjwt::{AccountId, AppJwtClient, ClientId, ClientSecret};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = AppJwtClient::builder(
        AccountId::new("56072331")?,
        ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4")?,
        ClientSecret::new(std::env::var("SECRET")?)?,
    )
    .build()?;
    let token = client.token().await?;
    println!("{}", token.secret().len());
    Ok(())
}
"#;

const PEER: &str = r#"use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, TokenResponse as _, TokenUrl};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let account = "56072331";
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let body = http
        .get(format!(
            "https://api.liveperson.net/api/account/{account}/service/baseURI.json?version=1.0"
        ))
        .send()
        .await?
        .bytes()
        .await?;
    let map: serde_json::Value = serde_json::from_slice(&body)?;
    let sentinel = map["baseURIs"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["service"] == "sentinel"))
        .and_then(|s| s["baseURI"].as_str())
        .ok_or("no sentinel in the map")?
        .to_owned();
    let client = BasicClient::new(ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4".into()))
        .set_client_secret(ClientSecret::new(std::env::var("SECRET")?))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(format!(
            "https://{sentinel}/sentinel/api/account/{account}/app/token?v=1.0"
        ))?);
    let token = client
        .exchange_client_credentials()
        .request_async(&http)
        .await?;
    println!("{}", token.access_token().secret().len());
    Ok(())
}
"#;

/// The two contenders, with the versions of this workspace's lockfile.
pub fn subjects(
    root: &Path,
    version: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<Subject>, String> {
    let tokio = format!(
        "tokio = {{ version = \"={}\", features = [\"rt\", \"macros\"] }}",
        version("tokio")?
    );
    Ok(vec![
        Subject {
            name: "lp-appjwt",
            deps: format!(
                "lp-appjwt = {{ path = \"{}\" }}\n{tokio}",
                root.join("crates").join("lp-appjwt").display()
            ),
            main: OURS,
        },
        Subject {
            name: "oauth2 + reqwest",
            deps: format!(
                "oauth2 = {{ version = \"={}\", default-features = false, features = [\"reqwest\", \"rustls-tls\"] }}\n\
                 reqwest = {{ version = \"={}\", default-features = false, features = [\"rustls-tls\", \"http2\"] }}\n\
                 serde_json = \"={}\"\n{tokio}",
                version("oauth2")?,
                version("reqwest")?,
                version("serde_json")?
            ),
            main: PEER,
        },
    ])
}

/// Builds each subject `ROUNDS` times in release, offline, from an empty
/// target directory (removed again after each build), the subjects taking
/// turns: round `r` starts with subject `r % n`.
pub fn measure(base: &Path, lock: &[u8], subjects: Vec<Subject>) -> Result<BuildTimes, String> {
    let n = subjects.len();
    let mut seconds = vec![Vec::with_capacity(ROUNDS); n];
    let mut units = vec![Vec::with_capacity(ROUNDS); n];
    let dirs: Vec<PathBuf> = (0..n).map(|i| base.join(format!("build{i}"))).collect();
    for (dir, s) in dirs.iter().zip(&subjects) {
        write_project(dir, &s.deps, s.main, lock)?;
    }
    for r in 0..ROUNDS {
        for k in 0..n {
            let i = (r + k) % n;
            eprintln!(
                "xtask: clean release build {} of {ROUNDS}: {}",
                r + 1,
                subjects[i].name
            );
            let (secs, unit_times) = clean_build(&dirs[i])?;
            seconds[i].push(secs);
            units[i].push(unit_times);
        }
    }
    Ok(BuildTimes {
        subjects,
        seconds,
        units,
    })
}

fn write_project(dir: &Path, deps: &str, main: &str, lock: &[u8]) -> Result<(), String> {
    fs::create_dir_all(dir.join("src"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let manifest = format!(
        "[package]\nname = \"build-subject\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\n{deps}\n\n# Its own workspace, not a member of the one above.\n[workspace]\n"
    );
    for (path, bytes) in [
        (dir.join("Cargo.toml"), manifest.as_bytes()),
        (dir.join("src").join("main.rs"), main.as_bytes()),
        (dir.join("Cargo.lock"), lock),
    ] {
        fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Seconds of `cargo build --release --offline --timings` in `dir` from an
/// empty target directory, and the units' times from its timing report.
fn clean_build(dir: &Path) -> Result<(f64, Vec<(String, f64)>), String> {
    let target = dir.join("target");
    let clear = || match fs::remove_dir_all(&target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot clear {}: {e}", target.display())),
    };
    clear()?;
    let started = Instant::now();
    let out = crate::cargo()
        .args(["build", "--release", "--offline", "--quiet", "--timings"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTC_WRAPPER")
        .output()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    let report = fs::read_to_string(target.join("cargo-timings").join("cargo-timing.html"));
    clear()?;
    if !out.status.success() {
        return Err(format!(
            "clean build in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let units = report.map(|r| unit_times(&r)).unwrap_or_default();
    Ok((secs, units))
}

/// The units of a `cargo build --timings` report (its `UNIT_DATA`): each
/// unit's `duration`, summed per `name version` (a crate's build script
/// and its library are one entry). Empty when the report has no such
/// table.
pub fn unit_times(report: &str) -> Vec<(String, f64)> {
    let Some(start) = report.find("UNIT_DATA = [") else {
        return Vec::new();
    };
    let data = &report[start..];
    let data = &data[..data.find("];").unwrap_or(data.len())];
    let field = |obj: &str, key: &str| -> Option<String> {
        let at = obj.find(&format!("\"{key}\":"))? + key.len() + 3;
        let rest = obj[at..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            &quoted[..quoted.find('"')?]
        } else {
            &rest[..rest.find([',', '}']).unwrap_or(rest.len())]
        };
        Some(value.trim().to_owned())
    };
    let mut out: Vec<(String, f64)> = Vec::new();
    // Each unit object starts with its index, `"i":`.
    for obj in data.split("\"i\":").skip(1) {
        let (Some(name), Some(version), Some(duration)) = (
            field(obj, "name"),
            field(obj, "version"),
            field(obj, "duration").and_then(|d| d.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let key = format!("{name} {version}");
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, total)) => *total += duration,
            None => out.push((key, duration)),
        }
    }
    out
}

impl BuildTimes {
    /// Saves the times as lines `name<TAB>seconds…`, for `--report-only`.
    pub fn save(&self, file: &Path) -> Result<(), String> {
        let text: String = self
            .subjects
            .iter()
            .zip(&self.seconds)
            .map(|(s, t)| {
                let t: Vec<String> = t.iter().map(|x| format!("{x:.2}")).collect();
                format!("{}\t{}\n", s.name, t.join(" "))
            })
            .chain(
                self.subjects
                    .iter()
                    .zip(&self.units)
                    .flat_map(|(s, rounds)| {
                        rounds.iter().enumerate().flat_map(move |(r, units)| {
                            units
                                .iter()
                                .map(move |(u, t)| format!("unit\t{}\t{r}\t{u}\t{t:.3}\n", s.name))
                        })
                    }),
            )
            .collect();
        fs::write(file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))
    }

    /// The times [`BuildTimes::save`] wrote, for `subjects`.
    pub fn load(file: &Path, subjects: Vec<Subject>) -> Result<Self, String> {
        let text =
            fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let seconds = subjects
            .iter()
            .map(|s| {
                text.lines()
                    .find_map(|l| l.strip_prefix(s.name)?.strip_prefix('\t'))
                    .map(|t| t.split(' ').filter_map(|x| x.parse().ok()).collect())
                    .ok_or_else(|| format!("{}: no times for {}", file.display(), s.name))
            })
            .collect::<Result<_, _>>()?;
        let units = subjects
            .iter()
            .map(|s| {
                let mut rounds: Vec<Vec<(String, f64)>> = Vec::new();
                for line in text.lines() {
                    let f: Vec<&str> = line.split('\t').collect();
                    let [tag, name, round, unit, secs] = f[..] else {
                        continue;
                    };
                    let (Ok(round), Ok(secs)) = (round.parse::<usize>(), secs.parse::<f64>())
                    else {
                        continue;
                    };
                    if tag != "unit" || name != s.name {
                        continue;
                    }
                    if rounds.len() <= round {
                        rounds.resize(round + 1, Vec::new());
                    }
                    rounds[round].push((unit.to_owned(), secs));
                }
                rounds
            })
            .collect();
        Ok(BuildTimes {
            subjects,
            seconds,
            units,
        })
    }

    /// Per round, the first subject's time over the second's: median, min
    /// and max over the rounds.
    pub fn ratio(&self) -> Option<[f64; 3]> {
        let (a, b) = (self.seconds.first()?, self.seconds.get(1)?);
        let mut per: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
        per.sort_by(f64::total_cmp);
        Some([*per.get(per.len() / 2)?, *per.first()?, *per.last()?])
    }

    /// From the timing reports, median over rounds: the summed unit times
    /// of crates in both builds (per subject), and of those in one build
    /// only (per subject, with its largest crates, largest first).
    pub fn breakdown(&self) -> Option<Breakdown> {
        let (a, b) = (self.units.first()?, self.units.get(1)?);
        let names = |rounds: &Vec<Vec<(String, f64)>>| -> Vec<String> {
            rounds
                .first()
                .map(|u| u.iter().map(|(k, _)| k.clone()).collect())
                .unwrap_or_default()
        };
        let (in_a, in_b) = (names(a), names(b));
        if in_a.is_empty() || in_b.is_empty() {
            return None;
        }
        let median_of = |rounds: &Vec<Vec<(String, f64)>>, keep: &dyn Fn(&str) -> bool| {
            let mut sums: Vec<f64> = rounds
                .iter()
                .map(|u| u.iter().filter(|(k, _)| keep(k)).map(|(_, t)| t).sum())
                .collect();
            sums.sort_by(f64::total_cmp);
            sums.get(sums.len() / 2).copied().unwrap_or(0.0)
        };
        let largest = |rounds: &Vec<Vec<(String, f64)>>, other: &[String]| {
            let mut own: Vec<(String, f64)> = names(rounds)
                .into_iter()
                .filter(|k| !other.contains(k))
                .map(|k| {
                    let t = median_of(rounds, &|u: &str| u == k);
                    (k, t)
                })
                .collect();
            own.sort_by(|x, y| y.1.total_cmp(&x.1));
            own
        };
        Some(Breakdown {
            shared: [
                median_of(a, &|k| in_b.iter().any(|n| n == k)),
                median_of(b, &|k| in_a.iter().any(|n| n == k)),
            ],
            own: [
                median_of(a, &|k| !in_b.iter().any(|n| n == k)),
                median_of(b, &|k| !in_a.iter().any(|n| n == k)),
            ],
            largest: [largest(a, &in_b), largest(b, &in_a)],
        })
    }

    /// The median build time of subject `i`.
    pub fn median(&self, i: usize) -> Option<f64> {
        let mut v = self.seconds.get(i)?.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }
}

/// Where the two builds' time went, from their timing reports.
pub struct Breakdown {
    /// Summed unit seconds of the crates both builds compile, in each.
    pub shared: [f64; 2],
    /// Summed unit seconds of the crates only one build compiles.
    pub own: [f64; 2],
    /// Those crates with their seconds, largest first, per build.
    pub largest: [Vec<(String, f64)>; 2],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_times_sum_a_crates_units() {
        let report = r#"<script>
const UNIT_DATA = [
  {"i":0,"name":"ring","version":"0.17.14","mode":"run-custom-build","target":"","start":1.0,"duration":6.5,"rmeta_time":null,"unlocked_units":[1]},
  {"i":1,"name":"ring","version":"0.17.14","mode":"todo","target":"","start":7.5,"duration":4.25,"rmeta_time":2.0,"unlocked_units":[]},
  {
    "i": 2,
    "name": "lp-appjwt",
    "version": "0.1.0",
    "features": ["default"],
    "start": 9.0,
    "duration": 9,
    "sections": null
  }
];
const CONCURRENCY_DATA = [];
</script>"#;
        assert_eq!(
            unit_times(report),
            vec![
                ("ring 0.17.14".to_owned(), 10.75),
                ("lp-appjwt 0.1.0".to_owned(), 9.0)
            ]
        );
        assert!(unit_times("<html>no table</html>").is_empty());
    }
}
