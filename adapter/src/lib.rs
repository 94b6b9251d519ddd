//! What every tether runtime adapter shares and no runtime shapes.
//!
//! `tether-tokio` and `tether-async-std` each bind the sans-IO core ([`tether_core`]) to
//! their runtime's sockets, timers and tasks. Everything around that which does not depend
//! on the runtime lives here once, and both adapters re-export it, so a user sees one
//! [`ClientConfig`] or [`Error`] whichever runtime they pick:
//!
//! | item | what it is |
//! |---|---|
//! | [`Target`] | a `ws://` URL taken apart: what to connect to and the upgrade request |
//! | [`ClientConfig`], [`ServerConfig`] | how a connection is opened or accepted |
//! | [`Error`], [`ConnectError`], [`UrlError`] | what can go wrong, typed |
//! | [`OpenError`] | why an opening handshake failed, before it becomes a [`ConnectError`] |
//! | [`Status`] | what a connection's handles know without asking its driver |
//! | [`dispatch`] | where a WebSocket driver routes events and how it carries out commands |
//! | [`seed`], [`is_per_connection`] | an OS seed for a connection; listener errors that concern one client |
//! | [`rpc`] | the JSON-RPC pieces: [`rpc::CallError`], the method table, configs |
//!
//! The socket half of a driver loop (buffers, deadline, linger) is pure and lives in the
//! core: [`tether_core::transmit`].

mod config;
pub mod dispatch;
mod error;
pub mod rpc;
mod status;
mod target;

use std::io;

pub use config::{ClientConfig, ServerConfig};
pub use error::{ConnectError, Error, OpenError, UrlError};
pub use status::Status;
pub use target::Target;

use tether_core::Seed;

/// A fresh seed for a connection's RNG, from the OS (the core never asks the OS itself).
pub fn seed() -> io::Result<Seed> {
    let mut seed = Seed::default();
    getrandom::fill(&mut seed)?;
    Ok(seed)
}

/// Errors of a listener's `accept` that concern one incoming connection (the client gave
/// up before we got to it), not the listener: log them and keep accepting.
pub fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}
