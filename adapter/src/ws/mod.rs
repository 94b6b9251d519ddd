//! WebSocket connections: [`connect`], [`Server`], and the handles of an open connection
//! ([`WebSocket`], [`Sender`], [`Receiver`]), each driven by one task that owns the socket
//! and the core's [`Connection`](tether_core::ws::Connection).

mod client;
mod dispatch;
mod driver;
mod handle;
mod refuse;
mod server;
mod status;

pub use client::connect;
pub use handle::{Receiver, Sender, WebSocket};
pub(crate) use refuse::admit;
pub use server::Server;
