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
//!   ConsumerJWS (401 even after a fresh AppJWT, another 4xx, 5xx), a
//!   webhook whose signature does not match its body or that is for
//!   another account or client id.
//! - `2`: bad usage or malformed input: clap's usage errors (also `appjwt`
//!   without a command, which prints the help), an invalid id or host, no
//!   client secret, an unreadable file, a token that does not decode, a
//!   malformed or unsupported webhook signature header, a
//!   stdout that cannot be written (a closed pipe is not an error: the
//!   command stops quietly with 0, as `appjwt demo | head -1` expects).
//! - `3`: network trouble: connection refused, TLS handshake failure,
//!   timeout, a broken connection; also an emulator that cannot bind.
//!
//! Errors are one line on stderr, `appjwt: what failed: why; what to do`;
//! with `--format json` the last line of stderr is one JSON object
//! `{"error":"..","kind":"refused|usage|network","exit":N}` instead. Neither
//! the client secret nor a whole access token ever appears on stderr; `-v`
//! logs go to stderr under the same rule, coloured only on a terminal and
//! never when `NO_COLOR` is set.

mod args;
mod commands;
mod exit;
mod human;
mod watch;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, ConsumerFormat, TextOrJson, TokenFormat};
use crate::exit::{Failure, json_error};
use crate::watch::Watch;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    init_tracing(cli.verbose);
    let json = json_errors(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            Failure::network(format!("cannot start the async runtime: {e}")).report(json);
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(json);
            failure.code()
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Token(a) => {
            let watch = Watch::new(
                commands::allowed_attempts(&a.client),
                a.client.connection.timeout,
            );
            watch.run(commands::token::run(a, watch.clone())).await
        }
        Command::ConsumerJws(a) => {
            let watch = Watch::new(
                commands::allowed_attempts(&a.client),
                a.client.connection.timeout,
            );
            watch
                .run(commands::consumer_jws::run(a, watch.clone()))
                .await
        }
        Command::Send(a) => {
            let watch = Watch::new(
                commands::allowed_attempts(&a.client),
                a.client.connection.timeout,
            );
            watch.run(commands::send::run(a, watch.clone())).await
        }
        Command::Domains(a) => {
            // One request, never retried.
            let watch = Watch::new(1, a.connection.timeout);
            watch.run(commands::domains::run(a, watch.clone())).await
        }
        Command::Decode(a) => commands::decode::run(a).await,
        Command::Demo(a) => commands::demo::run(a).await,
        Command::Emulator(a) => commands::emulator::run(a).await,
        Command::Webhook(a) => commands::webhook::run(a),
        Command::Cache(a) => commands::cache::run(a.command),
        Command::Completions(a) => commands::completions::completions(&a),
        Command::Man(a) => commands::completions::man(&a),
    }
}

/// Whether errors are JSON: `--format json` asks for them with its output.
fn json_errors(command: &Command) -> bool {
    match command {
        Command::Token(a) => a.format == TokenFormat::Json,
        Command::ConsumerJws(a) => a.format == ConsumerFormat::Json,
        Command::Decode(a) => a.format == TextOrJson::Json,
        Command::Domains(a) => a.format == TextOrJson::Json,
        Command::Send(a) => a.format == TextOrJson::Json,
        _ => false,
    }
}

/// clap's own errors, help and version. A run that asked for `--format
/// json` also gets the JSON object as the last line of stderr, though its
/// arguments did not parse.
fn usage_error(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if !e.use_stderr() {
        // --help, --version: not an error.
        return ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let asked_json = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json");
    if asked_json {
        let first = e.to_string();
        let message = first
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        eprintln!("{}", json_error(message, "usage", 2));
    }
    ExitCode::from(2)
}

/// `-v` turns on the library's `tracing` events on stderr; `-vv` adds debug
/// detail. The libraries never put secrets or tokens into events. Colour
/// only on a terminal, and never when `NO_COLOR` is set to anything.
fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => "info",
        _ => "debug",
    };
    // `appjwt` is this binary's own crate name (its events: the cache).
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "lp_appjwt={level},lp_tower={level},lp_store={level},lp_emulator={level},lp_cli={level},appjwt={level}"
    ));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .with_target(true)
        .init();
}
