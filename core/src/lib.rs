//! tether-core: the sans-IO heart of tether.
//!
//! (Contract and run-loop docs land with `ws::Connection`.)

#![forbid(unsafe_code)]

pub mod frame;
pub mod handshake;
pub mod rng;
pub mod time;
pub mod ws;

pub use rng::Seed;
pub use ws::{Config, Connection, Event, Message};
