//! The emulator driven over real sockets by a small hyper + rustls client.
//!
//! One binary for all integration tests (links once).

mod support;

mod consumer;
mod curl;
mod domain;
mod faults;
mod fuzz;
mod jwks;
mod lifecycle;
mod send_api;
mod send_api_refusals;
mod token;
