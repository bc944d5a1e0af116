//! [`FileStore`]: records as files in a private directory (feature `file`).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Lease, LeaseOutcome, RecordKey, StoreError, StoreErrorKind, StoreFuture, TokenStore};

/// The first bytes of a record file.
const RECORD_MAGIC: &[u8; 8] = b"lpstore1";
/// The first bytes of a lease file.
const LEASE_MAGIC: &[u8; 8] = b"lplease1";
/// The largest file read: a record is a few hundred bytes.
const MAX_FILE: u64 = 256 * 1024;

const RECORD_SUFFIX: &str = ".rec";
const LEASE_SUFFIX: &str = ".lock";
const TEMP_SUFFIX: &str = ".tmp";

/// A [`TokenStore`] over a private directory.
///
/// Made for the `appjwt` CLI, whose runs are separate processes that
/// should share one token, and usable by a few processes on one host.
///
/// - The directory is created with mode 0700 if missing; one that is a
///   symbolic link, not owned by this user, or group/world-writable is
///   refused (every call fails, so the client fetches without the store).
/// - One file per record key, `{key}.rec`, mode 0600: a header, the expiry
///   (Unix milliseconds) and the record. Written to a temporary file in the
///   same directory, `fsync`ed and renamed over the old one, so a reader
///   sees the old record or the new one, never half of one.
/// - The lease is `{key}.lock`, created with `create_new` (`O_EXCL`),
///   holding its expiry and a random owner id; an expired one is replaced.
/// - A file that is a symbolic link (opened with `O_NOFOLLOW`), owned by
///   another user, group/world-writable, truncated or corrupt is never
///   followed or trusted: reading it is an error, and writing replaces it.
///
/// The file IO is done on the calling thread: the files are a few hundred
/// bytes on a local disk.
///
/// The permission and owner checks are unix-only; elsewhere the store
/// works with the platform's default permissions and only the symlink
/// check applies.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// A store in `dir`, created (mode 0700, parents as needed) if missing.
    /// Fails when the directory cannot be created, or is not one this
    /// user alone may write to.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        if fs::symlink_metadata(&dir).is_err() {
            create_private_dir(&dir).map_err(|e| io_error("cannot create", &dir, &e))?;
        }
        let store = FileStore { dir };
        store.check_dir()?;
        Ok(store)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes every file this store writes (records, leases, temporary
    /// files) and nothing else; returns how many were removed.
    pub fn clear(&self) -> Result<usize, StoreError> {
        self.check_dir()?;
        let entries =
            fs::read_dir(&self.dir).map_err(|e| io_error("cannot list", &self.dir, &e))?;
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_ours(name) {
                continue;
            }
            // A symbolic link or directory of that name was not written here.
            let plain_file = entry.file_type().is_ok_and(|t| t.is_file());
            if plain_file && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn path(&self, key: &RecordKey, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", file_stem(key)))
    }

    /// The directory must still be ours: not a link, ours, not writable
    /// by others.
    fn check_dir(&self) -> Result<(), StoreError> {
        let meta =
            fs::symlink_metadata(&self.dir).map_err(|e| io_error("cannot read", &self.dir, &e))?;
        if meta.file_type().is_symlink() {
            return Err(refused(&self.dir, "is a symbolic link"));
        }
        if !meta.is_dir() {
            return Err(refused(&self.dir, "is not a directory"));
        }
        check_owner_and_mode(&self.dir, &meta)
    }

    /// The checked bytes of `path`; `None` if there is no such file.
    fn read_checked(&self, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        let mut file = match open_no_follow(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if is_symlink_refusal(&e) => {
                return Err(refused(path, "is a symbolic link, ignored"));
            }
            Err(e) => return Err(io_error("cannot open", path, &e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| io_error("cannot read", path, &e))?;
        if !meta.is_file() {
            return Err(refused(path, "is not a regular file, ignored"));
        }
        check_owner_and_mode(path, &meta)?;
        if meta.len() > MAX_FILE {
            return Err(corrupt(path, "is too large"));
        }
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_FILE)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error("cannot read", path, &e))?;
        Ok(Some(bytes))
    }

    fn get_now(&self, key: &RecordKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_dir()?;
        let path = self.path(key, RECORD_SUFFIX);
        let Some(bytes) = self.read_checked(&path)? else {
            return Ok(None);
        };
        let (expiry, record) = split_header(RECORD_MAGIC, &bytes)
            .ok_or_else(|| corrupt(&path, "is truncated or corrupt, ignored"))?;
        if expiry <= now_ms() {
            // Expired: as if absent. Removed so that the directory does
            // not fill up with old records.
            let _ = fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(record.to_vec()))
    }

    fn put_now(&self, key: &RecordKey, record: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.check_dir()?;
        let path = self.path(key, RECORD_SUFFIX);
        let mut contents = header(RECORD_MAGIC, expiry_after(ttl));
        contents.extend_from_slice(record);
        self.write_atomically(key, &path, &contents)
    }

    /// Writes `contents` to a fresh temporary file, syncs it and renames it
    /// to `path` (replacing whatever was there, a link included, without
    /// following it), then syncs the directory.
    fn write_atomically(
        &self,
        key: &RecordKey,
        path: &Path,
        contents: &[u8],
    ) -> Result<(), StoreError> {
        let temp = self
            .dir
            .join(format!(".{}.{}{TEMP_SUFFIX}", file_stem(key), random_id()));
        let written = create_private_file(&temp).and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        });
        let renamed = written.and_then(|()| fs::rename(&temp, path));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&temp);
            return Err(io_error("cannot write", path, &e));
        }
        // Makes the rename itself durable; a failure here loses nothing
        // but durability, so it is not an error.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn delete_now(&self, key: &RecordKey) -> Result<(), StoreError> {
        self.check_dir()?;
        let path = self.path(key, RECORD_SUFFIX);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("cannot remove", &path, &e)),
        }
    }

    fn lease_now(&self, key: &RecordKey, ttl: Duration) -> Result<LeaseOutcome, StoreError> {
        self.check_dir()?;
        let path = self.path(key, LEASE_SUFFIX);
        // Twice at most: once more after replacing a stale lease.
        for _ in 0..2 {
            let owner = random_id();
            match create_private_file(&path) {
                Ok(mut f) => {
                    let mut contents = header(LEASE_MAGIC, expiry_after(ttl));
                    contents.extend_from_slice(owner.as_bytes());
                    f.write_all(&contents)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| io_error("cannot write", &path, &e))?;
                    return Ok(LeaseOutcome::Acquired(Lease::new(key.clone(), owner)));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("cannot create", &path, &e)),
            }
            if !self.lease_is_stale(&path, ttl) {
                return Ok(LeaseOutcome::HeldByOther);
            }
            // Two processes may both find the same stale lease and the
            // second remove the first's new one; both then fetch. The
            // lease only saves requests, so that race costs one request,
            // never a wrong token.
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("cannot replace", &path, &e)),
            }
        }
        Ok(LeaseOutcome::HeldByOther)
    }

    /// Whether the lease file at `path` may be replaced: expired, or not a
    /// lease file this user wrote. One that cannot be read yet (another
    /// process is writing it) counts as held while it is younger than
    /// `ttl`.
    fn lease_is_stale(&self, path: &Path, ttl: Duration) -> bool {
        match self.read_checked(path) {
            Ok(Some(bytes)) => match split_header(LEASE_MAGIC, &bytes) {
                Some((expiry, _)) => expiry <= now_ms(),
                None => fs::symlink_metadata(path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_none_or(|age| age > ttl),
            },
            // Gone meanwhile: nothing to replace, try to create it again.
            Ok(None) => true,
            // A link, another user's file, a writable one: never a lease.
            Err(_) => true,
        }
    }

    fn release_now(&self, lease: &Lease) -> Result<(), StoreError> {
        self.check_dir()?;
        let path = self.path(lease.key(), LEASE_SUFFIX);
        let Some(bytes) = self.read_checked(&path)? else {
            return Ok(());
        };
        let ours = split_header(LEASE_MAGIC, &bytes)
            .is_some_and(|(_, owner)| owner == lease.owner().as_bytes());
        // Between this check and the removal another process could replace
        // an expired lease of ours; as above, that costs one request.
        if ours {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("cannot remove", &path, &e)),
            }
        }
        Ok(())
    }
}

impl TokenStore for FileStore {
    fn name(&self) -> &'static str {
        "file"
    }

    fn get<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.get_now(key) })
    }

    fn put<'a>(
        &'a self,
        key: &'a RecordKey,
        record: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.put_now(key, record, ttl) })
    }

    fn delete<'a>(&'a self, key: &'a RecordKey) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.delete_now(key) })
    }

    fn try_lease<'a>(&'a self, key: &'a RecordKey, ttl: Duration) -> StoreFuture<'a, LeaseOutcome> {
        Box::pin(async move { self.lease_now(key, ttl) })
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.release_now(lease) })
    }
}

/// The file name of a key's files, less the suffix. Keys are safe file
/// names (no `/`, no leading `.`); only Windows refuses their `:`, which
/// becomes `=` there (a character keys never hold, so names stay unique).
fn file_stem(key: &RecordKey) -> String {
    if cfg!(windows) {
        key.as_str().replace(':', "=")
    } else {
        key.as_str().to_owned()
    }
}

/// Whether `name` is a file this store writes: `{key}.rec`, `{key}.lock`
/// or `.{key}.{id}.tmp`.
fn is_ours(name: &str) -> bool {
    let key_ok = |stem: &str| {
        let stem = if cfg!(windows) {
            stem.replace('=', ":")
        } else {
            stem.to_owned()
        };
        RecordKey::new(stem).is_ok()
    };
    if let Some(stem) = name
        .strip_suffix(RECORD_SUFFIX)
        .or_else(|| name.strip_suffix(LEASE_SUFFIX))
    {
        return key_ok(stem);
    }
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(stem, id)| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()) && key_ok(stem)
        })
}

fn header(magic: &[u8; 8], expiry_ms: u64) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&expiry_ms.to_be_bytes());
    out
}

/// The expiry and the rest of a file that starts with `magic`.
fn split_header<'a>(magic: &[u8; 8], bytes: &'a [u8]) -> Option<(u64, &'a [u8])> {
    let rest = bytes.strip_prefix(magic.as_slice())?;
    if rest.len() < 8 {
        return None;
    }
    let (expiry, rest) = rest.split_at(8);
    let mut e = [0u8; 8];
    e.copy_from_slice(expiry);
    Some((u64::from_be_bytes(e), rest))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn expiry_after(ttl: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// 16 hex digits, different per call and per process: std's hasher keys
/// are drawn from the OS for each `RandomState`. An owner id is not a
/// credential, only a name no other process will pick.
fn random_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

fn io_error(what: &str, path: &Path, e: &io::Error) -> StoreError {
    let kind = if e.kind() == io::ErrorKind::PermissionDenied {
        StoreErrorKind::Denied
    } else {
        StoreErrorKind::Unavailable
    };
    StoreError::new(kind, format!("{what} {}: {e}", path.display()))
}

fn refused(path: &Path, why: &str) -> StoreError {
    StoreError::new(StoreErrorKind::Denied, format!("{} {why}", path.display()))
}

fn corrupt(path: &Path, why: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Protocol,
        format!("{} {why}", path.display()),
    )
}

#[cfg(unix)]
mod platform {
    use std::fs::{self, File, Metadata, OpenOptions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use crate::StoreError;

    pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }

    pub(super) fn create_private_file(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
    }

    /// Opens for reading without following a final symbolic link: the
    /// kernel refuses it (`ELOOP`), so no check-then-open race exists.
    pub(super) fn open_no_follow(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
    }

    pub(super) fn is_symlink_refusal(e: &io::Error) -> bool {
        e.raw_os_error() == Some(nix::libc::ELOOP)
    }

    /// Owned by this process's effective user, and writable by nobody else.
    pub(super) fn check_owner_and_mode(path: &Path, meta: &Metadata) -> Result<(), StoreError> {
        if meta.uid() != nix::unistd::geteuid().as_raw() {
            return Err(super::refused(path, "is owned by another user, ignored"));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(super::refused(path, "is group- or world-writable, ignored"));
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod platform {
    //! Without unix permissions: no owner or mode checks (documented), and
    //! the symbolic link check is made before opening, which leaves a
    //! window between the check and the open that `O_NOFOLLOW` closes on
    //! unix.
    use std::fs::{self, File, Metadata, OpenOptions};
    use std::io;
    use std::path::Path;

    use crate::StoreError;

    pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    pub(super) fn create_private_file(path: &Path) -> io::Result<File> {
        OpenOptions::new().write(true).create_new(true).open(path)
    }

    pub(super) fn open_no_follow(path: &Path) -> io::Result<File> {
        if fs::symlink_metadata(path)?.file_type().is_symlink() {
            return Err(io::Error::other("symbolic link"));
        }
        File::open(path)
    }

    pub(super) fn is_symlink_refusal(e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::Other
    }

    pub(super) fn check_owner_and_mode(_path: &Path, _meta: &Metadata) -> Result<(), StoreError> {
        Ok(())
    }
}

use platform::{
    check_owner_and_mode, create_private_dir, create_private_file, is_symlink_refusal,
    open_no_follow,
};

#[cfg(test)]
mod tests;
