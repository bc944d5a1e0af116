//! Exit codes and the one-line failure every command reports.
//!
//! 0 success; 1 the server or the token said no; 2 bad usage or malformed
//! input; 3 network, TLS or timeout trouble. clap's own usage errors exit 2.

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

    /// Writing to stdout failed, e.g. the reader of a pipe went away.
    pub fn stdout(e: &std::io::Error) -> Self {
        Failure::usage(format!("cannot write to stdout: {e}"))
    }

    pub fn code(&self) -> ExitCode {
        ExitCode::from(match self.kind {
            Kind::Refused => 1,
            Kind::Usage => 2,
            Kind::Network => 3,
        })
    }

    /// Classifies a facade error. The facade's messages never contain the
    /// secret or the token, so they can be shown as they are.
    pub fn from_client(context: &str, e: &Error) -> Self {
        let kind = classify(e);
        Failure {
            kind,
            message: format!("{context}: {}", chain(e)),
        }
    }
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
        Error::DeadlineExceeded { last, .. } => classify(last),
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

/// `error: cause: cause`, so a TLS failure shows what rustls said.
fn chain(e: &dyn std::error::Error) -> String {
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
