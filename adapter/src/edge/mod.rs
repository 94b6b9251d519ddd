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
//! An example is in [`Hook`]'s docs.

mod admission;
mod context;
mod gate;
mod hook;
mod identity;
mod request;

pub use admission::Admission;
pub use context::{ConnectionId, Context};
pub(crate) use gate::{Gate, Verdict};
pub use hook::{Decision, Hook};
pub use identity::Identity;
pub use request::UpgradeRequest;
