//! async-std / smol adapter for tether: WebSocket clients and servers over TCP, driven by
//! the sans-IO core in [`tether_core`], on `futures-io` streams with `async-io` sockets
//! and timers. It runs under async-std and under smol alike (async-std is discontinued
//! upstream; smol is its successor), and under any other executor.
//!
//! ```no_run
//! use tether_async_std::{connect, ClientConfig, CloseCode, Message, Server, ServerConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A server that echoes every message.
//! let mut server = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
//! let addr = server.local_addr()?;
//! smol::spawn(async move {
//!     while let Ok((mut ws, _peer)) = server.accept().await {
//!         smol::spawn(async move {
//!             while let Some(message) = ws.recv().await {
//!                 if ws.send(message).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         })
//!         .detach();
//!     }
//! })
//! .detach();
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
//! # smol::block_on(demo()).unwrap();
//! ```
//!
//! The API is `tether-tokio`'s, name for name; the configs and errors are the same types
//! (from `tether-adapter`), so code moves between the two by changing the crate name and
//! the `spawn` calls.
//!
//! # How it runs
//!
//! Every connection has one task, its driver, that owns the socket and the core's
//! [`Connection`](tether_core::ws::Connection). The handles ([`WebSocket`], [`Sender`],
//! [`Receiver`]) only talk to that task over channels, so they are cheap, and a sender can
//! live in one task while another one reads. The driver runs the core's loop: feed it what
//! happened (bytes read, end of stream, a timer, a command), then drain it — events to the
//! receiver, bytes to the socket, the next deadline into its one timer — and wait again.
//! The byte bookkeeping of that loop is the core's [`tether_core::transmit::Flow`], shared
//! with the tokio adapter.
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
//! # Tasks
//!
//! Drivers (and each accepted connection's handshake) are spawned on
//! [`async-global-executor`](https://docs.rs/async-global-executor), the global executor
//! that async-std's own `task::spawn` uses: under async-std they share its threads. Under
//! smol, or any other executor, they run on that executor's threads (started on first
//! use; `ASYNC_GLOBAL_EXECUTOR_THREADS` sets how many), while your tasks run on yours.
//! Sockets and timers are `async-io`'s, whose reactor serves every executor, so which one
//! runs your code does not matter: `smol::block_on`, `async_std::task::block_on` and
//! `futures_lite::future::block_on` all work. No spawner has to be passed around, and the
//! handles are plain values that can be awaited anywhere.
//!
//! # Transports
//!
//! A driver runs over any `futures-io` `AsyncRead + AsyncWrite` stream (see
//! `transport.rs`); TCP is the one built in today. TLS (`wss://`) will come as a stream
//! wrapping the TCP one, with no change to the drivers.
//!
//! # JSON-RPC
//!
//! [`rpc`] runs JSON-RPC 2.0 over the same connections: an [`rpc::Client`] whose clones
//! multiplex calls on one WebSocket, and an [`rpc::Server`] that routes methods to async
//! handlers. Each connection is driven the same way as above, by one task.

mod client;
mod driver;
mod handle;
pub mod rpc;
mod server;
mod task;
mod transport;

pub use client::connect;
pub use handle::{Receiver, Sender, WebSocket};
pub use server::Server;
pub use tether_adapter::{ClientConfig, ConnectError, Error, ServerConfig, UrlError};

pub use tether_core::frame::CloseCode;
pub use tether_core::ws::{CloseInfo, Config, Event, Initiator, Message};
