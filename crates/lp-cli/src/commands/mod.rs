//! One module per subcommand, plus what they share.

pub mod decode;
pub mod demo;
pub mod domains;
pub mod emulator;
pub mod token;

use std::path::Path;

use lp_appjwt::{Host, HyperTransport};
use lp_oauth::ClientSecret;

use crate::args::Connection;
use crate::exit::Failure;

/// The environment variable that carries the client secret.
pub const SECRET_ENV: &str = "LP_CLIENT_SECRET";

/// Reads the secret from `file` if given, else from `LP_CLIENT_SECRET`.
/// Never echoes it, not even in an error.
pub fn read_secret(file: Option<&Path>) -> Result<ClientSecret, Failure> {
    let raw = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read --client-secret-file {}: {e}",
                path.display()
            ))
        })?,
        None => match std::env::var(SECRET_ENV) {
            Ok(s) => s,
            Err(std::env::VarError::NotPresent) => {
                return Err(Failure::usage(format!(
                    "no client secret: set {SECRET_ENV} or pass --client-secret-file"
                )));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Failure::usage(format!("{SECRET_ENV} is not valid UTF-8")));
            }
        },
    };
    // Files written by `echo` end in a newline; it is never part of a secret.
    let trimmed = raw.trim_end_matches(['\n', '\r']);
    ClientSecret::new(trimmed).map_err(|e| Failure::usage(format!("client secret: {e}")))
}

/// Parses a `--*-host` value.
pub fn parse_host(flag: &str, value: &str) -> Result<Host, Failure> {
    Host::parse(value).map_err(|e| Failure::usage(format!("{flag}: {e}")))
}

/// The HTTPS transport, trusting the web PKI plus `--ca-file` if given.
pub fn transport(conn: &Connection) -> Result<HyperTransport, Failure> {
    let mut builder = HyperTransport::builder();
    if let Some(path) = &conn.ca_file {
        builder = builder
            .add_root_pem_file(path)
            .map_err(|e| Failure::usage(format!("--ca-file {}: {e}", path.display())))?;
    }
    builder
        .build()
        .map_err(|e| Failure::usage(format!("cannot set up HTTPS: {e}")))
}

/// Pretty JSON for people; serialisation of plain data cannot fail, but a
/// failure is still reported rather than panicking.
pub fn pretty<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}
