//! The token cache between runs: which store `token` and `consumer-jws`
//! use (`--store`, the default directory, `--no-cache`), and `appjwt cache
//! clear`.
//!
//! A store is named by a URL; each scheme is one arm of [`StoreUrl`], of
//! [`parse_store_url`] and of [`open`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lp_appjwt::{AppJwtClient, TokenStore};
use lp_store::FileStore;
use lp_store_redis::RedisStore;

use super::origin;
use crate::args::{CacheChoice, CacheClearArgs, CacheCommand};
use crate::exit::Failure;
use crate::outln;

/// A store, as `--store` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `file:///PATH` or a plain directory path.
    File(PathBuf),
    /// `redis://` or `rediss://`, with credentials perhaps.
    Redis(RedisUrl),
}

/// A Redis URL as given; `Debug` shows it with the password redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&lp_store_redis::redact_url(&self.0))
    }
}

/// The variable that sets `--store`.
const STORE_ENV: &str = "LP_STORE";

/// Reads `--store`: `file:///PATH` (or `file://localhost/PATH`), a
/// directory path, or a `redis://` / `rediss://` URL. Any other scheme is
/// a usage error.
pub fn parse_store_url(value: &str) -> Result<StoreUrl, Failure> {
    let name = || origin("--store", STORE_ENV);
    if value.is_empty() {
        return Err(Failure::usage(format!(
            "{}: empty: expected file:///PATH, redis://HOST:PORT or a directory path",
            name()
        )));
    }
    match value.split_once("://") {
        Some(("redis" | "rediss", _)) => {
            // Read now (no IO), so a malformed URL is bad usage, exit 2;
            // the error never quotes the URL, so never its password.
            RedisStore::open(value).map_err(|e| Failure::usage(format!("{}: {e}", name())))?;
            Ok(StoreUrl::Redis(RedisUrl(value.to_owned())))
        }
        Some(("file", rest)) => {
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(Failure::usage(format!(
                    "{}: {value:?}: a file URL names an absolute path, file:///PATH",
                    name()
                )));
            }
            Ok(StoreUrl::File(PathBuf::from(path)))
        }
        Some((scheme, _)) => Err(Failure::usage(format!(
            "{}: unknown scheme {scheme}://: expected file:///PATH, redis://, rediss:// \
             or a directory path",
            name()
        ))),
        None => Ok(StoreUrl::File(PathBuf::from(value))),
    }
}

/// `$XDG_CACHE_HOME/appjwt` (an absolute `XDG_CACHE_HOME` only, as the
/// XDG spec says), else `$HOME/.cache/appjwt`; `None` when neither is set.
pub fn default_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .map(|cache| cache.join("appjwt"))
}

/// Opens the store `url` names.
pub fn open(url: &StoreUrl) -> Result<Arc<dyn TokenStore>, lp_appjwt::StoreError> {
    match url {
        StoreUrl::File(dir) => Ok(Arc::new(FileStore::open(dir)?)),
        // No IO here: the first call connects, bounded by the client's
        // store timeout, so a Redis that is down costs a run that much.
        StoreUrl::Redis(redis) => Ok(Arc::new(RedisStore::open(&redis.0)?)),
    }
}

/// After a run, one warning line on stderr if the store failed during it
/// (down, slow, refusing the credentials): the run went on without it, and
/// without `-v` nothing else would say so.
pub fn warn_if_failed(client: &AppJwtClient) {
    let Some(store) = client.status().store else {
        return;
    };
    if store.failures == 0 {
        return;
    }
    let last = store
        .last_error
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    let plural = if store.failures == 1 { "" } else { "s" };
    eprintln!(
        "appjwt: warning: the {} token store failed {} time{plural}{last}; \
         Sentinel was asked without it",
        store.name, store.failures
    );
}

/// The store for a `token` or `consumer-jws` run, if any. A malformed
/// `--store` is a usage error; a store that cannot be opened is not: the
/// run goes on without it (with `-v`, a warning says why), as it would
/// when the store fails later.
pub fn store_for(choice: &CacheChoice) -> Result<Option<Arc<dyn TokenStore>>, Failure> {
    if choice.no_cache {
        return Ok(None);
    }
    let url = match &choice.store {
        Some(value) => parse_store_url(value)?,
        None => match default_dir() {
            Some(dir) => StoreUrl::File(dir),
            None => {
                tracing::info!("no cache directory (neither XDG_CACHE_HOME nor HOME is set)");
                return Ok(None);
            }
        },
    };
    match open(&url) {
        Ok(store) => Ok(Some(store)),
        Err(e) => {
            tracing::warn!(error = %e, "token cache not used");
            Ok(None)
        }
    }
}

pub fn run(command: CacheCommand) -> Result<(), Failure> {
    match command {
        CacheCommand::Clear(a) => clear(&a),
    }
}

fn clear(a: &CacheClearArgs) -> Result<(), Failure> {
    let url = match &a.store {
        Some(value) => parse_store_url(value)?,
        None => StoreUrl::File(default_dir().ok_or_else(|| {
            Failure::usage("no cache directory: neither XDG_CACHE_HOME nor HOME is set")
        })?),
    };
    match url {
        StoreUrl::File(dir) => clear_dir(&dir),
        StoreUrl::Redis(_) => Err(Failure::usage(
            "cache clear empties a file cache; a Redis store forgets each record when its \
             token stops being handed out (keys under the prefix lp-appjwt:)",
        )),
    }
}

fn clear_dir(dir: &Path) -> Result<(), Failure> {
    if std::fs::symlink_metadata(dir).is_err() {
        return outln!("nothing to clear: {} does not exist", dir.display());
    }
    let removed = FileStore::open(dir)
        .and_then(|store| store.clear())
        .map_err(|e| Failure::usage(format!("cannot clear the cache: {e}")))?;
    let plural = if removed == 1 { "" } else { "s" };
    outln!("removed {removed} file{plural} from {}", dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        let check = |text: &str, want: Result<&str, &str>| match (parse_store_url(text), want) {
            (Ok(StoreUrl::File(p)), Ok(path)) => assert_eq!(p, PathBuf::from(path), "{text}"),
            (Ok(StoreUrl::Redis(url)), Ok(shown)) => assert_eq!(format!("{url:?}"), shown),
            (Err(e), Err(needle)) => {
                assert!(e.message.contains(needle), "{text}: {}", e.message);
                assert_eq!(e.kind, crate::exit::Kind::Usage);
            }
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        };
        check("file:///var/cache/appjwt", Ok("/var/cache/appjwt"));
        check("file://localhost/tmp/x", Ok("/tmp/x"));
        check("/tmp/plain", Ok("/tmp/plain"));
        check("relative/dir", Ok("relative/dir"));
        check("file://relative", Err("absolute path"));
        check("ftp://host/x", Err("unknown scheme ftp://"));
        check("redis://127.0.0.1:6379", Ok("redis://127.0.0.1:6379"));
        check(
            "rediss://user:hunter2@127.0.0.1:6380/0",
            Ok("rediss://user:[redacted]@127.0.0.1:6380/0"),
        );
        check("redis://:pw@127.0.0.1:6379/?x=1", Err("--store"));
        check("redis://", Err("--store"));
        check("", Err("empty"));
    }
}
