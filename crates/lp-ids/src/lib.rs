//! Validated identifiers shared by the LivePerson AppJWT crates.
//!
//! Every value that ends up in a URL or is compared against a token claim is
//! checked once, on construction, so a function that takes an [`AccountId`],
//! a [`ClientId`] or a [`Host`] can never be handed something that would
//! change the shape of a request (a `/`, a `?`, a userinfo `@`, a scheme).
//!
//! ```
//! use lp_ids::{AccountId, ClientId, Host};
//!
//! let account = AccountId::new("56072331")?;
//! let client = ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4")?;
//! let host = Host::parse("va.sentinel.liveperson.net")?;
//! assert_eq!(host.to_string(), "va.sentinel.liveperson.net");
//! assert_eq!(Host::parse("127.0.0.1:8443")?.port(), Some(8443));
//!
//! // Anything that could redirect a request elsewhere is refused.
//! assert!(AccountId::new("123/../admin").is_err());
//! assert!(Host::parse("evil.example@va.sentinel.liveperson.net").is_err());
//! assert!(Host::parse("https://va.sentinel.liveperson.net").is_err());
//! # let _ = (account, client);
//! # Ok::<(), lp_ids::IdError>(())
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Longest account id accepted. LivePerson site ids are eight to ten digits;
/// the bound only keeps garbage out.
pub const MAX_ACCOUNT_ID_LEN: usize = 64;
/// Longest client id accepted.
pub const MAX_CLIENT_ID_LEN: usize = 256;
/// Longest host name accepted (RFC 1035 section 2.3.4).
pub const MAX_HOST_LEN: usize = 253;
/// Longest label inside a host name (RFC 1035 section 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Which identifier failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdKind {
    /// An [`AccountId`].
    AccountId,
    /// A [`ClientId`].
    ClientId,
    /// A [`Host`].
    Host,
    /// A client secret (defined in `lp-oauth`).
    ClientSecret,
    /// A Domain API service name (defined in `lp-domain`).
    ServiceName,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::AccountId => "account id",
            IdKind::ClientId => "client id",
            IdKind::Host => "host",
            IdKind::ClientSecret => "client secret",
            IdKind::ServiceName => "service name",
        })
    }
}

/// Why an identifier was refused.
///
/// The offending value itself is not kept: a client id or host may come from
/// configuration next to a secret, and errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The value was empty.
    Empty {
        /// What was being parsed.
        kind: IdKind,
    },
    /// The value was longer than allowed.
    TooLong {
        /// What was being parsed.
        kind: IdKind,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character that is not allowed, at byte offset `position`.
    InvalidChar {
        /// What was being parsed.
        kind: IdKind,
        /// Byte offset of the character.
        position: usize,
        /// The character, when it is printable ASCII (otherwise `None`).
        found: Option<char>,
    },
    /// Another rule of the identifier's format was broken.
    Invalid {
        /// What was being parsed.
        kind: IdKind,
        /// What is wrong, as a complete lower-case phrase naming the kind.
        reason: &'static str,
    },
    /// The host has a structural problem (empty label, bad port, ...).
    BadHost {
        /// What is wrong, in a few words.
        reason: &'static str,
    },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty { kind } => write!(f, "{kind} is empty"),
            IdError::TooLong { kind, len, max } => {
                write!(f, "{kind} is {len} bytes long, at most {max} allowed")
            }
            IdError::InvalidChar {
                kind,
                position,
                found: Some(c),
            } => write!(f, "{kind} has invalid character {c:?} at byte {position}"),
            IdError::InvalidChar {
                kind,
                position,
                found: None,
            } => write!(f, "{kind} has an invalid character at byte {position}"),
            IdError::Invalid { reason, .. } => f.write_str(reason),
            IdError::BadHost { reason } => write!(f, "invalid host: {reason}"),
        }
    }
}

impl std::error::Error for IdError {}

fn printable(c: char) -> Option<char> {
    (c.is_ascii_graphic() || c == ' ').then_some(c)
}

fn check_chars(
    kind: IdKind,
    s: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > max {
        return Err(IdError::TooLong {
            kind,
            len: s.len(),
            max,
        });
    }
    match s.char_indices().find(|&(_, c)| !allowed(c)) {
        Some((position, c)) => Err(IdError::InvalidChar {
            kind,
            position,
            found: printable(c),
        }),
        None => Ok(()),
    }
}

/// A LivePerson account (site) id, e.g. `56072331`.
///
/// Site ids are digits in practice, but alpha and test accounts use letters
/// too (`aa`-prefixed ids, `le`-prefixed audiences), so ASCII letters, digits,
/// `-` and `_` are accepted. Nothing that could alter a URL path is: no `/`,
/// `?`, `#`, `%`, `.`, whitespace or non-ASCII.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Validates `s` as an account id.
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        check_chars(IdKind::AccountId, &s, MAX_ACCOUNT_ID_LEN, |c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_'
        })?;
        Ok(AccountId(s))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An OAuth client id (LivePerson's app installation id), e.g.
/// `75588e18-0213-4e33-8174-883acac7e3c4`.
///
/// Any visible ASCII character is accepted (the id is form-encoded on the
/// wire); whitespace, control characters and non-ASCII are not.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// Validates `s` as a client id.
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        check_chars(IdKind::ClientId, &s, MAX_CLIENT_ID_LEN, |c| {
            c.is_ascii_graphic()
        })?;
        Ok(ClientId(s))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_id_impls {
    ($t:ident) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($t)).field(&self.0).finish()
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $t::new(s)
            }
        }
        impl TryFrom<&str> for $t {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                $t::new(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $t::new(s)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
text_id_impls!(AccountId);
text_id_impls!(ClientId);

/// The name part of a [`Host`].
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum HostName {
    /// A DNS name, stored in lower case.
    Dns(String),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

/// A bare host with an optional port: `va.sentinel.liveperson.net`,
/// `127.0.0.1:8443`, `[::1]:8443`.
///
/// This is what the Domain API's `baseURI` must be before anyone sends a
/// secret to it. Refused: schemes (`https://`), paths, queries, fragments,
/// userinfo (`user@host`), whitespace, empty labels, labels over 63 bytes or
/// starting/ending with `-`, names over 253 bytes, port 0 or over 65535,
/// and anything not ASCII. DNS names are kept in lower case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Host {
    name: HostName,
    port: Option<u16>,
}

impl Host {
    /// Parses `host`, `host:port`, an IPv4 literal or a bracketed IPv6
    /// literal, each with an optional port.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const KIND: IdKind = IdKind::Host;
        if s.is_empty() {
            return Err(IdError::Empty { kind: KIND });
        }
        // Long enough for the longest name plus `:65535`, or a bracketed v6.
        let max = MAX_HOST_LEN + 6;
        if s.len() > max {
            return Err(IdError::TooLong {
                kind: KIND,
                len: s.len(),
                max,
            });
        }
        if let Some((position, c)) = s.char_indices().find(|&(_, c)| {
            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        }) {
            return Err(IdError::InvalidChar {
                kind: KIND,
                position,
                found: printable(c),
            });
        }
        let bad = |reason| Err(IdError::BadHost { reason });

        let (name, port) = if let Some(rest) = s.strip_prefix('[') {
            let Some((v6, after)) = rest.split_once(']') else {
                return bad("unclosed '[' in IPv6 literal");
            };
            let Ok(addr) = v6.parse::<Ipv6Addr>() else {
                return bad("invalid IPv6 literal");
            };
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(p) => Some(parse_port(p)?),
                    None => return bad("unexpected text after IPv6 literal"),
                },
            };
            (HostName::Ipv6(addr), port)
        } else {
            if s.contains('[') || s.contains(']') {
                return bad("brackets are only allowed around an IPv6 literal");
            }
            let (name, port) = match s.split_once(':') {
                Some((name, p)) => (name, Some(parse_port(p)?)),
                None => (s, None),
            };
            (parse_name(name)?, port)
        };
        Ok(Host { name, port })
    }

    /// The host name or address without the port, as it goes into TLS
    /// server-name checks (`::1` for an IPv6 literal, without brackets).
    pub fn hostname(&self) -> String {
        match &self.name {
            HostName::Dns(n) => n.clone(),
            HostName::Ipv4(a) => a.to_string(),
            HostName::Ipv6(a) => a.to_string(),
        }
    }

    /// The IP address, when the host is a literal address.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.name {
            HostName::Dns(_) => None,
            HostName::Ipv4(a) => Some(IpAddr::V4(a)),
            HostName::Ipv6(a) => Some(IpAddr::V6(a)),
        }
    }

    /// The explicit port, if one was given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether this host is certainly on this machine: `localhost`, or a
    /// loopback address.
    pub fn is_loopback(&self) -> bool {
        match &self.name {
            HostName::Dns(n) => n == "localhost",
            HostName::Ipv4(a) => a.is_loopback(),
            HostName::Ipv6(a) => a.is_loopback(),
        }
    }
}

fn parse_port(p: &str) -> Result<u16, IdError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::BadHost {
            reason: "port must be 1 to 65535",
        });
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(IdError::BadHost {
            reason: "port must be 1 to 65535",
        }),
        Ok(n) => Ok(n),
    }
}

fn parse_name(name: &str) -> Result<HostName, IdError> {
    let bad = |reason| Err(IdError::BadHost { reason });
    if name.is_empty() {
        return bad("empty host name");
    }
    if name.len() > MAX_HOST_LEN {
        return Err(IdError::TooLong {
            kind: IdKind::Host,
            len: name.len(),
            max: MAX_HOST_LEN,
        });
    }
    // A name made of digits and dots only must be a valid IPv4 address;
    // otherwise `1.2.3` or `999.1.1.1` would be sent to a resolver.
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return match name.parse::<Ipv4Addr>() {
            Ok(a) => Ok(HostName::Ipv4(a)),
            Err(_) => bad("invalid IPv4 address"),
        };
    }
    // One trailing dot (a fully qualified name) is tolerated and dropped.
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    for label in trimmed.split('.') {
        if label.is_empty() {
            return bad("empty label in host name");
        }
        if label.len() > MAX_LABEL_LEN {
            return bad("label longer than 63 bytes in host name");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("label starts or ends with '-' in host name");
        }
        if label.contains(':') {
            return bad("unexpected ':' in host name");
        }
    }
    Ok(HostName::Dns(trimmed.to_ascii_lowercase()))
}

impl fmt::Display for Host {
    /// `name`, `name:port`, or `[v6]:port`: the form an HTTP authority takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            HostName::Dns(n) => f.write_str(n)?,
            HostName::Ipv4(a) => write!(f, "{a}")?,
            HostName::Ipv6(a) => write!(f, "[{a}]")?,
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Host({self})")
    }
}

impl FromStr for Host {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Host::parse(s)
    }
}

impl TryFrom<&str> for Host {
    type Error = IdError;
    fn try_from(s: &str) -> Result<Self, IdError> {
        Host::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_host(input: &str, expected: Result<&str, &str>) {
        let got = Host::parse(input)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string());
        let expected = expected.map(str::to_owned).map_err(str::to_owned);
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn hosts() {
        check_host(
            "va.sentinel.liveperson.net",
            Ok("va.sentinel.liveperson.net"),
        );
        check_host(
            "VA.Sentinel.LivePerson.net.",
            Ok("va.sentinel.liveperson.net"),
        );
        check_host("localhost:8443", Ok("localhost:8443"));
        check_host("127.0.0.1:1", Ok("127.0.0.1:1"));
        check_host("[::1]:65535", Ok("[::1]:65535"));
        check_host("[::1]", Ok("[::1]"));
        check_host("", Err("host is empty"));
        check_host(
            "https://a.b",
            Err("host has invalid character '/' at byte 6"),
        );
        check_host("a.b/path", Err("host has invalid character '/' at byte 3"));
        check_host("evil@a.b", Err("host has invalid character '@' at byte 4"));
        check_host("a b", Err("host has invalid character ' ' at byte 1"));
        check_host("a..b", Err("invalid host: empty label in host name"));
        check_host(".a", Err("invalid host: empty label in host name"));
        check_host("a:0", Err("invalid host: port must be 1 to 65535"));
        check_host("a:65536", Err("invalid host: port must be 1 to 65535"));
        check_host("a:", Err("invalid host: port must be 1 to 65535"));
        check_host("a:1:2", Err("invalid host: port must be 1 to 65535"));
        check_host(
            "-a.b",
            Err("invalid host: label starts or ends with '-' in host name"),
        );
        check_host("999.1.1.1", Err("invalid host: invalid IPv4 address"));
        check_host("[::1", Err("invalid host: unclosed '[' in IPv6 literal"));
        check_host(
            "[::1]x",
            Err("invalid host: unexpected text after IPv6 literal"),
        );
        check_host(
            "a]b",
            Err("invalid host: brackets are only allowed around an IPv6 literal"),
        );
        check_host("é.com", Err("host has an invalid character at byte 0"));
        let long_label = format!("{}.com", "a".repeat(64));
        check_host(
            &long_label,
            Err("invalid host: label longer than 63 bytes in host name"),
        );
        let long = ["a".repeat(63).as_str(); 5].join(".");
        check_host(&long, Err("host is 319 bytes long, at most 259 allowed"));
    }

    #[test]
    fn loopback() {
        for h in ["localhost", "127.0.0.1:9", "127.8.0.1", "[::1]:1"] {
            assert!(
                Host::parse(h).map(|h| h.is_loopback()).unwrap_or(false),
                "{h}"
            );
        }
        for h in ["example.com", "10.0.0.1", "[::2]"] {
            assert!(
                !Host::parse(h).map(|h| h.is_loopback()).unwrap_or(true),
                "{h}"
            );
        }
    }

    #[test]
    fn account_ids() {
        for ok in ["56072331", "le81823118", "aa12345", "a-b_c"] {
            assert_eq!(AccountId::new(ok).map(|a| a.to_string()), Ok(ok.to_owned()));
        }
        for bad in ["", "1/2", "1?x", "1#x", "1%2f", "..", "1 2", "1\n", "١٢"] {
            assert!(AccountId::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            AccountId::new("a".repeat(65)),
            Err(IdError::TooLong {
                kind: IdKind::AccountId,
                len: 65,
                max: MAX_ACCOUNT_ID_LEN
            })
        );
    }

    #[test]
    fn client_ids() {
        assert!(ClientId::new("75588e18-0213-4e33-8174-883acac7e3c4").is_ok());
        assert!(ClientId::new("a&b=c").is_ok());
        for bad in ["", "a b", "a\tb", "ä"] {
            assert!(ClientId::new(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn host_parse_never_panics_and_round_trips(s in "\\PC{0,300}") {
            if let Ok(h) = Host::parse(&s) {
                let again = Host::parse(&h.to_string());
                prop_assert_eq!(again, Ok(h));
            }
        }

        #[test]
        fn valid_hosts_round_trip(
            labels in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 1..5),
            port in prop::option::of(1u16..),
        ) {
            let mut s = labels.join(".");
            if let Some(p) = port { s = format!("{s}:{p}"); }
            // All-digit names are IPv4 candidates; skip those here.
            prop_assume!(!labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())));
            let h = Host::parse(&s);
            prop_assert_eq!(h.map(|h| h.to_string()), Ok(s));
        }

        #[test]
        fn account_ids_never_contain_url_syntax(s in "\\PC{0,80}") {
            if let Ok(a) = AccountId::new(s) {
                prop_assert!(!a.as_str().contains(['/', '?', '#', '%', '.', ' ']));
            }
        }
    }
}
