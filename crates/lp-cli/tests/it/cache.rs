//! The token cache between runs: `appjwt token` asks Sentinel once for
//! many runs; `--no-cache`, `--store`, `appjwt cache clear`; cache files
//! that must not be trusted.

use std::path::{Path, PathBuf};

use lp_emulator::Endpoint;

use crate::support::{ACCOUNT, CLIENT_ID, Cli, Emu, SECRET, emulator, start, temp_path};

/// The cache file of the test client's token under `XDG_CACHE_HOME=home`.
fn record_file(home: &Path) -> PathBuf {
    home.join("appjwt")
        .join(format!("appjwt:v1:token:{ACCOUNT}:{CLIENT_ID}:v1.rec"))
}

async fn token_with_cache(emu: &Emu, home: &Path) -> String {
    let out = emu.token_cmd().cache_home(home).run().await;
    out.expect(0, "");
    assert!(out.stderr.is_empty(), "{out:?}");
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_runs_make_one_token_request() {
    let emu = start(emulator()).await;
    let home = temp_path("ten-runs");
    let first = token_with_cache(&emu, &home).await;
    for _ in 1..10 {
        assert_eq!(token_with_cache(&emu, &home).await, first);
    }
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
    assert_eq!(emu.handle.request_count(Endpoint::Domain), 1);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| match std::fs::metadata(p) {
            Ok(m) => m.permissions().mode() & 0o777,
            Err(e) => panic!("{}: {e}", p.display()),
        };
        assert_eq!(mode(&home.join("appjwt")), 0o700);
        assert_eq!(mode(&record_file(&home)), 0o600);
    }
    // The file holds the token sealed: neither it nor the secret in clear.
    let bytes = read(&record_file(&home));
    let token = first.trim();
    for needle in [token, "eyJ", SECRET, &token[token.len() - 20..]] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle:?} in the cache file"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_cache_every_run_asks() {
    let emu = start(emulator()).await;
    let home = temp_path("no-cache");
    for _ in 0..10 {
        let out = emu
            .token_cmd()
            .cache_home(&home)
            .args(&["--no-cache"])
            .run()
            .await;
        out.expect(0, "");
    }
    assert_eq!(emu.handle.request_count(Endpoint::Token), 10);
    assert!(!home.exists(), "--no-cache made {}", home.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_started_together_make_one_token_request() {
    let emu = start(emulator()).await;
    let home = temp_path("together");
    let runs: Vec<_> = (0..5)
        .map(|_| {
            let cmd = emu.token_cmd().cache_home(&home);
            tokio::spawn(cmd.run())
        })
        .collect();
    let mut tokens = Vec::new();
    for run in runs {
        match run.await {
            Ok(out) => {
                out.expect(0, "");
                tokens.push(out.stdout);
            }
            Err(e) => panic!("{e}"),
        }
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_jws_reuses_the_cached_app_jwt_and_domain_map() {
    let emu = start(emulator()).await;
    let home = temp_path("consumer");
    for _ in 0..2 {
        crate::consumer_jws::consumer_cmd(&emu)
            .cache_home(&home)
            .run()
            .await
            .expect(0, "");
    }
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
    assert_eq!(emu.handle.request_count(Endpoint::Consumer), 2);
    // The idp host too came from the cache: the Domain map is kept beside
    // the token.
    assert_eq!(emu.handle.request_count(Endpoint::Domain), 1);
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        panic!("{}: {e}", path.display());
    }
}

/// Something done to a good cache file, and what `-v` (or `-vv`) then
/// says about it.
struct Bad {
    what: &'static str,
    spoil: fn(&Path),
    verbose: &'static str,
    says: &'static str,
}

#[cfg(unix)]
fn bad_files() -> Vec<Bad> {
    use std::os::unix::fs::PermissionsExt;
    let mut cases = vec![
        Bad {
            what: "one flipped byte",
            spoil: |p| {
                let mut bytes = read(p);
                let last = bytes.len() - 1;
                bytes[last] ^= 0x01;
                write(p, &bytes);
            },
            verbose: "-vv",
            says: "token store record dropped",
        },
        Bad {
            what: "truncated",
            spoil: |p| {
                let bytes = read(p);
                write(p, &bytes[..12]);
            },
            verbose: "-v",
            says: "truncated or corrupt",
        },
        Bad {
            what: "a symbolic link",
            spoil: |p| {
                // To a copy of the good record elsewhere: never followed.
                let elsewhere = temp_path("link-target");
                write(&elsewhere, &read(p));
                let _ = std::fs::remove_file(p);
                if let Err(e) = std::os::unix::fs::symlink(&elsewhere, p) {
                    panic!("symlink: {e}");
                }
            },
            verbose: "-v",
            says: "symbolic link",
        },
        Bad {
            what: "world-writable",
            spoil: |p| {
                if let Err(e) = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666))
                {
                    panic!("chmod: {e}");
                }
            },
            verbose: "-v",
            says: "writable",
        },
    ];
    if nix_is_root() {
        cases.push(Bad {
            what: "another user's",
            spoil: |p| {
                if let Err(e) = std::os::unix::fs::chown(p, Some(54_321), None) {
                    panic!("chown: {e}");
                }
            },
            verbose: "-v",
            says: "another user",
        });
    }
    cases
}

/// Whether the tests run as root (then a file can be given to another
/// user): the owner of a file this process just made.
#[cfg(unix)]
fn nix_is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = temp_path("owner-probe");
    write(&probe, b"");
    std::fs::metadata(&probe).is_ok_and(|m| m.uid() == 0)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_file_that_cannot_be_trusted_is_ignored_and_replaced() {
    let emu = start(emulator()).await;
    let home = temp_path("bad-files");
    token_with_cache(&emu, &home).await;
    let mut requests = 1;
    for bad in bad_files() {
        (bad.spoil)(&record_file(&home));
        let out = emu
            .token_cmd()
            .cache_home(&home)
            .args(&[bad.verbose])
            .run()
            .await;
        out.expect(0, "");
        // Asked anew (the text may still equal the first token's: RS256
        // is deterministic, and both may be issued within one second).
        requests += 1;
        assert_eq!(
            emu.handle.request_count(Endpoint::Token),
            requests,
            "{}",
            bad.what
        );
        assert!(out.stderr.contains(bad.says), "{}: {out:?}", bad.what);
        // Replaced by a good one, which the next run takes.
        let next = token_with_cache(&emu, &home).await;
        assert_eq!(next, out.stdout, "{}", bad.what);
        assert_eq!(
            emu.handle.request_count(Endpoint::Token),
            requests,
            "{}",
            bad.what
        );
        let is_link =
            std::fs::symlink_metadata(record_file(&home)).is_ok_and(|m| m.file_type().is_symlink());
        assert!(!is_link, "{}", bad.what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_sealed_with_another_secret_is_ignored() {
    let home = temp_path("other-secret");
    // The same account and client id with another secret (a rotated one).
    let old = start(emulator().client(ACCOUNT, CLIENT_ID, "0ld-s3cret")).await;
    old.token_cmd()
        .secret_env("0ld-s3cret")
        .cache_home(&home)
        .run()
        .await
        .expect(0, "");
    assert_eq!(old.handle.request_count(Endpoint::Token), 1);

    let emu = start(emulator()).await;
    let fresh = token_with_cache(&emu, &home).await;
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
    assert_eq!(token_with_cache(&emu, &home).await, fresh);
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_names_the_cache() {
    let emu = start(emulator()).await;
    let dir = temp_path("store-url");
    let url = format!("file://{}", dir.display());
    for store in [url.as_str(), &dir.display().to_string()] {
        emu.token_cmd()
            .args(&["--store", store])
            .run()
            .await
            .expect(0, "");
    }
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
    assert!(
        dir.join(format!("appjwt:v1:token:{ACCOUNT}:{CLIENT_ID}:v1.rec"))
            .exists()
    );
    // From the environment too.
    emu.token_cmd()
        .env("LP_STORE", &url)
        .run()
        .await
        .expect(0, "");
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);

    emu.token_cmd()
        .args(&["--store", "ftp://example.com/x"])
        .run()
        .await
        .expect(2, "--store: unknown scheme ftp://");
    emu.token_cmd()
        .args(&["--store", "file://relative"])
        .run()
        .await
        .expect(2, "absolute path");
    emu.token_cmd()
        .args(&["--store", &url, "--no-cache"])
        .run()
        .await
        .expect(2, "cannot be used with");
    assert_eq!(emu.handle.request_count(Endpoint::Token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_clear_removes_only_the_tokens() {
    let emu = start(emulator()).await;
    let home = temp_path("clear");
    token_with_cache(&emu, &home).await;
    let keep = home.join("appjwt").join("notes.txt");
    write(&keep, b"mine");
    let clear = || Cli::new(&["cache", "clear"]).cache_home(&home);
    let out = clear().run().await;
    out.expect(0, "");
    assert_eq!(
        out.stdout,
        // The token and the Domain map.
        format!("removed 2 files from {}\n", home.join("appjwt").display())
    );
    assert!(!record_file(&home).exists());
    assert!(keep.exists());
    let out = clear().run().await;
    assert_eq!(
        out.stdout,
        format!("removed 0 files from {}\n", home.join("appjwt").display())
    );
    // The next run asks again.
    token_with_cache(&emu, &home).await;
    assert_eq!(emu.handle.request_count(Endpoint::Token), 2);

    let nowhere = temp_path("never-made");
    let out = Cli::new(&["cache", "clear"])
        .cache_home(&nowhere)
        .run()
        .await;
    out.expect(0, "");
    assert!(out.stdout.starts_with("nothing to clear"), "{out:?}");
    assert!(!nowhere.exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_cache_directory_only_costs_the_cache() {
    use std::os::unix::fs::PermissionsExt;
    let emu = start(emulator()).await;
    let home = temp_path("open-dir");
    let dir = home.join("appjwt");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("mkdir: {e}");
    }
    if let Err(e) = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)) {
        panic!("chmod: {e}");
    }
    // Quietly without the cache; `-v` says why.
    token_with_cache(&emu, &home).await;
    let out = emu.token_cmd().cache_home(&home).args(&["-v"]).run().await;
    out.expect(0, "");
    assert!(out.stderr.contains("token cache not used"), "{out:?}");
    assert!(out.stderr.contains("writable"), "{out:?}");
    assert_eq!(emu.handle.request_count(Endpoint::Token), 2);
    assert!(!record_file(&home).exists());
}
