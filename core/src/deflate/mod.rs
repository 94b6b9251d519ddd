//! permessage-deflate (RFC 7692): what we offer or accept, what was agreed, and the codec.
//!
//! Compression is off unless [`ws::Config::compression`](crate::ws::Config::compression)
//! holds a [`Deflate`]. Then a client offers it in its upgrade request and a server accepts
//! an offer it can honour (the negotiation is in [`handshake`](crate::handshake)); what
//! both sides agreed on is a [`DeflateParams`], which
//! [`Connection::compression`](crate::Connection::compression) reports once open.
//!
//! The codec is pure computation over byte buffers (zlib-rs, through `flate2`): a message at
//! least [`Deflate::threshold`] long is compressed whole when it is sent and goes out in
//! frames like any other; a received message is inflated frame by frame as it arrives, and
//! never past `max_message_size`.

mod compressor;
mod decompressor;
mod settings;

pub(crate) use compressor::Compressor;
pub(crate) use decompressor::{Decompressor, InflateError};
pub use settings::{Deflate, DeflateParams};

/// The RSV1 bit in [`FrameHeader::rsv`](crate::frame::FrameHeader::rsv): set on the first
/// frame of a compressed message (RFC 7692 §6).
pub(crate) const RSV1: u8 = 0b100;

/// What every compressed message ends with before the sender strips it and the receiver
/// puts it back (RFC 7692 §7.2.1-2): the empty stored block of a sync flush.
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
