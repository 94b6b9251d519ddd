//! JSON-RPC 2.0 over WebSocket: a [`Client`] that calls and a [`Server`] that serves.
//!
//! Both run the core's [`Endpoint`](tether_core::rpc::Endpoint) in a driver task per
//! connection, like the WebSocket handles of the crate root, over the same socket code.
//! The wire format is one JSON-RPC object or batch array per text message (PROTOCOL.md at
//! the repository root), so any JSON-RPC-over-WebSocket peer can talk to either side.
//! The API is tether-tokio's `rpc`, and the configs and errors are the same types.
//!
//! Every call ends exactly once, with its result or one [`CallError`]: the server's
//! error object, its deadline passed, cancelled (its future dropped), or the connection
//! lost (saying whether the request was sent). Deadlines are the core's, so a timed-out
//! call frees its slot and its late answer is dropped and counted in [`Stats`].
//!
//! Handlers run as tasks of their own on the same global executor as the drivers.

mod client;
mod driver;
mod server;

pub use client::Client;
pub use server::Server;
pub use tether_adapter::rpc::{
    CallError, ClientConfig, ErrorObject, RpcConfig, ServerConfig, Stats,
};
