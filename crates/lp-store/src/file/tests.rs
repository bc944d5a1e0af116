use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};

use super::*;

/// The file store's futures do their work when first polled.
fn now<T>(fut: impl Future<Output = T>) -> T {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a file store call did not finish at once"),
    }
}

fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("lp-store-test-{}-{n}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn key() -> RecordKey {
    RecordKey::new("appjwt:v1:token:56072331:client-1:v1").unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn records_round_trip_and_expire() {
    let store = FileStore::open(scratch("round-trip").join("a/b")).unwrap();
    let k = key();
    assert_eq!(now(store.get(&k)), Ok(None));
    now(store.put(&k, b"sealed bytes", HOUR)).unwrap();
    assert_eq!(now(store.get(&k)), Ok(Some(b"sealed bytes".to_vec())));
    now(store.put(&k, b"newer", HOUR)).unwrap();
    assert_eq!(now(store.get(&k)), Ok(Some(b"newer".to_vec())));
    now(store.delete(&k)).unwrap();
    assert_eq!(now(store.get(&k)), Ok(None));
    now(store.delete(&k)).unwrap();
    // A record whose time to live has passed is gone, and its file too.
    now(store.put(&k, b"short", Duration::ZERO)).unwrap();
    assert_eq!(now(store.get(&k)), Ok(None));
    assert!(!store.path(&k, RECORD_SUFFIX).exists());
    // No temporary file is left behind.
    let left: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[cfg(unix)]
#[test]
fn directory_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let store = FileStore::open(scratch("modes")).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(store.dir()), 0o700);
    now(store.put(&key(), b"x", HOUR)).unwrap();
    assert_eq!(mode(&store.path(&key(), RECORD_SUFFIX)), 0o600);
    let LeaseOutcome::Acquired(_) = now(store.try_lease(&key(), HOUR)).unwrap() else {
        panic!("no lease");
    };
    assert_eq!(mode(&store.path(&key(), LEASE_SUFFIX)), 0o600);
}

#[test]
fn one_lease_at_a_time() {
    let store = FileStore::open(scratch("lease")).unwrap();
    let other = FileStore::open(store.dir()).unwrap();
    let k = key();
    let LeaseOutcome::Acquired(lease) = now(store.try_lease(&k, HOUR)).unwrap() else {
        panic!("no lease");
    };
    assert_eq!(
        now(other.try_lease(&k, HOUR)),
        Ok(LeaseOutcome::HeldByOther)
    );
    // A release with another owner id leaves the lease alone.
    now(other.release(&Lease::new(k.clone(), "not-the-owner"))).unwrap();
    assert_eq!(
        now(other.try_lease(&k, HOUR)),
        Ok(LeaseOutcome::HeldByOther)
    );
    now(store.release(&lease)).unwrap();
    let LeaseOutcome::Acquired(second) = now(other.try_lease(&k, HOUR)).unwrap() else {
        panic!("lease not free after release");
    };
    assert_ne!(second.owner(), lease.owner());
}

#[test]
fn an_expired_lease_is_taken_over() {
    let store = FileStore::open(scratch("stale")).unwrap();
    let k = key();
    let LeaseOutcome::Acquired(dead) = now(store.try_lease(&k, Duration::ZERO)).unwrap() else {
        panic!("no lease");
    };
    let LeaseOutcome::Acquired(next) = now(store.try_lease(&k, HOUR)).unwrap() else {
        panic!("stale lease not replaced");
    };
    // The dead holder's late release does not remove the new lease.
    now(store.release(&dead)).unwrap();
    assert_eq!(
        now(store.try_lease(&k, HOUR)),
        Ok(LeaseOutcome::HeldByOther)
    );
    now(store.release(&next)).unwrap();
}

#[test]
fn a_lease_being_written_counts_as_held() {
    let store = FileStore::open(scratch("half-lease")).unwrap();
    let k = key();
    // Created but not yet written by its holder: a fresh empty file.
    create_private_file(&store.path(&k, LEASE_SUFFIX)).unwrap();
    assert_eq!(
        now(store.try_lease(&k, HOUR)),
        Ok(LeaseOutcome::HeldByOther)
    );
    // The same empty file, once older than the lease's time to live.
    assert!(matches!(
        now(store.try_lease(&k, Duration::ZERO)),
        Ok(LeaseOutcome::Acquired(_))
    ));
}

/// Writes `bytes` as the record file of `key()` in `store`, by hand.
fn plant(store: &FileStore, bytes: &[u8]) -> PathBuf {
    let path = store.path(&key(), RECORD_SUFFIX);
    let _ = fs::remove_file(&path);
    let mut f = create_private_file(&path).unwrap();
    f.write_all(bytes).unwrap();
    path
}

fn check_refused(store: &FileStore, needle: &str) {
    match now(store.get(&key())) {
        Err(e) => assert!(e.to_string().contains(needle), "{e}"),
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn corrupt_and_truncated_files_are_refused() {
    let store = FileStore::open(scratch("corrupt")).unwrap();
    plant(&store, b"");
    check_refused(&store, "truncated or corrupt");
    plant(&store, b"lpstore1\x00\x00");
    check_refused(&store, "truncated or corrupt");
    plant(&store, b"garbage that is long enough to have a header");
    check_refused(&store, "truncated or corrupt");
    // A record over a corrupt file replaces it.
    now(store.put(&key(), b"good", HOUR)).unwrap();
    assert_eq!(now(store.get(&key())), Ok(Some(b"good".to_vec())));
}

#[cfg(unix)]
#[test]
fn links_and_files_others_may_write_are_never_trusted() {
    use std::os::unix::fs::PermissionsExt;
    let store = FileStore::open(scratch("unsafe")).unwrap();
    let k = key();
    // A symbolic link to a valid record elsewhere: not followed.
    let elsewhere = scratch("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let target = elsewhere.join("target");
    let mut valid = header(RECORD_MAGIC, expiry_after(HOUR));
    valid.extend_from_slice(b"planted");
    fs::write(&target, &valid).unwrap();
    std::os::unix::fs::symlink(&target, store.path(&k, RECORD_SUFFIX)).unwrap();
    check_refused(&store, "symbolic link");
    // Writing replaces the link itself; the target is untouched.
    now(store.put(&k, b"ours", HOUR)).unwrap();
    assert_eq!(fs::read(&target).unwrap(), valid);
    assert_eq!(now(store.get(&k)), Ok(Some(b"ours".to_vec())));

    // A valid record that others may write.
    let path = plant(&store, &valid);
    for mode in [0o620, 0o602, 0o666] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        check_refused(&store, "writable");
    }

    // A valid record of another user (needs root to make one).
    if nix::unistd::geteuid().is_root() {
        let path = plant(&store, &valid);
        std::os::unix::fs::chown(&path, Some(54_321), None).unwrap();
        check_refused(&store, "another user");
        // Nor is another user's lease honoured.
        let lease = store.path(&k, LEASE_SUFFIX);
        let mut held = header(LEASE_MAGIC, expiry_after(HOUR));
        held.extend_from_slice(b"someone");
        fs::write(&lease, held).unwrap();
        fs::set_permissions(&lease, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&lease, Some(54_321), None).unwrap();
        assert!(matches!(
            now(store.try_lease(&k, HOUR)),
            Ok(LeaseOutcome::Acquired(_))
        ));
    }
}

#[cfg(unix)]
#[test]
fn an_unsafe_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("open-dir");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let err = FileStore::open(&dir).unwrap_err();
    assert!(err.to_string().contains("writable"), "{err}");

    let real = scratch("real-dir");
    fs::create_dir_all(&real).unwrap();
    let link = scratch("link-dir");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let err = FileStore::open(&link).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");

    // A directory that becomes unsafe after opening fails every call.
    let store = FileStore::open(scratch("later")).unwrap();
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o757)).unwrap();
    assert_eq!(
        now(store.get(&key())).unwrap_err().kind(),
        StoreErrorKind::Denied
    );
    assert!(now(store.put(&key(), b"x", HOUR)).is_err());
}

#[test]
fn clear_removes_only_this_stores_files() {
    let store = FileStore::open(scratch("clear")).unwrap();
    now(store.put(&key(), b"x", HOUR)).unwrap();
    let other = RecordKey::new("appjwt:v1:token:1:c:v2").unwrap();
    now(store.put(&other, b"y", HOUR)).unwrap();
    let LeaseOutcome::Acquired(_) = now(store.try_lease(&key(), HOUR)).unwrap() else {
        panic!("no lease");
    };
    let temp = store
        .dir()
        .join(format!(".{}.0123abcd.tmp", key().as_str()));
    fs::write(&temp, b"half").unwrap();
    let keep = [
        "notes.txt",
        "rec",
        ".rec",
        "a b.rec",
        ".k.tmp",
        ".k.xyz.tmp",
    ];
    for name in keep {
        fs::write(store.dir().join(name), b"not ours").unwrap();
    }
    assert_eq!(store.clear(), Ok(4));
    let mut left: Vec<String> = fs::read_dir(store.dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want: Vec<String> = keep.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(left, want);
}

#[test]
fn names_of_this_stores_files() {
    for (name, ours) in [
        ("appjwt:v1:token:1:c:v1.rec", true),
        ("appjwt:v1:token:1:c:v1.lock", true),
        (".appjwt:v1:token:1:c:v1.00ff.tmp", true),
        (".appjwt:v1:token:1:c:v1.tmp", false),
        (".appjwt:v1:token:1:c:v1.zz.tmp", false),
        ("appjwt:v1:token:1:c:v1", false),
        (".rec", false),
        ("-x.rec", false),
        ("a b.lock", false),
    ] {
        assert_eq!(is_ours(name), ours, "{name}");
    }
}
