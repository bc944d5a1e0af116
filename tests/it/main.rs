//! The real `lp-appjwt` client, over real TLS, against `lp-emulator` on
//! loopback. One binary so it links once; the soak (`tests/soak.rs`) and the
//! log-capturing hygiene test (`tests/hygiene.rs`) each need a process of
//! their own.

mod blocking;
mod consumer;
mod faults;
mod flow;
mod matrix;
mod proxy;
mod send_api;
mod send_support;
mod support;
mod verify;
