//! JSON-RPC 2.0 over WebSocket: a [`Client`] that calls and a [`Server`] that serves.
//!
//! Both run the core's [`Endpoint`](tether_core::rpc::Endpoint) in a driver task per
//! connection, like the WebSocket handles of the crate root, over the same socket code.
//! The wire format is one JSON-RPC object or batch array per text message (PROTOCOL.md at
//! the repository root), so any JSON-RPC-over-WebSocket peer can talk to either side.
//!
//! Every call ends exactly once, with its result or one [`CallError`]: the server's
//! error object, its deadline passed, cancelled (its future dropped), or the connection
//! lost (saying whether the request was sent). Deadlines are the core's, so a timed-out
//! call frees its slot and its late answer is dropped and counted in [`Stats`].

mod client;
mod driver;
mod error;
mod router;
mod server;

pub use client::{Client, ClientConfig};
pub use error::CallError;
pub use server::{Server, ServerConfig};
pub use tether_core::rpc::{Config as RpcConfig, ErrorObject, Stats};
