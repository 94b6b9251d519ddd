//! tether's runtime-neutral side: every driver, handle, server and client, written once
//! against a small [`Runtime`] trait.
//!
//! The sans-IO core ([`tether_core`]) decides everything; this crate moves bytes between
//! it and sockets, sleeps until its deadlines, and hands its events to whoever waits for
//! them. `tether-tokio` and `tether-async-std` (async-std and smol) only implement
//! [`Runtime`] and re-export what is here, so a user sees one API, type for type, on every
//! runtime:
//!
//! | item | what it is |
//! |---|---|
//! | [`connect`], [`Server`], [`WebSocket`], [`Sender`], [`Receiver`] | WebSocket connections, both roles |
//! | [`rpc::Client`], [`rpc::Server`] | JSON-RPC 2.0: a reconnecting client session, a server of methods |
//! | [`rpc::Notifications`], [`rpc::Notification`] | the server's notifications, as a client receives them |
//! | [`pool::Peers`] | the cluster layer: one link per peer node, calls by node id, both ways |
//! | [`ClientConfig`], [`ServerConfig`], [`rpc::ClientConfig`], [`rpc::ServerConfig`] | how connections are opened and accepted |
//! | [`Admission`], [`Hook`], [`UpgradeRequest`], [`Decision`], [`HttpResponse`] | who may connect to a server, how many at once; plain HTTP answers on its port |
//! | [`ServerHandle`] | a running server's connection count and graceful shutdown |
//! | [`Context`], [`Identity`], [`ConnectionId`] | who a handler's caller is, and on which connection |
//! | [`Error`], [`ConnectError`], [`UrlError`], [`rpc::CallError`] | what can go wrong, typed |
//! | [`Runtime`], [`Timer`] | what a runtime must provide: clock, timer, spawn, TCP |
//!
//! # How it runs
//!
//! Every connection has one task, its driver, that owns the socket and the core's state
//! machine. Handles only talk to that task over channels (which hold no runtime and work
//! on any executor), so they are cheap, and a sender can live in one task while another
//! one reads. [`Server::serve`] runs each connection's handler in its driver's task: the
//! two are polled as one future, each when woken, so a message handed between them never
//! goes through the executor. The driver runs the core's loop: feed it what happened (bytes
//! read, end of stream, a timer, a command), then drain it — events to their waiters,
//! bytes to the socket, the next deadline into its one timer — and wait again. The byte
//! bookkeeping of that loop is the core's [`tether_core::transmit::Flow`]; the socket loop
//! only reports what happened (read n, wrote n, timer fired, EOF), and the core is never
//! borrowed across an await.
//!
//! Back-pressure flows both ways. While much is waiting to be written, [`Sender::send`]
//! waits, but pings, pongs and closes still go out. While events are not read (messages,
//! a JSON-RPC client's [`Notifications`](rpc::Notifications), a server's requests past
//! its handler bound), the driver stops reading the socket, so the peer slows down instead
//! of memory filling up.
//!
//! Every public future is cancel-safe: dropping a `recv` loses no message, dropping a
//! `send` either sends nothing or sends the whole message, dropping a `call` cancels it.
//!
//! Logs go through `tracing`, at debug level, in a `ws` or `rpc` span naming the peer.

#![forbid(unsafe_code)]

mod api;
mod channel;
mod config;
mod edge;
mod error;
mod gated;
mod held;
mod joint;
mod listener;
pub mod pool;
mod retire;
pub mod rpc;
mod runtime;
mod stream;
mod target;
mod transport;
mod ws;

use std::io;

pub use config::{ClientConfig, ServerConfig};
pub use edge::{
    Admission, ConnectionId, Context, Decision, Hook, Identity, ServerHandle, UpgradeRequest,
};
pub use error::{ConnectError, Error, OpenError, UrlError};
pub use held::HeldGauge;
pub use runtime::{Runtime, Timer};
pub use target::Target;
pub use ws::{connect, Receiver, Sender, Server, WebSocket};

pub use tether_core::deflate::{Deflate, DeflateParams};
pub use tether_core::frame::CloseCode;
pub use tether_core::handshake::HttpResponse;
pub use tether_core::ws::{CloseInfo, Config, Event, Initiator, Message};
pub use tether_tls::{rustls, ClientTls, ServerTls, TlsError};

use tether_core::Seed;

/// A fresh seed for a connection's RNG, from the OS (the core never asks the OS itself).
fn seed() -> io::Result<Seed> {
    let mut seed = Seed::default();
    getrandom::fill(&mut seed)?;
    Ok(seed)
}
