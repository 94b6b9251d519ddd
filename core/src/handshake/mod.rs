//! The HTTP/1.1 upgrade that opens a WebSocket (RFC 6455 §4), for both roles, and the
//! plain HTTP answers a server may give on the same port instead.
//!
//! Parsers return `Ok(None)` until the whole head has arrived, then the parsed head and
//! how many bytes it took: bytes after that belong to the frame layer (a server may send
//! its first frames in the same read as its `101`).

mod accept;
mod client;
mod error;
mod extension;
mod server;

pub use accept::derive_accept_key;
pub use client::{generate_key, parse_response, ClientRequest, Response};
pub use error::HandshakeError;
pub use extension::{deflate_offer, negotiate_deflate, ExtensionError, PERMESSAGE_DEFLATE};
pub use server::{
    encode_accept, encode_reject, encode_response, parse_request, HttpResponse, Request, Upgrade,
};

use bytes::{BufMut, BytesMut};

/// Header slots handed to httparse. A stack array keeps parsing allocation-free; real
/// browsers send well under 20 headers, so 64 only stops abuse.
const MAX_HEADERS: usize = 64;

/// The part of `buf` the parser may look at. Parsing at most `max_size` bytes bounds the
/// work per call, however much a peer sends without ever ending its head; a head that does
/// complete inside the window is by construction within the limit.
fn window(buf: &[u8], max_size: usize) -> &[u8] {
    buf.get(..max_size).unwrap_or(buf)
}

/// Turns a parser result into the common `Ok(None)` / consumed-length / error shape.
fn head_len(
    status: httparse::Result<usize>,
    buf_len: usize,
    max_size: usize,
) -> Result<Option<usize>, HandshakeError> {
    match status {
        Ok(httparse::Status::Complete(len)) => Ok(Some(len)),
        Ok(httparse::Status::Partial) if buf_len > max_size => {
            Err(HandshakeError::HeadTooLarge { max: max_size })
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders),
        Err(e) => Err(HandshakeError::Malformed(e)),
    }
}

/// Values of every header called `name` (case-insensitive), in order.
fn values<'a>(
    headers: &'a [httparse::Header<'a>],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Non-empty, trimmed elements of a comma-separated header list (RFC 9110 §5.6.1 allows
/// empty elements and optional whitespace around them).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|e| !e.is_empty())
}

/// Whether any header called `name` lists `token`, ASCII case-insensitively. `None` when
/// the header is absent, so callers can tell "missing" from "wrong".
fn lists_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> Option<bool> {
    let mut present = false;
    for value in values(headers, name) {
        present = true;
        if list_elements(value).any(|e| e.eq_ignore_ascii_case(token.as_bytes())) {
            return Some(true);
        }
    }
    present.then_some(false)
}

/// Both roles require `Upgrade: websocket` and `Connection: upgrade` (RFC 6455 §4.1, §4.2.1).
fn check_upgrade_tokens(headers: &[httparse::Header<'_>]) -> Result<(), HandshakeError> {
    match lists_token(headers, "Upgrade", "websocket") {
        None => return Err(HandshakeError::MissingHeader("Upgrade")),
        Some(false) => return Err(HandshakeError::UpgradeNotWebSocket),
        Some(true) => {}
    }
    match lists_token(headers, "Connection", "upgrade") {
        None => Err(HandshakeError::MissingHeader("Connection")),
        Some(false) => Err(HandshakeError::ConnectionNotUpgrade),
        Some(true) => Ok(()),
    }
}

/// RFC 9110 `token`: what header names and subprotocol names must be.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Bytes a field value may carry: no controls except HTAB, so nothing can end the line
/// early or smuggle another header (RFC 9110 §5.5).
fn is_field_value(s: &[u8]) -> bool {
    s.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Rejects a header we were asked to send if it could break the head's framing.
fn check_header(name: &str, value: &str) -> Result<(), HandshakeError> {
    if !is_token(name.as_bytes()) {
        return Err(HandshakeError::InvalidHeaderName(name.to_owned()));
    }
    if !is_field_value(value.as_bytes()) {
        return Err(HandshakeError::InvalidHeaderValue {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Appends `name: value\r\n`; the caller has validated both.
fn put_header(out: &mut BytesMut, name: &str, value: &[u8]) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// Copies parsed headers out of the parser's borrowed buffer.
fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect()
}

/// Inputs for the parsers' no-panic tests: every other one is `good` with a few bytes
/// flipped, the rest pure noise of up to 300 bytes. Deterministic for a seed.
#[cfg(test)]
fn mutations(seed: u8, good: &[u8], rounds: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut rng = crate::rng::Rng::from_seed([seed; 32]);
    (0..rounds).map(move |round| {
        let mut buf = good.to_vec();
        if round % 2 == 0 {
            for _ in 0..3 {
                let at = rng.next_u32() as usize % buf.len();
                buf[at] = rng.next_u32() as u8;
            }
        } else {
            buf.resize(rng.next_u32() as usize % 300, 0);
            rng.fill(&mut buf);
        }
        buf
    })
}
