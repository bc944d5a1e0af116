//! Reading a `redis://` or `rediss://` URL, and writing it back without
//! its password: the only form of the URL that Debug, Display and errors
//! ever show.

use lp_store::{StoreError, StoreErrorKind};

/// What stands for the password wherever the URL is shown.
pub(crate) const REDACTED: &str = "[redacted]";

/// The port Redis listens on when the URL names none.
const DEFAULT_PORT: u16 = 6379;

/// A checked Redis URL.
pub(crate) struct Address {
    /// The URL as given, for redis's own parser (it decodes the user name
    /// and password). Never shown.
    url: String,
    /// `rediss://`.
    tls: bool,
    /// The URL with `[redacted]` for its password.
    redacted: String,
    /// The password as written in the URL and percent-decoded, to scrub
    /// from any text a library or the OS hands us.
    secrets: Vec<String>,
}

impl Address {
    /// Checks `url`. The error says what is wrong without quoting the URL,
    /// which may hold a password.
    pub(crate) fn parse(url: &str) -> Result<Address, StoreError> {
        let bad = |why: String| StoreError::new(StoreErrorKind::Config, why);
        let parsed = url::Url::parse(url)
            .map_err(|e| bad(format!("not a redis:// or rediss:// url: {e}")))?;
        let tls = match parsed.scheme() {
            "redis" => false,
            "rediss" => true,
            _ => {
                return Err(bad(
                    "a redis url starts with redis:// or rediss:// (tls)".to_owned()
                ));
            }
        };
        // What redis's parser would refuse or read differently, refused
        // here with a clearer word.
        let host = match parsed.host_str() {
            Some(host) if !host.is_empty() => host,
            _ => return Err(bad("the redis url names no host".to_owned())),
        };
        if matches!(host, "0.0.0.0" | "[::]") {
            return Err(bad(
                "the redis url names a wildcard address (0.0.0.0 or ::), not a host".to_owned(),
            ));
        }
        let db = parsed.path().trim_matches('/');
        if !db.is_empty() && db.parse::<u32>().is_err() {
            return Err(bad(
                "the path of a redis url is a database number (redis://host:6379/0)".to_owned(),
            ));
        }
        if parsed.query().is_some() {
            return Err(bad("a redis url here takes no ?query options".to_owned()));
        }
        if parsed.fragment().is_some() {
            // redis reads `#insecure` as "skip certificate checks", which
            // this crate does not offer.
            return Err(bad(
                "a redis url here takes no #fragment (certificates are always checked)".to_owned(),
            ));
        }
        let mut secrets = Vec::new();
        if let Some(password) = parsed.password() {
            secrets.push(password.to_owned());
            secrets.push(percent_decode(password));
        }
        secrets.retain(|s| !s.is_empty());
        let port = parsed.port().unwrap_or(DEFAULT_PORT);
        let mut redacted = format!("{}://", parsed.scheme());
        if !parsed.username().is_empty() || parsed.password().is_some() {
            redacted.push_str(parsed.username());
            if parsed.password().is_some() {
                redacted.push(':');
                redacted.push_str(REDACTED);
            }
            redacted.push('@');
        }
        redacted.push_str(&format!("{host}:{port}"));
        if !db.is_empty() {
            redacted.push('/');
            redacted.push_str(db);
        }
        Ok(Address {
            url: url.to_owned(),
            tls,
            redacted,
            secrets,
        })
    }

    /// The URL itself, for redis's parser only.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// `rediss://`.
    pub(crate) fn tls(&self) -> bool {
        self.tls
    }

    /// The URL with its password replaced by `[redacted]`.
    pub(crate) fn redacted(&self) -> &str {
        &self.redacted
    }

    /// `text` with every form of the password replaced by `[redacted]`.
    /// Redis and the OS do not put the password in their messages; this
    /// makes sure of it before a message leaves the crate.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), REDACTED);
        }
        text
    }
}

/// `%XX` sequences decoded (lossily: a password that is not UTF-8 is
/// refused by redis's parser anyway).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with its password replaced by `[redacted]`, or, when it is not a
/// usable redis URL, a placeholder: a URL that does not parse is never
/// echoed, since the password may be anywhere in it.
pub fn redact_url(url: &str) -> String {
    match Address::parse(url) {
        Ok(address) => address.redacted,
        Err(_) => "<invalid redis url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, redacted: &str) {
        let address = Address::parse(url).unwrap();
        assert_eq!(address.redacted(), redacted, "{url}");
        assert_eq!(redact_url(url), redacted);
    }

    fn check_refused(url: &str, why: &str) {
        let err = Address::parse(url).err().unwrap();
        assert_eq!(err.kind(), StoreErrorKind::Config, "{url}");
        assert!(err.detail().contains(why), "{url}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(redact_url(url), "<invalid redis url>");
    }

    #[test]
    fn redacted_forms() {
        for (url, redacted) in [
            ("redis://127.0.0.1", "redis://127.0.0.1:6379"),
            ("redis://127.0.0.1:7000/", "redis://127.0.0.1:7000"),
            ("redis://127.0.0.1:7000/3", "redis://127.0.0.1:7000/3"),
            (
                "redis://:hunter2@cache:7000",
                "redis://:[redacted]@cache:7000",
            ),
            (
                "rediss://app:hunter2@cache.example:6380/1",
                "rediss://app:[redacted]@cache.example:6380/1",
            ),
            ("redis://app@cache", "redis://app@cache:6379"),
            ("redis://[::1]:7000", "redis://[::1]:7000"),
            ("REDIS://Cache:7000", "redis://Cache:7000"),
        ] {
            check(url, redacted);
        }
    }

    #[test]
    fn refused() {
        for (url, why) in [
            ("", "not a redis"),
            ("hunter2", "not a redis"),
            ("http://:hunter2@cache", "redis:// or rediss://"),
            ("unix:///tmp/redis.sock", "redis:// or rediss://"),
            ("redis://:hunter2@", "empty host"),
            ("redis://:hunter2@cache:99999", "invalid port"),
            ("redis://:hunter2@0.0.0.0", "wildcard"),
            ("redis://:hunter2@[::]:6379", "wildcard"),
            ("redis://:hunter2@cache/zero", "database number"),
            ("redis://:hunter2@cache/-1", "database number"),
            ("redis://:hunter2@cache?protocol=resp3", "query"),
            ("rediss://:hunter2@cache#insecure", "fragment"),
        ] {
            check_refused(url, why);
        }
    }

    #[test]
    fn scrubs_every_form() {
        let address = Address::parse("redis://u:p%40ss%2Fw0rd@cache").unwrap();
        assert_eq!(
            address.scrub("a p%40ss%2Fw0rd and a p@ss/w0rd"),
            "a [redacted] and a [redacted]"
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
