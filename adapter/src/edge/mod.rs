//! The edge of every server, written once: who may connect, and what handlers learn of
//! the caller.
//!
//! Every server of this crate (the WebSocket [`Server`](crate::Server), the JSON-RPC
//! [`rpc::Server`](crate::rpc::Server) and a node's [`Peers`](crate::pool::Peers)) hands
//! each request head it receives to the [`Hook`] of its [`Admission`], if one is set. The
//! hook sees an [`UpgradeRequest`] (method, path, headers, Origin, the peer's address, the
//! client certificate verified by mutual TLS) and gives a [`Decision`]: accept with an
//! [`Identity`], refuse with a status, or answer a plain HTTP request (`GET /health`,
//! `GET /metrics`, a page) with an [`HttpResponse`] on the same port. Handlers then get
//! a [`Context`]: the identity the hook gave, the peer's address, the connection's id.
//!
//! Before any hook, each server's [`Edge`] counts its connections against the limits of
//! its [`Admission`] (all together and per IP address; one past them is answered `503`)
//! and knows whether the server is shutting down ([`ServerHandle::shutdown`]).
//!
//! An example is in [`Hook`]'s docs.

mod admission;
mod context;
mod gate;
mod handle;
mod hook;
mod identity;
mod lifecycle;
mod request;
mod stop;

pub use admission::Admission;
pub use context::{ConnectionId, Context};
pub(crate) use gate::{Gate, Verdict};
pub use handle::ServerHandle;
pub use hook::{Decision, Hook};
pub use identity::Identity;
pub(crate) use lifecycle::{Edge, Entry, Slot};
pub use request::UpgradeRequest;
pub(crate) use stop::StopSignal;
