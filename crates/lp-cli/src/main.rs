//! `appjwt`: get, decode and inspect LivePerson AppJWTs from a terminal.
//!
//! Run `appjwt --help` for the commands; `appjwt demo` shows the whole flow
//! against the embedded emulator without any network or setup.
//!
//! Exit codes, which scripts can rely on:
//!
//! - `0`: success.
//! - `1`: the server or the token said no: rejected credentials, an error
//!   status (4xx, or 5xx once the retries are spent), an answer that is not
//!   a usable token, a token whose signature is refused or that is expired
//!   or for another account or client, an idp that hands out no
//!   ConsumerJWS (401 even after a fresh AppJWT, another 4xx, 5xx).
//! - `2`: bad usage or malformed input: clap's usage errors (also `appjwt`
//!   without a command, which prints the help), an invalid id or host, no
//!   client secret, an unreadable file, a token that does not decode, a
//!   closed stdout.
//! - `3`: network trouble: connection refused, TLS handshake failure,
//!   timeout, a broken connection; also an emulator that cannot bind.
//!
//! Errors are one line on stderr, `appjwt: what failed: why`. Neither the
//! client secret nor a whole access token ever appears on stderr; `-v`
//! logs go to stderr under the same rule.

mod args;
mod commands;
mod exit;
mod human;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("appjwt: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Token(a) => commands::token::run(a).await,
            Command::ConsumerJws(a) => commands::consumer_jws::run(a).await,
            Command::Decode(a) => commands::decode::run(a).await,
            Command::Domains(a) => commands::domains::run(a).await,
            Command::Demo(a) => commands::demo::run(a).await,
            Command::Emulator(a) => commands::emulator::run(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("appjwt: {}", failure.message);
            failure.code()
        }
    }
}

/// `-v` turns on the library's `tracing` events on stderr; `-vv` adds debug
/// detail. The libraries never put secrets or tokens into events.
fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "lp_appjwt={level},lp_emulator={level},lp_cli={level}"
    ));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .init();
}
