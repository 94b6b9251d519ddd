//! tether-async-std: the async-std / smol adapter.
//!
//! A skeleton for now: the tokio adapter (`tether-tokio`) is the first to drive
//! [`tether_core::Connection`] over real sockets. This crate will do the same over
//! `futures-io` + `async-io`, so it runs under async-std and smol alike.

pub use tether_core::{Config, Connection, Event, Message};
