//! JSON-RPC 2.0 over WebSocket: a [`Client`] that calls and a [`Server`] that serves.
//!
//! The server runs the core's [`Channel`](tether_core::rpc::Channel) in a driver task
//! per connection, over the same socket code as the WebSocket handles. The client runs
//! the core's [`Session`](tether_core::session::Session): one task that keeps a
//! connection to its server open, reconnecting with backoff when it is lost, with a
//! heartbeat to find silent links and a bounded queue for the calls made meanwhile. The
//! wire format is one JSON-RPC object or batch array per text message (PROTOCOL.md at the
//! repository root), so any JSON-RPC-over-WebSocket peer can talk to either side.
//!
//! Every call ends exactly once, with its result or one [`CallError`]: the server's
//! error object, its deadline passed, cancelled (its future dropped), the connection lost
//! (saying whether the request was sent), the queue full, the client closed or given up.
//! Deadlines are the core's and run from the call, so a call waiting in the queue for a
//! connection times out like any other; a late answer is dropped.
//!
//! The server's notifications reach the client's [`Notifications`] receiver, in order and
//! bounded: while the receiver is full the client stops reading its connection instead of
//! dropping any. Until someone asks for them they are dropped as they come (and counted).
//!
//! Handlers run as tasks of their own, spawned on the runtime.

mod client;
mod config;
mod driver;
mod error;
mod notifications;
mod router;
mod server;
pub(crate) mod session;
mod watch;

pub use client::Client;
pub use config::{ClientConfig, ServerConfig};
pub use error::{encode_params, CallError};
pub use notifications::{Notification, Notifications};
pub use router::{Outcome, Router, Running};
pub use server::Server;
pub use tether_core::rpc::{Config as RpcConfig, ErrorObject};
pub use tether_core::session::{
    Backoff, CallOptions, Heartbeat, HeartbeatMode, Metrics, QueueLimits, Retry, State,
};
pub use watch::States;
