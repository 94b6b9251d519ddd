//! The server half: parse and validate an upgrade request, then accept or reject it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, BytesMut};

use super::{
    check_header, derive_accept_key, head_len, is_token, list_elements, lists_token, owned_headers,
    put_header, values, window, HandshakeError, MAX_HEADERS,
};

/// A valid WebSocket upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request target (path and query).
    pub path: String,
    /// All request headers, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The client's `Sec-WebSocket-Key`.
    pub key: String,
    /// Subprotocols the client offered, in its order.
    pub protocols: Vec<String>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Parses and validates an upgrade request. `Ok(None)` until the head is complete; an error
/// if it is longer than `max_size` or is not a valid WebSocket upgrade.
///
/// On success also returns the length of the head; bytes after it are left alone. Extension
/// offers (`Sec-WebSocket-Extensions`) are ignored: we accept without any.
///
/// ```
/// use tether_core::handshake::{parse_request, HandshakeError};
///
/// let head = b"GET /chat HTTP/1.1\r\n\
///     Host: example.com\r\n\
///     Upgrade: websocket\r\n\
///     Connection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\n\
///     \r\n";
///
/// // Not all there yet: wait for more bytes.
/// assert_eq!(parse_request(&head[..10], 8192)?, None);
///
/// let (request, consumed) = parse_request(head, 8192)?.expect("complete");
/// assert_eq!(consumed, head.len());
/// assert_eq!(request.key, "dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(request.protocols, ["chat", "superchat"]);
/// # Ok::<(), HandshakeError>(())
/// ```
pub fn parse_request(
    buf: &[u8],
    max_size: usize,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let status = request.parse(window(buf, max_size));
    let Some(len) = head_len(status, buf.len(), max_size)? else {
        return Ok(None);
    };

    // RFC 6455 §4.2.1, checked in order of the status they map to being most useful.
    if request.method != Some("GET") {
        return Err(HandshakeError::MethodNotGet);
    }
    // httparse only knows HTTP/1.0 (0) and HTTP/1.1 (1); anything else is `Malformed`.
    if request.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let path = request.path.unwrap_or("/").to_owned();
    let headers: &[httparse::Header<'_>] = request.headers;

    if values(headers, "Host").next().is_none() {
        return Err(HandshakeError::MissingHeader("Host"));
    }
    match lists_token(headers, "Upgrade", "websocket") {
        None => return Err(HandshakeError::MissingHeader("Upgrade")),
        Some(false) => return Err(HandshakeError::UpgradeNotWebSocket),
        Some(true) => {}
    }
    match lists_token(headers, "Connection", "upgrade") {
        None => return Err(HandshakeError::MissingHeader("Connection")),
        Some(false) => return Err(HandshakeError::ConnectionNotUpgrade),
        Some(true) => {}
    }

    let mut versions = values(headers, "Sec-WebSocket-Version");
    match (versions.next(), versions.next()) {
        (None, _) => return Err(HandshakeError::MissingHeader("Sec-WebSocket-Version")),
        (Some(version), None) if version.trim_ascii() == b"13" => {}
        // 426 tells the client which version to retry with (see `encode_reject`).
        _ => return Err(HandshakeError::UnsupportedVersion),
    }

    let mut keys = values(headers, "Sec-WebSocket-Key");
    let key = match (keys.next(), keys.next()) {
        (None, _) => return Err(HandshakeError::MissingHeader("Sec-WebSocket-Key")),
        (Some(key), None) => key.trim_ascii(),
        // RFC 6455 §11.3.1: the key must not appear more than once.
        _ => return Err(HandshakeError::BadKey),
    };
    // 16 bytes are always 24 base64 characters with padding; checking the length first
    // keeps a huge bogus key from being decoded at all.
    if key.len() != 24 || !STANDARD.decode(key).is_ok_and(|nonce| nonce.len() == 16) {
        return Err(HandshakeError::BadKey);
    }
    let key = std::str::from_utf8(key)
        .map_err(|_| HandshakeError::BadKey)?
        .to_owned();

    let mut protocols = Vec::new();
    for value in values(headers, "Sec-WebSocket-Protocol") {
        for element in list_elements(value) {
            // Tokens are ASCII, so once this holds the conversion below is exact.
            if !is_token(element) {
                return Err(HandshakeError::BadProtocol(
                    String::from_utf8_lossy(element).into_owned(),
                ));
            }
            protocols.push(String::from_utf8_lossy(element).into_owned());
        }
    }

    Ok(Some((
        Request {
            path,
            headers: owned_headers(headers),
            key,
            protocols,
        },
        len,
    )))
}

/// Appends the `101 Switching Protocols` response for `key`, naming `protocol` if chosen,
/// plus `headers`. Invalid header bytes are an error.
///
/// Everything is validated before anything is written, so on error `out` is unchanged.
pub fn encode_accept(
    key: &str,
    protocol: Option<&str>,
    headers: &[(String, String)],
    out: &mut BytesMut,
) -> Result<(), HandshakeError> {
    if let Some(protocol) = protocol.filter(|p| !is_token(p.as_bytes())) {
        return Err(HandshakeError::InvalidProtocol(protocol.to_owned()));
    }
    for (name, value) in headers {
        check_header(name, value)?;
    }

    out.put_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    put_header(
        out,
        "Sec-WebSocket-Accept",
        derive_accept_key(key.as_bytes()).as_bytes(),
    );
    if let Some(protocol) = protocol {
        put_header(out, "Sec-WebSocket-Protocol", protocol.as_bytes());
    }
    for (name, value) in headers {
        put_header(out, name, value.as_bytes());
    }
    out.put_slice(b"\r\n");
    Ok(())
}

/// Appends an HTTP error response with `status` (and `Sec-WebSocket-Version: 13` on 426).
///
/// A `status` that is not three digits is sent as 500, since it cannot be written validly.
/// A 405 also carries `Allow: GET`, which RFC 9110 §15.5.6 requires.
pub fn encode_reject(status: u16, out: &mut BytesMut) {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.to_string().as_bytes());
    out.put_u8(b' ');
    out.put_slice(reason_phrase(status).as_bytes());
    out.put_slice(b"\r\nContent-Length: 0\r\nConnection: close\r\n");
    match status {
        // RFC 6455 §4.4: tell the client which version we do speak.
        426 => out.put_slice(b"Sec-WebSocket-Version: 13\r\n"),
        405 => out.put_slice(b"Allow: GET\r\n"),
        _ => {}
    }
    out.put_slice(b"\r\n");
}

/// The reason phrase for the statuses a WebSocket server typically rejects with. Clients
/// must ignore it (RFC 9112 §4), so a generic one suffices for the rest.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Unknown",
    }
}
