//! Integration tests for the `appjwt` binary: each runs the built binary as
//! a child process, most against an emulator in this test process on
//! loopback, and checks exit code, stdout and stderr.
//!
//! Every run goes through [`support::Cli::run`], which also checks what must
//! hold for every command: no panic (exit 101), the client secret in neither
//! stdout nor stderr, and no whole token in stderr.

mod advice;
mod cache;
mod consumer_jws;
mod decode;
mod demo;
mod domains;
mod emulator;
mod env;
mod output;
mod proxy;
mod readme;
mod redis_store;
mod roots;
mod send;
mod support;
mod token;
mod usage;
mod waiting;
mod webhook;
