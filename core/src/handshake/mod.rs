//! The HTTP/1.1 upgrade that opens a WebSocket (RFC 6455 §4), for both roles.
//!
//! Parsers return `Ok(None)` until the whole head has arrived, then the parsed head and
//! how many bytes it took: bytes after that belong to the frame layer (a server may send
//! its first frames in the same read as its `101`).

mod accept;
mod client;
mod error;
mod server;

pub use accept::derive_accept_key;
pub use client::{generate_key, parse_response, ClientRequest, Response};
pub use error::HandshakeError;
pub use server::{encode_accept, encode_reject, parse_request, Request};
