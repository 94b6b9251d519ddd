//! The server half: parse an HTTP request head, tell whether it is a valid WebSocket upgrade,
//! then accept it, reject it, or answer it as plain HTTP.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};

use super::{
    check_header, check_upgrade_tokens, derive_accept_key, head_len, is_token, list_elements,
    owned_headers, put_header, values, window, HandshakeError, MAX_HEADERS,
};

/// An HTTP request head as a server received it: a WebSocket upgrade, or a plain request
/// (a health check, a metrics scrape, a browser asking for a page) that the server may
/// answer with an [`HttpResponse`] on the same port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (methods are case-sensitive).
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// All request headers, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// What makes it a valid WebSocket upgrade (RFC 6455 §4.2.1), or why it is not one:
    /// the error's [`http_status`](HandshakeError::http_status) is the answer to give it
    /// unless it is answered as plain HTTP.
    pub upgrade: Result<Upgrade, HandshakeError>,
}

/// The WebSocket part of a valid upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
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

    /// Whether it is a valid WebSocket upgrade.
    pub fn is_upgrade(&self) -> bool {
        self.upgrade.is_ok()
    }

    /// Subprotocols the client offered, in its order (none if it is not an upgrade).
    pub fn protocols(&self) -> &[String] {
        self.upgrade
            .as_ref()
            .map_or(&[], |u| u.protocols.as_slice())
    }

    /// The subprotocol to accept: the first the client offered (its order is its
    /// preference) that is in `supported`; `None` if there is no match.
    ///
    /// ```
    /// # use tether_core::handshake::{Request, Upgrade};
    /// let request = Request {
    ///     method: "GET".into(),
    ///     path: "/".into(),
    ///     headers: vec![],
    ///     upgrade: Ok(Upgrade { key: String::new(), protocols: vec!["v2".into(), "v1".into()] }),
    /// };
    /// assert_eq!(request.choose_protocol(&["v1".into(), "v2".into()]), Some("v2"));
    /// assert_eq!(request.choose_protocol(&["v3".into()]), None);
    /// ```
    pub fn choose_protocol(&self, supported: &[String]) -> Option<&str> {
        self.protocols()
            .iter()
            .find(|offered| supported.contains(offered))
            .map(String::as_str)
    }
}

/// Parses an HTTP request head. `Ok(None)` until the head is complete; an error if it is
/// longer than `max_size` or is not HTTP/1.x at all (then there is nobody to answer but
/// with the error's status).
///
/// A well-formed head is returned whether or not it is a valid WebSocket upgrade:
/// [`Request::upgrade`] says which, so a server can answer a plain `GET /health` on the
/// same port. On success also returns the length of the head; bytes after it are left
/// alone. Extension offers (`Sec-WebSocket-Extensions`) stay in the headers, for
/// [`negotiate_deflate`](super::negotiate_deflate).
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
/// let upgrade = request.upgrade?;
/// assert_eq!(upgrade.key, "dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(upgrade.protocols, ["chat", "superchat"]);
///
/// // A plain request is well-formed HTTP, just not an upgrade.
/// let (plain, _) = parse_request(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 8192)?.expect("complete");
/// assert_eq!((plain.method.as_str(), plain.path.as_str()), ("GET", "/health"));
/// assert_eq!(plain.upgrade, Err(HandshakeError::MissingHeader("Upgrade")));
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
    // A complete head always has a method and a path; the fallbacks are never used.
    let method = request.method.unwrap_or_default();
    let headers: &[httparse::Header<'_>] = request.headers;
    let upgrade = check_upgrade(method, request.version, headers);
    Ok(Some((
        Request {
            method: method.to_owned(),
            path: request.path.unwrap_or("/").to_owned(),
            headers: owned_headers(headers),
            upgrade,
        },
        len,
    )))
}

/// Whether a well-formed head is a valid WebSocket upgrade (RFC 6455 §4.2.1), checked in
/// order of the status each failure maps to being most useful.
fn check_upgrade(
    method: &str,
    version: Option<u8>,
    headers: &[httparse::Header<'_>],
) -> Result<Upgrade, HandshakeError> {
    if method != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    // httparse only knows HTTP/1.0 (0) and HTTP/1.1 (1); anything else is `Malformed`.
    if version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    if values(headers, "Host").next().is_none() {
        return Err(HandshakeError::MissingHeader("Host"));
    }
    check_upgrade_tokens(headers)?;

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
    Ok(Upgrade { key, protocols })
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

/// A plain HTTP answer a server gives instead of `101 Switching Protocols`: a refusal that
/// carries headers (`503` with `Retry-After`, `401` with `WWW-Authenticate`), or the answer
/// to a plain request (`GET /health`, `GET /metrics`). The connection ends after it.
///
/// ```
/// use tether_core::handshake::HttpResponse;
///
/// let health = HttpResponse::new(200)
///     .with_header("Content-Type", "text/plain")
///     .with_body("ok\n");
/// assert_eq!(health.body, "ok\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status: 200 to 999 (a 1xx would not end the exchange, so it is refused).
    pub status: u16,
    /// Headers sent as given. `Content-Length` and `Connection: close` are added, since
    /// the connection ends after the answer; headers of those names (or
    /// `Transfer-Encoding`) are refused.
    pub headers: Vec<(String, String)>,
    /// The body (left out when answering a `HEAD` request).
    pub body: Bytes,
}

impl HttpResponse {
    /// An answer with `status`, no headers and no body.
    pub fn new(status: u16) -> HttpResponse {
        HttpResponse {
            status,
            ..HttpResponse::default()
        }
    }

    /// The same answer with a header added.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same answer with `body`.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// Headers whose value the encoder sets itself: a caller's would frame the body wrongly.
const FRAMING_HEADERS: [&str; 3] = ["Content-Length", "Transfer-Encoding", "Connection"];

/// Appends `response`, with its `Content-Length` and `Connection: close`; without the
/// body if `head_only` (the answer to a `HEAD` request, RFC 9110 §9.3.2). Invalid header
/// bytes, a framing header or a status outside 200..=999 are an error.
///
/// Everything is validated before anything is written, so on error `out` is unchanged.
///
/// ```
/// use bytes::BytesMut;
/// use tether_core::handshake::{encode_response, HttpResponse};
///
/// let mut out = BytesMut::new();
/// let busy = HttpResponse::new(503).with_header("Retry-After", "1");
/// encode_response(&busy, false, &mut out)?;
/// assert_eq!(
///     &out[..],
///     b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\
///       Retry-After: 1\r\n\r\n"
/// );
/// # Ok::<(), tether_core::handshake::HandshakeError>(())
/// ```
pub fn encode_response(
    response: &HttpResponse,
    head_only: bool,
    out: &mut BytesMut,
) -> Result<(), HandshakeError> {
    if !(200..=999).contains(&response.status) {
        return Err(HandshakeError::InvalidStatus(response.status));
    }
    for (name, value) in &response.headers {
        if FRAMING_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            return Err(HandshakeError::InvalidHeaderName(name.clone()));
        }
        check_header(name, value)?;
    }
    put_status_line(out, response.status, response.body.len());
    for (name, value) in &response.headers {
        put_header(out, name, value.as_bytes());
    }
    out.put_slice(b"\r\n");
    if !head_only {
        out.put_slice(&response.body);
    }
    Ok(())
}

/// Appends an HTTP error response with `status` (and `Sec-WebSocket-Version: 13` on 426).
///
/// A `status` outside 200..=999 is sent as 500, since it cannot be written validly (or, for
/// a 1xx, would not end the exchange). A 405 also carries `Allow: GET`, which RFC 9110
/// §15.5.6 requires.
pub fn encode_reject(status: u16, out: &mut BytesMut) {
    let status = if (200..=999).contains(&status) {
        status
    } else {
        500
    };
    put_status_line(out, status, 0);
    match status {
        // RFC 6455 §4.4: tell the client which version we do speak.
        426 => out.put_slice(b"Sec-WebSocket-Version: 13\r\n"),
        405 => out.put_slice(b"Allow: GET\r\n"),
        _ => {}
    }
    out.put_slice(b"\r\n");
}

/// The status line and the framing headers of a response that ends the connection.
fn put_status_line(out: &mut BytesMut, status: u16, content_length: usize) {
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.to_string().as_bytes());
    out.put_u8(b' ');
    out.put_slice(reason_phrase(status).as_bytes());
    out.put_slice(b"\r\nContent-Length: ");
    out.put_slice(content_length.to_string().as_bytes());
    out.put_slice(b"\r\nConnection: close\r\n");
}

/// The reason phrase for the statuses a WebSocket server typically rejects with. Clients
/// must ignore it (RFC 9112 §4), so a generic one suffices for the rest.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Unknown",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{parse_response, ClientRequest};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const MAX: usize = 8192;

    /// The RFC 6455 §1.2 example request, minus `Origin`, with `extra` headers added.
    fn request_with(extra: &str) -> Vec<u8> {
        format!(
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    /// A valid request with the header line starting with `name:` removed and `extra` added.
    fn request_without(name: &str, extra: &str) -> Vec<u8> {
        let text = String::from_utf8(request_with("")).expect("ASCII");
        let mut head: String = text
            .split_inclusive("\r\n")
            .filter(|line| !line.starts_with(&format!("{name}:")) && *line != "\r\n")
            .collect();
        head.push_str(extra);
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// A valid upgrade: the request, its WebSocket part, and the head's length.
    fn parse_ok(buf: &[u8]) -> (Request, Upgrade, usize) {
        let (request, used) = parse_request(buf, MAX)
            .expect("valid request")
            .expect("complete request");
        let upgrade = request.upgrade.clone().expect("a valid upgrade");
        (request, upgrade, used)
    }

    /// Why `buf` is not a valid upgrade: not HTTP at all, or HTTP but not an upgrade.
    fn parse_err(buf: &[u8]) -> HandshakeError {
        match parse_request(buf, MAX) {
            Err(e) => e,
            Ok(Some((request, _))) => request.upgrade.expect_err("must be rejected"),
            Ok(None) => panic!("incomplete: {:?}", String::from_utf8_lossy(buf)),
        }
    }

    fn assert_rejected(buf: &[u8], expected: HandshakeError, status: u16) {
        let err = parse_err(buf);
        assert_eq!(err, expected, "{:?}", String::from_utf8_lossy(buf));
        assert_eq!(err.http_status(), status, "{expected:?}");
    }

    #[test]
    fn parses_rfc_example_request() {
        let buf = request_with(
            "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n",
        );
        let (request, upgrade, consumed) = parse_ok(&buf);
        assert_eq!(consumed, buf.len());
        assert_eq!(request.path, "/chat");
        assert_eq!(upgrade.key, KEY);
        assert_eq!(upgrade.protocols, ["chat", "superchat"]);
        assert_eq!(request.headers.len(), 7);
        assert_eq!(
            request.headers[0],
            ("Host".into(), b"server.example.com".to_vec())
        );
    }

    #[test]
    fn parses_browser_request() {
        // As sent by Chrome, including an extension offer we do not take up.
        let buf = b"GET /socket?token=abc HTTP/1.1\r\n\
            Host: localhost:9001\r\n\
            Connection: Upgrade\r\n\
            Pragma: no-cache\r\n\
            Cache-Control: no-cache\r\n\
            User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
            Upgrade: websocket\r\n\
            Origin: http://localhost:9001\r\n\
            Sec-WebSocket-Version: 13\r\n\
            Accept-Encoding: gzip, deflate, br, zstd\r\n\
            Accept-Language: en-US,en;q=0.9\r\n\
            Cookie: session=xyz; theme=dark\r\n\
            Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
            Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
            \r\n";
        let (request, upgrade, consumed) = parse_ok(buf);
        assert_eq!(consumed, buf.len());
        assert_eq!(request.path, "/socket?token=abc");
        assert_eq!(upgrade.key, "x3JJHMbDL1EzLkh9GBhXDw==");
        assert!(upgrade.protocols.is_empty());
        assert_eq!(
            request.header("sec-websocket-extensions"),
            Some(&b"permessage-deflate; client_max_window_bits"[..])
        );
        // Firefox's `Connection: keep-alive, Upgrade` works as well.
        let firefox = String::from_utf8_lossy(buf)
            .replace("Connection: Upgrade", "Connection: keep-alive, Upgrade");
        parse_ok(firefox.as_bytes());
    }

    #[test]
    fn round_trip_with_client_encode() {
        let client = ClientRequest {
            host: "example.com".into(),
            path: String::new(),
            headers: vec![("X-Custom".into(), "1, 2\t3".into())],
            protocols: vec!["mqtt".into()],
        };
        let mut out = BytesMut::new();
        client.encode(KEY, &mut out).expect("valid");
        let (request, upgrade, consumed) = parse_ok(&out);
        assert_eq!(consumed, out.len());
        assert_eq!(request.path, "/");
        assert_eq!(upgrade.key, KEY);
        assert_eq!(upgrade.protocols, ["mqtt"]);
        assert_eq!(request.header("x-custom"), Some(&b"1, 2\t3"[..]));
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_first_wins() {
        let (request, _, _) = parse_ok(&request_with("X-Dup: one\r\nx-dup: two\r\n"));
        assert_eq!(request.header("X-DUP"), Some(&b"one"[..]));
        assert_eq!(request.header("sec-websocket-KEY"), Some(KEY.as_bytes()));
        assert_eq!(request.header("X-Missing"), None);
    }

    #[test]
    fn protocols_from_all_headers_in_order() {
        let (_, upgrade, _) = parse_ok(&request_with(
            "Sec-WebSocket-Protocol: a ,b\r\nSec-WebSocket-Protocol: ,, c\r\nsec-websocket-protocol: d\r\n",
        ));
        assert_eq!(upgrade.protocols, ["a", "b", "c", "d"]);
    }

    #[test]
    fn tokens_are_case_insensitive() {
        let buf = format!(
            "GET / HTTP/1.1\r\nhost: x\r\nUPGRADE: WebSocket\r\n\
             connection: keep-alive, Upgrade\r\nSEC-WEBSOCKET-KEY: {KEY}\r\n\
             sec-websocket-version: 13\r\n\r\n"
        );
        parse_ok(buf.as_bytes());
        // Tokens may also be spread over repeated headers.
        let buf = request_without(
            "Connection",
            "Connection: keep-alive\r\nConnection: UPGRADE\r\nUpgrade: h2c\r\n",
        );
        parse_ok(&buf);
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let buf = request_with("Sec-WebSocket-Protocol: chat\r\n");
        for split in 0..buf.len() {
            assert_eq!(
                parse_request(&buf[..split], MAX),
                Ok(None),
                "prefix of {split} bytes"
            );
        }
    }

    #[test]
    fn trailing_frame_bytes_are_not_consumed() {
        let head = request_with("");
        let mut buf = head.clone();
        // A masked text frame the client pipelined behind its request.
        let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
        buf.extend_from_slice(&frame);
        let (_, _, consumed) = parse_ok(&buf);
        assert_eq!(consumed, head.len());
        assert_eq!(&buf[consumed..], &frame);
    }

    #[test]
    fn rejects_non_get() {
        let buf = String::from_utf8(request_with(""))
            .expect("ASCII")
            .replacen("GET", "POST", 1);
        assert_rejected(buf.as_bytes(), HandshakeError::MethodNotGet, 405);
        // Methods are case-sensitive.
        let buf = String::from_utf8(request_with(""))
            .expect("ASCII")
            .replacen("GET", "get", 1);
        assert_rejected(buf.as_bytes(), HandshakeError::MethodNotGet, 405);
    }

    #[test]
    fn rejects_http_1_0() {
        let buf = String::from_utf8(request_with(""))
            .expect("ASCII")
            .replacen("HTTP/1.1", "HTTP/1.0", 1);
        assert_rejected(buf.as_bytes(), HandshakeError::HttpVersion, 505);
    }

    #[test]
    fn rejects_missing_headers() {
        for name in [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Key",
        ] {
            assert_rejected(
                &request_without(name, ""),
                HandshakeError::MissingHeader(name),
                400,
            );
        }
    }

    #[test]
    fn rejects_wrong_upgrade_and_connection() {
        assert_rejected(
            &request_without("Upgrade", "Upgrade: h2c, websocket2\r\n"),
            HandshakeError::UpgradeNotWebSocket,
            400,
        );
        assert_rejected(
            &request_without("Connection", "Connection: keep-alive, upgrades\r\n"),
            HandshakeError::ConnectionNotUpgrade,
            400,
        );
    }

    #[test]
    fn rejects_unsupported_version() {
        for version in ["8", "", "13, 8", "14"] {
            assert_rejected(
                &request_without(
                    "Sec-WebSocket-Version",
                    &format!("Sec-WebSocket-Version: {version}\r\n"),
                ),
                HandshakeError::UnsupportedVersion,
                426,
            );
        }
        assert_rejected(
            &request_with("Sec-WebSocket-Version: 13\r\n"),
            HandshakeError::UnsupportedVersion,
            426,
        );
    }

    #[test]
    fn rejects_bad_keys() {
        for key in [
            "",
            "short",
            // 15 and 17 bytes.
            "AQIDBAUGBwgJCgsMDQ4P",
            "AQIDBAUGBwgJCgsMDQ4PEBE=",
            // 24 characters, but not base64.
            "!!!!!!!!!!!!!!!!!!!!!!==",
            // 16 bytes without padding.
            "AQIDBAUGBwgJCgsMDQ4PEA",
        ] {
            assert_rejected(
                &request_without(
                    "Sec-WebSocket-Key",
                    &format!("Sec-WebSocket-Key: {key}\r\n"),
                ),
                HandshakeError::BadKey,
                400,
            );
        }
        assert_rejected(
            &request_with("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"),
            HandshakeError::BadKey,
            400,
        );
        // Non-UTF-8 bytes in the key.
        let mut buf = request_without("Sec-WebSocket-Key", "Sec-WebSocket-Key: ");
        buf.truncate(buf.len() - 2);
        buf.extend_from_slice(b"\xff\xfeAAAAAAAAAAAAAAAAAAAA==\r\n\r\n");
        assert_rejected(&buf, HandshakeError::BadKey, 400);
    }

    #[test]
    fn rejects_non_token_protocols() {
        assert_rejected(
            &request_with("Sec-WebSocket-Protocol: chat, sup er\r\n"),
            HandshakeError::BadProtocol("sup er".into()),
            400,
        );
    }

    #[test]
    fn rejects_malformed_head() {
        assert_rejected(
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            HandshakeError::Malformed(httparse::Error::HeaderName),
            400,
        );
        assert!(matches!(
            parse_err(b"GET / HTTP/3.0\r\n\r\n"),
            HandshakeError::Malformed(_)
        ));
        assert!(matches!(
            parse_err(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            HandshakeError::Malformed(_)
        ));
    }

    #[test]
    fn rejects_too_many_headers() {
        let extra: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_rejected(&request_with(&extra), HandshakeError::TooManyHeaders, 431);
    }

    #[test]
    fn size_limit() {
        let buf = request_with("");
        let len = buf.len();
        assert!(matches!(parse_request(&buf, len), Ok(Some((_, n))) if n == len));
        let err = parse_request(&buf, len - 1).expect_err("one byte too long");
        assert_eq!(err, HandshakeError::HeadTooLarge { max: len - 1 });
        assert_eq!(err.http_status(), 431);

        let partial = &buf[..100];
        assert_eq!(parse_request(partial, 100), Ok(None));
        assert_eq!(
            parse_request(partial, 99),
            Err(HandshakeError::HeadTooLarge { max: 99 })
        );

        let mut endless = b"GET / HTTP/1.1\r\nCookie: ".to_vec();
        endless.resize(1 << 20, b'a');
        assert_eq!(
            parse_request(&endless, 4096),
            Err(HandshakeError::HeadTooLarge { max: 4096 })
        );
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let good = request_with("Sec-WebSocket-Protocol: chat\r\n");
        for buf in super::super::mutations(5, &good, 2000) {
            let _ = parse_request(&buf, 256);
        }
    }

    #[test]
    fn encode_accept_exact_bytes() {
        let mut out = BytesMut::new();
        let extra = [("Set-Cookie".to_string(), "id=1".to_string())];
        encode_accept(KEY, Some("chat"), &extra, &mut out).expect("valid");
        assert_eq!(
            &out[..],
            b"HTTP/1.1 101 Switching Protocols\r\n\
              Upgrade: websocket\r\n\
              Connection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Protocol: chat\r\n\
              Set-Cookie: id=1\r\n\
              \r\n"
        );
    }

    #[test]
    fn encode_accept_parses_on_the_client() {
        let (_, upgrade, _) =
            parse_ok(&request_with("Sec-WebSocket-Protocol: chat, superchat\r\n"));
        let mut out = BytesMut::new();
        encode_accept(&upgrade.key, Some("superchat"), &[], &mut out).expect("valid");
        let (response, consumed) = parse_response(&out, KEY, &upgrade.protocols, None, MAX)
            .expect("valid")
            .expect("complete");
        assert_eq!(consumed, out.len());
        assert_eq!(response.protocol.as_deref(), Some("superchat"));
    }

    #[test]
    fn encode_accept_rejects_invalid_headers() {
        let mut out = BytesMut::new();
        let bad_name = [("X Y".to_string(), "v".to_string())];
        let err = encode_accept(KEY, None, &bad_name, &mut out).expect_err("bad name");
        assert_eq!(err, HandshakeError::InvalidHeaderName("X Y".into()));
        assert_eq!(err.http_status(), 500);

        let bad_value = [("X-Y".to_string(), "v\r\nX-Evil: 1".to_string())];
        assert_eq!(
            encode_accept(KEY, None, &bad_value, &mut out),
            Err(HandshakeError::InvalidHeaderValue { name: "X-Y".into() })
        );
        assert_eq!(
            encode_accept(KEY, Some("a b"), &[], &mut out),
            Err(HandshakeError::InvalidProtocol("a b".into()))
        );
        assert!(out.is_empty(), "nothing written on error");
    }

    fn reject(status: u16) -> String {
        let mut out = BytesMut::new();
        encode_reject(status, &mut out);
        String::from_utf8(out.to_vec()).expect("ASCII")
    }

    #[test]
    fn encode_reject_responses() {
        assert_eq!(
            reject(400),
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            reject(426),
            "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\nConnection: close\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        assert_eq!(
            reject(405),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\
             Allow: GET\r\n\r\n"
        );
        for (status, reason) in [
            (403, "Forbidden"),
            (404, "Not Found"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (503, "Service Unavailable"),
            (505, "HTTP Version Not Supported"),
            (429, "Client Error"),
            (502, "Server Error"),
            (302, "Redirection"),
        ] {
            assert!(
                reject(status).starts_with(&format!("HTTP/1.1 {status} {reason}\r\n")),
                "{status}"
            );
        }
        // Not a three-digit status: sent as 500 rather than as broken HTTP.
        assert!(reject(0).starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
        assert!(reject(1000).starts_with("HTTP/1.1 500 "));
    }

    #[test]
    fn rejections_are_valid_http_that_the_client_reports() {
        for status in [400, 405, 426, 431, 505, 1000] {
            let mut out = BytesMut::new();
            encode_reject(status, &mut out);
            let err = parse_response(&out, KEY, &[], None, MAX).expect_err("not a 101");
            assert_eq!(
                err,
                HandshakeError::BadStatus(if status > 999 { 500 } else { status })
            );
        }
    }

    #[test]
    fn plain_requests_are_parsed_and_say_why_they_are_no_upgrade() {
        for (head, method, path, why) in [
            (
                "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET",
                "/health",
                HandshakeError::MissingHeader("Upgrade"),
            ),
            (
                "HEAD /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
                "HEAD",
                "/metrics?x=1",
                HandshakeError::MethodNotGet,
            ),
            // HTTP/1.0 tools (curl -0, probes) get an answer too.
            (
                "GET / HTTP/1.0\r\n\r\n",
                "GET",
                "/",
                HandshakeError::HttpVersion,
            ),
        ] {
            let (request, used) = parse_request(head.as_bytes(), MAX)
                .expect("HTTP")
                .expect("complete");
            assert_eq!(used, head.len());
            assert_eq!(
                (request.method.as_str(), request.path.as_str()),
                (method, path)
            );
            assert_eq!(request.upgrade, Err(why));
            assert!(!request.is_upgrade());
            assert!(request.protocols().is_empty());
            assert_eq!(request.choose_protocol(&["chat".into()]), None);
        }
    }

    fn answer(response: &HttpResponse, head_only: bool) -> Result<String, HandshakeError> {
        let mut out = BytesMut::new();
        let result = encode_response(response, head_only, &mut out);
        if result.is_err() {
            assert!(out.is_empty(), "nothing written on error");
        }
        result.map(|()| String::from_utf8(out.to_vec()).expect("ASCII"))
    }

    #[test]
    fn encode_response_exact_bytes() {
        let page = HttpResponse::new(200)
            .with_header("Content-Type", "text/plain")
            .with_body("ok\n");
        assert_eq!(
            answer(&page, false).as_deref(),
            Ok(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\
                Content-Type: text/plain\r\n\r\nok\n"
            )
        );
        // HEAD: the same head, no body.
        assert_eq!(
            answer(&page, true).as_deref(),
            Ok(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\
                Content-Type: text/plain\r\n\r\n"
            )
        );
        let unauthorized = HttpResponse::new(401).with_header("WWW-Authenticate", "Bearer");
        assert!(answer(&unauthorized, false)
            .expect("valid")
            .starts_with("HTTP/1.1 401 Unauthorized\r\n"));
    }

    #[test]
    fn encode_response_refuses_what_would_break_the_framing() {
        for name in [
            "Content-Length",
            "content-length",
            "Transfer-Encoding",
            "CONNECTION",
        ] {
            let response = HttpResponse::new(200).with_header(name, "1");
            assert_eq!(
                answer(&response, false),
                Err(HandshakeError::InvalidHeaderName(name.into()))
            );
        }
        let injected = HttpResponse::new(200).with_header("X-A", "1\r\nX-B: 2");
        assert_eq!(
            answer(&injected, false),
            Err(HandshakeError::InvalidHeaderValue { name: "X-A".into() })
        );
        for status in [0, 100, 101, 199, 1000] {
            assert_eq!(
                answer(&HttpResponse::new(status), false),
                Err(HandshakeError::InvalidStatus(status))
            );
        }
    }

    #[test]
    fn answers_are_valid_http_that_the_client_reports() {
        for status in [200, 401, 403, 404, 503] {
            let response = HttpResponse::new(status)
                .with_header("Retry-After", "1")
                .with_body("body");
            let out = answer(&response, false).expect("valid");
            let err = parse_response(out.as_bytes(), KEY, &[], None, MAX).expect_err("not a 101");
            assert_eq!(err, HandshakeError::BadStatus(status));
        }
    }

    #[test]
    fn every_request_error_status_has_a_specific_reason() {
        for err in [
            HandshakeError::Malformed(httparse::Error::Token),
            HandshakeError::TooManyHeaders,
            HandshakeError::HeadTooLarge { max: 1 },
            HandshakeError::HttpVersion,
            HandshakeError::MethodNotGet,
            HandshakeError::MissingHeader("Host"),
            HandshakeError::UpgradeNotWebSocket,
            HandshakeError::ConnectionNotUpgrade,
            HandshakeError::UnsupportedVersion,
            HandshakeError::BadKey,
            HandshakeError::BadProtocol("x y".into()),
        ] {
            let reason = reason_phrase(err.http_status());
            assert!(
                !["Client Error", "Server Error", "Unknown"].contains(&reason),
                "{err:?}"
            );
        }
    }
}
