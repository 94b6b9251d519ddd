//! The client half: build the upgrade request, validate the server's response.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, BytesMut};

use super::{
    check_header, derive_accept_key, head_len, is_token, list_elements, lists_token, owned_headers,
    put_header, values, window, HandshakeError, MAX_HEADERS,
};
use crate::rng::Rng;

/// What a client asks for when it opens a WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientRequest {
    /// The `Host` header: `host` or `host:port`.
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Extra headers sent as given (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    /// Subprotocols offered, in order of preference.
    pub protocols: Vec<String>,
}

impl ClientRequest {
    /// Appends the HTTP request to `out`, using `key` as `Sec-WebSocket-Key`.
    /// Header names or values with CR, LF or other invalid bytes are an error.
    ///
    /// An empty `path` means `/`. Everything is validated before anything is written, so
    /// on error `out` is unchanged.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tether_core::handshake::{parse_request, ClientRequest};
    ///
    /// let request = ClientRequest {
    ///     host: "example.com".into(),
    ///     path: "/chat?room=1".into(),
    ///     headers: vec![("Origin".into(), "https://example.com".into())],
    ///     protocols: vec!["v2.chat".into()],
    /// };
    /// let mut out = BytesMut::new();
    /// request.encode("dGhlIHNhbXBsZSBub25jZQ==", &mut out)?;
    ///
    /// let (parsed, consumed) = parse_request(&out, 8192)?.expect("the head is complete");
    /// assert_eq!(consumed, out.len());
    /// assert_eq!(parsed.path, "/chat?room=1");
    /// assert_eq!(parsed.protocols, ["v2.chat"]);
    /// assert_eq!(parsed.header("origin"), Some(&b"https://example.com"[..]));
    /// # Ok::<(), tether_core::handshake::HandshakeError>(())
    /// ```
    pub fn encode(&self, key: &str, out: &mut BytesMut) -> Result<(), HandshakeError> {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        // Origin-form only; a space or control byte would split the request line.
        if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HandshakeError::InvalidPath(path.to_owned()));
        }
        check_header("Host", &self.host)?;
        check_header("Sec-WebSocket-Key", key)?;
        if let Some(bad) = self.protocols.iter().find(|p| !is_token(p.as_bytes())) {
            return Err(HandshakeError::InvalidProtocol(bad.clone()));
        }
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }

        out.put_slice(b"GET ");
        out.put_slice(path.as_bytes());
        out.put_slice(b" HTTP/1.1\r\n");
        put_header(out, "Host", self.host.as_bytes());
        out.put_slice(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
        put_header(out, "Sec-WebSocket-Key", key.as_bytes());
        out.put_slice(b"Sec-WebSocket-Version: 13\r\n");
        if !self.protocols.is_empty() {
            put_header(
                out,
                "Sec-WebSocket-Protocol",
                self.protocols.join(", ").as_bytes(),
            );
        }
        for (name, value) in &self.headers {
            put_header(out, name, value.as_bytes());
        }
        out.put_slice(b"\r\n");
        Ok(())
    }
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64.
pub fn generate_key(rng: &mut Rng) -> String {
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce);
    STANDARD.encode(nonce)
}

/// A server's successful `101 Switching Protocols` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// All response headers, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The subprotocol the server chose, one of those offered.
    pub protocol: Option<String>,
}

/// Parses and validates the server's response to a request sent with `key` offering
/// `protocols`. `Ok(None)` until the head is complete; an error if it is longer than `max_size`.
///
/// On success also returns the length of the head; bytes after it are the server's first
/// frames and are left alone.
pub fn parse_response(
    buf: &[u8],
    key: &str,
    protocols: &[String],
    max_size: usize,
) -> Result<Option<(Response, usize)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let status = response.parse(window(buf, max_size));
    let Some(len) = head_len(status, buf.len(), max_size)? else {
        return Ok(None);
    };

    // The status first: a server refusing us (e.g. `HTTP/1.0 403`) is best reported as
    // the refusal, not as a version problem.
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::BadStatus(code));
    }
    if response.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let headers: &[httparse::Header<'_>] = response.headers;

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

    let mut accepts = values(headers, "Sec-WebSocket-Accept");
    match (accepts.next(), accepts.next()) {
        (None, _) => return Err(HandshakeError::MissingHeader("Sec-WebSocket-Accept")),
        (Some(accept), None)
            if accept.trim_ascii() == derive_accept_key(key.as_bytes()).as_bytes() => {}
        // A repeated accept is ambiguous even if one copy is right.
        _ => return Err(HandshakeError::BadAccept),
    }

    // RFC 6455 §4.1: the server picks exactly one of the offered values, verbatim.
    let mut protocol: Option<String> = None;
    for value in values(headers, "Sec-WebSocket-Protocol") {
        let chosen = value.trim_ascii();
        match protocols.iter().find(|p| p.as_bytes() == chosen) {
            Some(offered) if protocol.is_none() => protocol = Some(offered.clone()),
            _ => return Err(HandshakeError::UnofferedProtocol(lossy(chosen))),
        }
    }

    // We never offer extensions, so the server may not enable any (RFC 6455 §4.1).
    if let Some(value) =
        values(headers, "Sec-WebSocket-Extensions").find(|v| list_elements(v).next().is_some())
    {
        return Err(HandshakeError::UnofferedExtension(lossy(
            value.trim_ascii(),
        )));
    }

    Ok(Some((
        Response {
            headers: owned_headers(headers),
            protocol,
        },
        len,
    )))
}

/// Peer bytes for an error message; not necessarily UTF-8.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
