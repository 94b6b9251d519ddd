//! async-std / smol adapter for tether: WebSocket and JSON-RPC clients and servers over
//! TCP and TLS, driven by the sans-IO core in [`tether_core`], on `futures-io` streams with
//! `async-io` sockets and timers. It runs under async-std and under smol alike (async-std
//! is discontinued upstream; smol is its successor), and under any other executor.
//!
//! Everything here is [`tether_adapter`]'s, written once for every runtime, on
//! [`AsyncStd`]: the API is `tether-tokio`'s, type for type, so code moves between the two
//! by changing the crate name and the `spawn` calls.
//!
//! ```no_run
//! use tether_async_std::{
//!     connect, ClientConfig, CloseCode, Message, Server, ServerConfig, WebSocket,
//! };
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A server that echoes every message, each connection's in the task that drives it.
//! let server = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
//! let addr = server.local_addr()?;
//! smol::spawn(server.serve(|mut ws: WebSocket| async move {
//!     while let Some(message) = ws.recv().await {
//!         if ws.send(message).await.is_err() {
//!             break;
//!         }
//!     }
//! }))
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
//! # Tasks
//!
//! Drivers (and each accepted connection's handshake, and a server's `serve` loop) are
//! spawned on [`async-global-executor`](https://docs.rs/async-global-executor), the global
//! executor that async-std's own `task::spawn` uses: under async-std they share its
//! threads. Under smol, or any other executor, they run on that executor's threads
//! (started on first use; `ASYNC_GLOBAL_EXECUTOR_THREADS` sets how many), while your tasks
//! run on yours. (A plain connection's first try at its handshake is made on the task that
//! accepted it: under `Server::accept`, yours.)
//! Sockets and timers are `async-io`'s, whose reactor serves every executor, so which one
//! runs your code does not matter: `smol::block_on`, `async_std::task::block_on` and
//! `futures_lite::future::block_on` all work. No spawner has to be passed around, and the
//! handles are plain values that can be awaited anywhere.
//!
//! For speed, spawn the tasks that serve connections where the drivers run:
//! [`AsyncStd::spawn`](Runtime::spawn) (or async-std's `task::spawn`, the same executor).
//! A task on another executor (`smol::spawn`) works as well, but each message it hands to
//! its driver then crosses executors, which on this project's echo benchmark cost smol
//! several context switches per round trip against tokio's one.
//!
//! See [`tether_adapter`] for how connections run, and [`rpc`] for JSON-RPC: a reconnecting
//! [`rpc::Client`] and an [`rpc::Server`] of async handlers.

#![forbid(unsafe_code)]

mod runtime;

pub use runtime::{AsyncStd, Clock, Tcp};

tether_adapter::runtime_api!(crate::AsyncStd);
