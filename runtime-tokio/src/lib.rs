//! tokio adapter for tether: WebSocket and JSON-RPC clients and servers over TCP and TLS,
//! driven by the sans-IO core in [`tether_core`].
//!
//! Everything here is [`tether_adapter`]'s, written once for every runtime, on [`Tokio`]:
//! the API is `tether-async-std`'s, type for type. Use it from inside a tokio runtime.
//!
//! ```no_run
//! use tether_tokio::{connect, ClientConfig, CloseCode, Message, Server, ServerConfig, WebSocket};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A server that echoes every message, each connection's in the task that drives it.
//! let server = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
//! let addr = server.local_addr()?;
//! tokio::spawn(server.serve(|mut ws: WebSocket| async move {
//!     while let Some(message) = ws.recv().await {
//!         if ws.send(message).await.is_err() {
//!             break;
//!         }
//!     }
//! }));
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
//! See [`tether_adapter`] for how connections run, and [`rpc`] for JSON-RPC: a reconnecting
//! [`rpc::Client`] and an [`rpc::Server`] of async handlers.

#![forbid(unsafe_code)]

mod runtime;

pub use runtime::{Clock, Tcp, Tokio};

tether_adapter::runtime_api!(crate::Tokio);

/// The README's examples, compiled as doc tests so they stay true to the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
