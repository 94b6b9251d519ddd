//! The client half: build the upgrade request, validate the server's response.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, BytesMut};

use super::extension::deflate_response;
use super::{
    check_header, check_upgrade_tokens, derive_accept_key, head_len, is_token, list_elements,
    owned_headers, put_header, values, window, HandshakeError, MAX_HEADERS,
};
use crate::deflate::{Deflate, DeflateParams};
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
    /// assert_eq!(parsed.protocols(), ["v2.chat"]);
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
    /// The permessage-deflate parameters in effect, if the server accepted our offer.
    pub deflate: Option<DeflateParams>,
}

/// Parses and validates the server's response to a request sent with `key` offering
/// `protocols` and, if `deflate` is given, permessage-deflate with those settings (see
/// [`deflate_offer`](super::deflate_offer)). `Ok(None)` until the head is complete; an error
/// if it is longer than `max_size`.
///
/// On success also returns the length of the head; bytes after it are the server's first
/// frames and are left alone.
pub fn parse_response(
    buf: &[u8],
    key: &str,
    protocols: &[String],
    deflate: Option<&Deflate>,
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

    check_upgrade_tokens(headers)?;

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

    // The server may enable only what we offered (RFC 6455 §4.1).
    let extensions = values(headers, "Sec-WebSocket-Extensions");
    let deflate = match deflate {
        Some(offered) => deflate_response(offered, extensions)?,
        None => match extensions
            .into_iter()
            .find(|v| list_elements(v).next().is_some())
        {
            Some(value) => {
                return Err(HandshakeError::UnofferedExtension(lossy(
                    value.trim_ascii(),
                )))
            }
            None => None,
        },
    };

    Ok(Some((
        Response {
            headers: owned_headers(headers),
            protocol,
            deflate,
        },
        len,
    )))
}

/// Peer bytes for an error message; not necessarily UTF-8.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{encode_accept, parse_request, ExtensionError};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    const MAX: usize = 8192;

    fn request() -> ClientRequest {
        ClientRequest {
            host: "example.com:8080".into(),
            path: "/chat?room=1".into(),
            headers: vec![
                ("Origin".into(), "https://example.com".into()),
                ("Authorization".into(), "Bearer abc.def".into()),
            ],
            protocols: vec!["v2.chat".into(), "v1.chat".into()],
        }
    }

    fn encoded(request: &ClientRequest) -> BytesMut {
        let mut out = BytesMut::new();
        request.encode(KEY, &mut out).expect("valid request");
        out
    }

    fn response(extra: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    fn offered() -> Vec<String> {
        vec!["chat".into(), "superchat".into()]
    }

    fn parse_err(buf: &[u8], protocols: &[String]) -> HandshakeError {
        parse_response(buf, KEY, protocols, None, MAX).expect_err("must be rejected")
    }

    fn parse_ok(buf: &[u8], protocols: &[String]) -> (Response, usize) {
        parse_response(buf, KEY, protocols, None, MAX)
            .expect("valid response")
            .expect("complete response")
    }

    #[test]
    fn encode_exact_bytes() {
        let out = encoded(&request());
        assert_eq!(
            &out[..],
            b"GET /chat?room=1 HTTP/1.1\r\n\
              Host: example.com:8080\r\n\
              Upgrade: websocket\r\n\
              Connection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: v2.chat, v1.chat\r\n\
              Origin: https://example.com\r\n\
              Authorization: Bearer abc.def\r\n\
              \r\n"
        );
    }

    #[test]
    fn encode_minimal_and_empty_path() {
        let request = ClientRequest {
            host: "h".into(),
            ..ClientRequest::default()
        };
        let out = encoded(&request);
        assert_eq!(
            &out[..],
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
    }

    #[test]
    fn encode_appends() {
        let mut out = BytesMut::from(&b"prefix"[..]);
        request().encode(KEY, &mut out).expect("valid");
        assert!(out.starts_with(b"prefixGET /chat"));
    }

    #[test]
    fn encode_round_trips_through_parse_request() {
        let out = encoded(&request());
        let (parsed, consumed) = parse_request(&out, MAX).expect("valid").expect("complete");
        assert_eq!(consumed, out.len());
        assert_eq!(parsed.path, "/chat?room=1");
        let upgrade = parsed.upgrade.as_ref().expect("an upgrade");
        assert_eq!(upgrade.key, KEY);
        assert_eq!(upgrade.protocols, ["v2.chat", "v1.chat"]);
        assert_eq!(parsed.header("host"), Some(&b"example.com:8080"[..]));
        assert_eq!(parsed.header("ORIGIN"), Some(&b"https://example.com"[..]));
        assert_eq!(parsed.header("authorization"), Some(&b"Bearer abc.def"[..]));
    }

    #[test]
    fn encode_rejects_bad_header_names() {
        for name in ["", "Bad Name", "X:Y", "X\r\nEvil", "Ümlaut", "X\0"] {
            let mut request = request();
            request.headers.push((name.into(), "v".into()));
            let mut out = BytesMut::new();
            let err = request.encode(KEY, &mut out).expect_err(name);
            assert_eq!(err, HandshakeError::InvalidHeaderName(name.into()));
            assert_eq!(err.http_status(), 500);
            assert!(out.is_empty(), "nothing written on error");
        }
    }

    #[test]
    fn encode_rejects_bad_header_values() {
        for value in ["a\r\nX-Evil: 1", "a\rb", "a\nb", "a\0b", "a\x7fb", "a\x01b"] {
            let mut request = request();
            request.headers.push(("X-Test".into(), value.into()));
            let mut out = BytesMut::new();
            let err = request.encode(KEY, &mut out).expect_err(value);
            assert_eq!(
                err,
                HandshakeError::InvalidHeaderValue {
                    name: "X-Test".into()
                }
            );
            assert!(out.is_empty());
        }
        // Tabs and non-ASCII text are legal field content.
        let mut request = request();
        request.headers.push(("X-Test".into(), "a\tb ü".into()));
        encoded(&request);
    }

    #[test]
    fn encode_rejects_bad_host_key_path_protocol() {
        let mut out = BytesMut::new();

        let bad_host = ClientRequest {
            host: "example.com\r\nX: y".into(),
            ..request()
        };
        assert_eq!(
            bad_host.encode(KEY, &mut out),
            Err(HandshakeError::InvalidHeaderValue {
                name: "Host".into()
            })
        );

        assert_eq!(
            request().encode("key\n", &mut out),
            Err(HandshakeError::InvalidHeaderValue {
                name: "Sec-WebSocket-Key".into()
            })
        );

        for path in ["chat", "/a b", "/a\r\n", "/ü"] {
            let bad_path = ClientRequest {
                path: path.into(),
                ..request()
            };
            assert_eq!(
                bad_path.encode(KEY, &mut out),
                Err(HandshakeError::InvalidPath(path.into()))
            );
        }

        for protocol in ["", "a,b", "a b", "chat\r\n"] {
            let bad_protocol = ClientRequest {
                protocols: vec!["ok".into(), protocol.into()],
                ..request()
            };
            assert_eq!(
                bad_protocol.encode(KEY, &mut out),
                Err(HandshakeError::InvalidProtocol(protocol.into()))
            );
        }
        assert!(out.is_empty());
    }

    #[test]
    fn generate_key_is_16_random_bytes_and_replayable() {
        let mut rng = Rng::from_seed([7; 32]);
        let first = generate_key(&mut rng);
        let second = generate_key(&mut rng);
        assert_ne!(first, second);
        for key in [&first, &second] {
            assert_eq!(key.len(), 24);
            assert_eq!(STANDARD.decode(key).expect("base64").len(), 16);
        }
        assert_eq!(generate_key(&mut Rng::from_seed([7; 32])), first);
    }

    #[test]
    fn generated_key_is_accepted_by_server() {
        let key = generate_key(&mut Rng::from_seed([1; 32]));
        let mut out = BytesMut::new();
        request().encode(&key, &mut out).expect("valid");
        let (parsed, _) = parse_request(&out, MAX).expect("valid").expect("complete");
        assert_eq!(parsed.upgrade.expect("an upgrade").key, key);
    }

    #[test]
    fn parses_rfc_example_response() {
        let buf = response("Sec-WebSocket-Protocol: chat\r\n");
        let (response, consumed) = parse_ok(&buf, &offered());
        assert_eq!(consumed, buf.len());
        assert_eq!(response.protocol.as_deref(), Some("chat"));
        assert_eq!(response.headers.len(), 4);
        assert_eq!(
            response.headers[0],
            ("Upgrade".into(), b"websocket".to_vec())
        );
    }

    #[test]
    fn parses_encode_accept_output() {
        let mut out = BytesMut::new();
        let extra = [("Set-Cookie".to_string(), "id=1".to_string())];
        encode_accept(KEY, Some("superchat"), &extra, &mut out).expect("valid");
        let (response, consumed) = parse_ok(&out, &offered());
        assert_eq!(consumed, out.len());
        assert_eq!(response.protocol.as_deref(), Some("superchat"));
        assert!(response
            .headers
            .contains(&("Set-Cookie".into(), b"id=1".to_vec())));

        out.clear();
        encode_accept(KEY, None, &[], &mut out).expect("valid");
        assert_eq!(parse_ok(&out, &offered()).0.protocol, None);
    }

    #[test]
    fn full_client_server_exchange() {
        let mut rng = Rng::from_seed([9; 32]);
        let key = generate_key(&mut rng);
        let mut wire = BytesMut::new();
        request().encode(&key, &mut wire).expect("valid");
        let (req, _) = parse_request(&wire, MAX).expect("valid").expect("complete");
        let req = req.upgrade.expect("an upgrade");

        let mut answer = BytesMut::new();
        let chosen = req.protocols.last().map(String::as_str);
        encode_accept(&req.key, chosen, &[], &mut answer).expect("valid");
        let (response, _) = parse_response(&answer, &key, &request().protocols, None, MAX)
            .expect("valid")
            .expect("complete");
        assert_eq!(response.protocol.as_deref(), Some("v1.chat"));
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let buf = response("Sec-WebSocket-Protocol: chat\r\n");
        for split in 0..buf.len() {
            assert_eq!(
                parse_response(&buf[..split], KEY, &offered(), None, MAX),
                Ok(None),
                "prefix of {split} bytes"
            );
        }
    }

    #[test]
    fn trailing_frame_bytes_are_not_consumed() {
        let head = response("");
        let mut buf = head.clone();
        // A text frame "hi" that the server sent right behind its 101.
        buf.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        let (_, consumed) = parse_ok(&buf, &[]);
        assert_eq!(consumed, head.len());
        assert_eq!(&buf[consumed..], &[0x81, 0x02, b'h', b'i']);
    }

    #[test]
    fn tokens_are_case_insensitive() {
        let buf = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n\
             CONNECTION: keep-alive, UPGRADE\r\nsec-websocket-accept: {ACCEPT}\r\n\r\n"
        );
        parse_ok(buf.as_bytes(), &[]);

        let buf = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUPGRADE: WEBSOCKET\r\n\
             Connection: keep-alive\r\nConnection:  ,upgrade ,\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        parse_ok(buf.as_bytes(), &[]);
    }

    #[test]
    fn rejects_non_101_status() {
        let buf = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        let err = parse_err(buf, &[]);
        assert_eq!(err, HandshakeError::BadStatus(403));
        assert_eq!(err.http_status(), 400);

        let buf = b"HTTP/1.0 200 OK\r\n\r\n";
        assert_eq!(parse_err(buf, &[]), HandshakeError::BadStatus(200));
    }

    #[test]
    fn rejects_http_1_0() {
        let buf = format!(
            "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        let err = parse_err(buf.as_bytes(), &[]);
        assert_eq!(err, HandshakeError::HttpVersion);
        assert_eq!(err.http_status(), 505);
    }

    #[test]
    fn rejects_missing_or_wrong_upgrade_and_connection() {
        let cases: [(&str, HandshakeError); 4] = [
            (
                "Connection: Upgrade\r\n",
                HandshakeError::MissingHeader("Upgrade"),
            ),
            (
                "Upgrade: h2c\r\nConnection: Upgrade\r\n",
                HandshakeError::UpgradeNotWebSocket,
            ),
            (
                "Upgrade: websocket\r\n",
                HandshakeError::MissingHeader("Connection"),
            ),
            (
                "Upgrade: websocket\r\nConnection: keep-alive, upgraded\r\n",
                HandshakeError::ConnectionNotUpgrade,
            ),
        ];
        for (headers, expected) in cases {
            let buf = format!(
                "HTTP/1.1 101 Switching Protocols\r\n{headers}Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
            );
            let err = parse_err(buf.as_bytes(), &[]);
            assert_eq!(err, expected, "{headers:?}");
            assert_eq!(err.http_status(), 400);
        }
    }

    #[test]
    fn rejects_missing_wrong_or_repeated_accept() {
        let head =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
        let err = parse_err(format!("{head}\r\n").as_bytes(), &[]);
        assert_eq!(err, HandshakeError::MissingHeader("Sec-WebSocket-Accept"));
        assert_eq!(err.http_status(), 400);

        let wrong = format!(
            "{head}Sec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(b"x")
        );
        assert_eq!(parse_err(wrong.as_bytes(), &[]), HandshakeError::BadAccept);

        let twice = format!(
            "{head}Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(parse_err(twice.as_bytes(), &[]), HandshakeError::BadAccept);

        // The accept belongs to a different key than the one we sent.
        let buf = response("");
        assert_eq!(
            parse_response(&buf, "AQIDBAUGBwgJCgsMDQ4PEA==", &[], None, MAX),
            Err(HandshakeError::BadAccept)
        );
    }

    #[test]
    fn rejects_unoffered_protocols() {
        let cases: [(&str, &[String], &str); 5] = [
            ("Sec-WebSocket-Protocol: other\r\n", &offered(), "other"),
            // Subprotocol names are matched exactly (RFC 6455 §4.1).
            ("Sec-WebSocket-Protocol: CHAT\r\n", &offered(), "CHAT"),
            ("Sec-WebSocket-Protocol: chat\r\n", &[], "chat"),
            (
                "Sec-WebSocket-Protocol: chat, superchat\r\n",
                &offered(),
                "chat, superchat",
            ),
            (
                "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat\r\n",
                &offered(),
                "superchat",
            ),
        ];
        for (extra, protocols, reported) in cases {
            let err = parse_err(&response(extra), protocols);
            assert_eq!(
                err,
                HandshakeError::UnofferedProtocol(reported.into()),
                "{extra:?}"
            );
            assert_eq!(err.http_status(), 400);
        }
    }

    #[test]
    fn rejects_extensions() {
        let err = parse_err(
            &response("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            &[],
        );
        assert_eq!(
            err,
            HandshakeError::UnofferedExtension("permessage-deflate".into())
        );
        assert_eq!(err.http_status(), 400);
        // An empty list enables nothing.
        parse_ok(&response("Sec-WebSocket-Extensions: \r\n"), &[]);
    }

    #[test]
    fn accepts_deflate_only_when_offered() {
        let offered = Deflate::default();
        let buf =
            response("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n");
        let (response, _) = parse_response(&buf, KEY, &[], Some(&offered), MAX)
            .expect("valid")
            .expect("complete");
        let deflate = response.deflate.expect("accepted");
        assert_eq!(deflate.server_max_window_bits, 10);
        assert_eq!(deflate.client_max_window_bits, 15);
        // No extension header: offered, but declined.
        let (response, _) = parse_response(&response_bytes(), KEY, &[], Some(&offered), MAX)
            .expect("valid")
            .expect("complete");
        assert_eq!(response.deflate, None);
        // Not offered: refused as before.
        assert_eq!(
            parse_response(&buf, KEY, &[], None, MAX),
            Err(HandshakeError::UnofferedExtension(
                "permessage-deflate; server_max_window_bits=10".into()
            ))
        );
    }

    #[test]
    fn refuses_a_deflate_answer_rfc_7692_forbids() {
        let offered = Deflate {
            server_no_context_takeover: true,
            ..Deflate::default()
        };
        let buf = response("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        let err = parse_response(&buf, KEY, &[], Some(&offered), MAX).expect_err("must refuse");
        assert_eq!(
            err,
            HandshakeError::Extension(ExtensionError::ServerContextTakeover)
        );
        assert_eq!(err.http_status(), 400);
        let buf = response("Sec-WebSocket-Extensions: permessage-deflate, x-foo\r\n");
        assert_eq!(
            parse_response(&buf, KEY, &[], Some(&offered), MAX),
            Err(HandshakeError::UnofferedExtension("x-foo".into()))
        );
    }

    fn response_bytes() -> Vec<u8> {
        response("")
    }

    #[test]
    fn rejects_malformed_head() {
        let err = parse_err(b"HTTP/1.1 101 Switching\r\nBad Header: x\r\n\r\n", &[]);
        assert_eq!(err, HandshakeError::Malformed(httparse::Error::HeaderName));
        assert_eq!(err.http_status(), 400);
        assert!(matches!(
            parse_err(b"HTTP/2.0 101 OK\r\n\r\n", &[]),
            HandshakeError::Malformed(_)
        ));
        assert!(matches!(
            parse_err(b"\x00\xff garbage\r\n\r\n", &[]),
            HandshakeError::Malformed(_)
        ));
    }

    #[test]
    fn rejects_too_many_headers() {
        let extra: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let err = parse_err(&response(&extra), &[]);
        assert_eq!(err, HandshakeError::TooManyHeaders);
        assert_eq!(err.http_status(), 431);
    }

    #[test]
    fn size_limit() {
        let buf = response("");
        let len = buf.len();
        // Exactly at the limit is fine.
        assert!(matches!(parse_response(&buf, KEY, &[], None, len), Ok(Some((_, n))) if n == len));
        // A complete head over the limit is refused, with or without trailing bytes.
        let err = HandshakeError::HeadTooLarge { max: len - 1 };
        assert_eq!(
            parse_response(&buf, KEY, &[], None, len - 1),
            Err(err.clone())
        );
        assert_eq!(err.http_status(), 431);
        // An incomplete head is refused once it has outgrown the limit, not before.
        let partial = &buf[..len - 2];
        assert_eq!(parse_response(partial, KEY, &[], None, len - 2), Ok(None));
        assert_eq!(
            parse_response(partial, KEY, &[], None, len - 3),
            Err(HandshakeError::HeadTooLarge { max: len - 3 })
        );
        // Endless header bytes with no end of head.
        let mut endless = b"HTTP/1.1 101 Switching Protocols\r\nX: ".to_vec();
        endless.resize(100_000, b'a');
        assert_eq!(
            parse_response(&endless, KEY, &[], None, 4096),
            Err(HandshakeError::HeadTooLarge { max: 4096 })
        );
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let good = response("Sec-WebSocket-Protocol: chat\r\n");
        for buf in super::super::mutations(3, &good, 2000) {
            let _ = parse_response(&buf, KEY, &offered(), None, 256);
            let _ = parse_response(&buf, KEY, &offered(), Some(&Deflate::default()), 256);
        }
    }
}
