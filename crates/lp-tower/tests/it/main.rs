//! The middleware between a fake Send API and a client over a fake
//! LivePerson (one test binary).

mod ladder;
mod support;
