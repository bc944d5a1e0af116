//! The middleware between a fake Send API and a client over a fake
//! LivePerson (one test binary).

mod hyper;
mod ladder;
mod registry;
mod support;
mod transport;
