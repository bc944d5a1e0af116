//! lp-store-redis against a real `redis-server` (the workspace harness):
//! the store's operations, its leases, the faults a fleet meets (Redis
//! down, killed, restarted, hung, a wrong password, garbage), TLS, and
//! that no text of the store ever holds the password.

mod faults;
mod operations;
mod redaction;
mod support;
#[cfg(feature = "tls")]
mod tls;
