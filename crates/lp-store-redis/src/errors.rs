//! redis's errors and answers, turned into [`StoreError`]s whose kind is
//! what the facade decides on and whose text never carries a credential.

use lp_store::{StoreError, StoreErrorKind};
use redis::{ErrorKind, RedisError, Value};

use crate::address::Address;

/// The kind of `err`, and a short lower-case reason for it.
///
/// Only text that cannot come from the URL goes into the reason: redis's
/// own fixed descriptions, the OS's I/O errors and the server's error
/// *code*; never the server's free text, which echoes arguments.
pub(crate) fn classify(err: &RedisError) -> (StoreErrorKind, String) {
    use StoreErrorKind::*;
    if err.is_timeout() {
        return (Timeout, "no answer in time".to_owned());
    }
    match err.kind() {
        ErrorKind::AuthenticationFailed => {
            (Denied, "the user name or password was refused".to_owned())
        }
        ErrorKind::Io => (Unavailable, lower_first(&err.to_string())),
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => (
            Protocol,
            "the answer is not a redis answer this store can read".to_owned(),
        ),
        ErrorKind::InvalidClientConfig => (Config, lower_first(&err.to_string())),
        ErrorKind::Server(_) | ErrorKind::Extension => {
            let code = err.code().unwrap_or("?");
            let kind = match code {
                "NOAUTH" | "WRONGPASS" | "NOPERM" => Denied,
                // The server is there but cannot serve now.
                "LOADING" | "BUSY" | "READONLY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN"
                | "MISCONF" | "OOM" => Unavailable,
                // A cluster node answering for a slot it does not own.
                "MOVED" | "ASK" | "CROSSSLOT" => Config,
                _ => Protocol,
            };
            let reason = match kind {
                Denied => format!("redis refused access ({code})"),
                Config => format!("redis cluster mode is not supported ({code})"),
                _ => format!("redis answered an error ({code})"),
            };
            (kind, reason)
        }
        _ => (Protocol, format!("redis client error ({})", err.category())),
    }
}

/// A [`StoreError`] for `err` during `what`, naming the server by its
/// redacted URL.
pub(crate) fn store_error(address: &Address, what: &str, err: &RedisError) -> StoreError {
    let (kind, reason) = classify(err);
    StoreError::new(
        kind,
        address.scrub(&format!("{} ({what}): {reason}", address.redacted())),
    )
}

/// A [`StoreError`] for an answer of the wrong type.
pub(crate) fn unexpected(address: &Address, what: &str, value: &Value) -> StoreError {
    StoreError::new(
        StoreErrorKind::Protocol,
        format!(
            "{} ({what}): unexpected answer: {}",
            address.redacted(),
            value_kind(value)
        ),
    )
}

/// The type of a reply, for errors (never its content, which may be a
/// sealed record).
pub(crate) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) => "a bulk string",
        Value::Array(_) => "an array",
        Value::SimpleString(_) => "a status",
        Value::Okay => "OK",
        Value::Map(_) => "a map",
        Value::Attribute { .. } => "an attribute",
        Value::Set(_) => "a set",
        Value::Double(_) => "a double",
        Value::Boolean(_) => "a boolean",
        Value::VerbatimString { .. } => "a verbatim string",
        Value::BigNumber(_) => "a big number",
        Value::Push { .. } => "a push",
        Value::ServerError(_) => "an error",
        _ => "an unknown type",
    }
}

/// Whether the connection that gave `err` must be dropped: it died or can
/// no longer be trusted to be in step with the server. A timeout is not
/// one: a slow server may still answer, and a new connection would not be
/// faster.
pub(crate) fn connection_is_broken(err: &RedisError) -> bool {
    if err.is_timeout() {
        return false;
    }
    err.is_unrecoverable_error() || err.is_io_error()
}

/// "Connection refused" → "connection refused": the house style is lower
/// case, and OS messages start with a capital.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(err: RedisError, kind: StoreErrorKind, reason: &str) {
        let (got_kind, got_reason) = classify(&err);
        assert_eq!(got_kind, kind, "{err}");
        assert!(got_reason.contains(reason), "{got_reason}");
    }

    #[test]
    fn kinds() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        check(
            refused.into(),
            StoreErrorKind::Unavailable,
            "connection refused",
        );
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        check(timed_out.into(), StoreErrorKind::Timeout, "in time");
        check(
            (
                ErrorKind::AuthenticationFailed,
                "Password authentication failed",
            )
                .into(),
            StoreErrorKind::Denied,
            "refused",
        );
        check(
            redis::make_extension_error("NOAUTH".into(), Some("Authentication required.".into())),
            StoreErrorKind::Denied,
            "NOAUTH",
        );
        check(
            redis::make_extension_error("WRONGTYPE".into(), Some("Operation against".into())),
            StoreErrorKind::Protocol,
            "WRONGTYPE",
        );
        check(
            (ErrorKind::UnexpectedReturnType, "wrong type").into(),
            StoreErrorKind::Protocol,
            "not a redis answer",
        );
    }

    #[test]
    fn server_text_is_not_quoted() {
        let err = redis::make_extension_error("ERR".into(), Some("echo of hunter2".into()));
        let (_, reason) = classify(&err);
        assert!(!reason.contains("hunter2"), "{reason}");
    }

    #[test]
    fn broken_or_not() {
        let dropped = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(connection_is_broken(&dropped.into()));
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert!(!connection_is_broken(&timed_out.into()));
        let wrongtype = redis::make_extension_error("WRONGTYPE".into(), None);
        assert!(!connection_is_broken(&wrongtype));
    }
}
