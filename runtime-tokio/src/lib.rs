//! tokio adapter for tether: WebSocket clients and servers over TCP, driven by the
//! sans-IO core in [`tether_core`].
//!
//! ```no_run
//! use tether_tokio::{connect, ClientConfig, CloseCode, Message, Server, ServerConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A server that echoes every message.
//! let mut server = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
//! let addr = server.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((mut ws, _peer)) = server.accept().await {
//!         tokio::spawn(async move {
//!             while let Some(message) = ws.recv().await {
//!                 if ws.send(message).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//! });
//!
//! // A client that says hello and closes.
//! let mut ws = connect(&format!("ws://{addr}/"), ClientConfig::default()).await?;
//! ws.send("hello").await?;
//! assert_eq!(ws.recv().await, Some(Message::Text("hello".into())));
//! ws.close(CloseCode::NORMAL, "bye").await?;
//! while ws.recv().await.is_some() {}
//! println!("closed: {:?}", ws.close_info());
//! # Ok(())
//! # }
//! ```
//!
//! # How it runs
//!
//! Every connection has one task, its driver, that owns the socket and the core's
//! [`Connection`](tether_core::ws::Connection). The handles ([`WebSocket`], [`Sender`],
//! [`Receiver`]) only talk to that task over channels, so they are cheap, and a sender can
//! live in one task while another one reads. The driver runs the core's loop: feed it what
//! happened (bytes read, end of stream, a timer, a command), then drain it — events to the
//! receiver, bytes to the socket, the next deadline into its one timer — and wait again.
//!
//! Back-pressure flows both ways. While much is waiting to be written, [`Sender::send`]
//! waits, but pings, pongs and closes still go out. While events are not read, the
//! driver stops reading the socket, so the peer slows down instead of memory filling up.
//!
//! Every public future is cancel-safe: dropping a `recv` loses no message, dropping a
//! `send` either sends nothing or sends the whole message.
//!
//! Logs go through `tracing`, at debug level and in a `ws` span naming the peer.
//!
//! # JSON-RPC
//!
//! [`rpc`] runs JSON-RPC 2.0 over the same connections: an [`rpc::Client`] whose clones
//! multiplex calls on one WebSocket and which reconnects by itself when it is lost (a
//! reconnecting session of the core, driven by one task), and an [`rpc::Server`] that
//! routes methods to async handlers, each connection driven as above by one task.

mod client;
mod driver;
mod error;
mod handle;
mod retire;
pub mod rpc;
mod server;
mod stream;
mod transport;

pub use client::{connect, ClientConfig};
pub use error::{ConnectError, Error, UrlError};
pub use handle::{Receiver, Sender, WebSocket};
pub use server::{Server, ServerConfig};

pub use tether_core::deflate::{Deflate, DeflateParams};
pub use tether_core::frame::CloseCode;
pub use tether_core::ws::{CloseInfo, Config, Event, Initiator, Message};
pub use tether_tls::{rustls, ClientTls, ServerTls, TlsError};

/// The README's examples, compiled as doc tests so they stay true to the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
