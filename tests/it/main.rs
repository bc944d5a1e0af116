//! The real `lp-appjwt` client, over real TLS, against `lp-emulator` on
//! loopback. One binary so it links once.

mod consumer;
mod faults;
mod flow;
mod hygiene;
mod matrix;
mod soak;
mod support;
mod verify;
