//! Exit codes and the one-line failure every command reports.
//!
//! 0 success; 1 the server or the token said no; 2 bad usage or malformed
//! input; 3 network, TLS or timeout trouble. clap's own usage errors exit 2.
//! A closed stdout ends a command quietly with 0, as `head` expects.

use std::fmt;
use std::process::ExitCode;

use lp_appjwt::{Error, TransportErrorKind};

/// Why a command failed, with the exit code that says so to scripts.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

/// The classes of failure a script can tell apart by exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The server or the token said no.
    Refused,
    /// Bad usage or malformed input.
    Usage,
    /// Network, TLS or timeout trouble.
    Network,
    /// Whoever read stdout went away (`appjwt demo | head -1`): nothing is
    /// wrong, so nothing is printed and the exit code is 0.
    StdoutClosed,
}

impl Kind {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            Kind::StdoutClosed => 0,
            Kind::Refused => 1,
            Kind::Usage => 2,
            Kind::Network => 3,
        }
    }

    /// The `kind` member of a `--format json` error.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Refused => "refused",
            Kind::Usage => "usage",
            Kind::Network => "network",
            Kind::StdoutClosed => "stdout_closed",
        }
    }
}

impl Failure {
    pub fn refused(message: impl fmt::Display) -> Self {
        Failure {
            kind: Kind::Refused,
            message: message.to_string(),
        }
    }

    pub fn usage(message: impl fmt::Display) -> Self {
        Failure {
            kind: Kind::Usage,
            message: message.to_string(),
        }
    }

    pub fn network(message: impl fmt::Display) -> Self {
        Failure {
            kind: Kind::Network,
            message: message.to_string(),
        }
    }

    /// Writing to stdout failed. A reader that went away is the normal end
    /// of `appjwt ... | head`; anything else (a full disk) is reported.
    pub fn stdout(e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure {
                kind: Kind::StdoutClosed,
                message: String::new(),
            };
        }
        Failure::usage(format!("cannot write to stdout: {e}"))
    }

    pub fn code(&self) -> ExitCode {
        ExitCode::from(self.kind.code())
    }

    /// Classifies a facade error. The facade's messages never contain the
    /// secret or the token, so they can be shown as they are. `context`
    /// is left out when the error's own message already starts with it,
    /// so no line reads `domain lookup failed: domain lookup failed`.
    pub fn from_client(context: &str, e: &Error) -> Self {
        let text = chain(e);
        let message = if text.starts_with(context) {
            text
        } else {
            format!("{context}: {text}")
        };
        Failure {
            kind: classify(e),
            message,
        }
    }

    /// A facade error's class with a message of the caller's own.
    pub fn of(e: &Error, message: String) -> Self {
        Failure {
            kind: classify(e),
            message,
        }
    }

    /// Adds advice after the message: `...; what to do`.
    pub fn advise(mut self, advice: Option<String>) -> Self {
        if let Some(advice) = advice {
            self.message.push_str("; ");
            self.message.push_str(&advice);
        }
        self
    }

    /// Prints the failure on stderr: one `appjwt: ...` line, or with
    /// `json` one JSON object `{"error":..,"kind":..,"exit":..}`.
    pub fn report(&self, json: bool) {
        if self.kind == Kind::StdoutClosed {
            return;
        }
        if json {
            eprintln!(
                "{}",
                json_error(&self.message, self.kind.name(), self.kind.code())
            );
        } else {
            eprintln!("appjwt: {}", self.message);
        }
    }
}

/// The one-line JSON object a `--format json` run prints last on stderr,
/// its members in the documented order.
pub fn json_error(message: &str, kind: &str, exit: u8) -> String {
    #[derive(serde::Serialize)]
    struct JsonError<'a> {
        error: &'a str,
        kind: &'a str,
        exit: u8,
    }
    let error = JsonError {
        error: message,
        kind,
        exit,
    };
    // Plain strings and a number always serialise; the fallback keeps the
    // promise of one object even so.
    serde_json::to_string(&error).unwrap_or_else(|_| {
        format!("{{\"error\":\"unprintable\",\"kind\":\"{kind}\",\"exit\":{exit}}}")
    })
}

/// Whoever answered decides: any answer from the server that is not a usable
/// token (401, 429, a 5xx after the retries, a body that is not JSON or too
/// large, a token that fails validation) is the server saying no, exit 1.
/// Only when no answer arrived (refused connection, TLS failure, timeout,
/// broken connection) is it network trouble, exit 3. A setting the transport
/// cannot use (a plain `http://` host, an unusable CA file) is bad usage.
fn classify(e: &Error) -> Kind {
    match e {
        Error::Transport(t) => match t.kind() {
            TransportErrorKind::InsecureScheme | TransportErrorKind::Config => Kind::Usage,
            TransportErrorKind::BodyTooLarge => Kind::Refused,
            _ => Kind::Network,
        },
        // A remembered failure is classified like the failure itself.
        Error::DeadlineExceeded { last, .. } | Error::Backoff { last, .. } => classify(last),
        // The idp answered but handed out no ConsumerJWS (401 also after a
        // fresh AppJWT, another 4xx, 5xx after the retries, a bad body), or
        // a token came back that a header cannot carry: the server said no.
        Error::Consumer(_) | Error::ConsumerRequest(_) => Kind::Refused,
        _ => Kind::Refused,
    }
}

/// Writes one line to stdout and flushes it. Unlike `println!`, which
/// panics (exit 101) when stdout is a closed pipe, this reports a failure.
pub fn outln(args: fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{args}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::stdout(&e))
}

/// `println!` for commands: `outln!("...")?` returns the write failure.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::exit::outln(format_args!($($arg)*))
    };
}

/// `error: cause: cause`, so a TLS failure shows what rustls said and a
/// file error what the OS said. A cause whose text is already in the line
/// is not repeated.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lp_appjwt::TransportError;

    #[test]
    fn one_prefix() {
        let check = |context: &str, e: Error, want: &str| {
            assert_eq!(Failure::from_client(context, &e).message, want);
        };
        let refused = || Error::Transport(TransportError::connect());
        check(
            "cannot get a token",
            refused(),
            "cannot get a token: transport error: connection failed",
        );
        check(
            "transport error",
            refused(),
            "transport error: connection failed",
        );
    }

    #[test]
    fn json_errors_are_one_object() {
        let line = json_error("say \"no\"\nplease", "usage", 2);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("{\"error\":") && line.ends_with(",\"kind\":\"usage\",\"exit\":2}"),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"error": "say \"no\"\nplease", "kind": "usage", "exit": 2})
        );
    }

    #[test]
    fn a_broken_pipe_is_a_quiet_success() {
        let gone = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(Failure::stdout(&gone).kind.code(), 0);
        let full = std::io::Error::other("no space left on device");
        let f = Failure::stdout(&full);
        assert_eq!(f.kind.code(), 2);
        assert!(f.message.contains("no space left"), "{}", f.message);
    }
}
