//! The `handshake` target: upgrade requests and responses parsed from the fuzzer's bytes,
//! and written again and parsed back.

use bytes::BytesMut;

use crate::deflate::Deflate;
use crate::handshake::{
    deflate_offer, encode_accept, encode_response, negotiate_deflate, parse_request,
    parse_response, ClientRequest, HandshakeError, HttpResponse, Request, Upgrade,
};

/// Head limit for every parse here.
const MAX_HEAD: usize = 8 << 10;

/// Headers [`ClientRequest::encode`] writes itself, so a parsed request's copies of them
/// are not passed on as extra headers.
const OWN_HEADERS: [&str; 6] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
];

/// `data` as an upgrade request and as an upgrade response. Checked:
/// - a parsed head never claims more bytes than it was given, and agreed window sizes are
///   within RFC 7692's 8..=15 (and the server's own limit);
/// - a parsed request whose target is a path (origin form), written again with [`ClientRequest::encode`] (its host, path,
///   protocols and other headers, its key), parses back to the same path, key,
///   protocols and headers;
/// - a permessage-deflate offer built from the first bytes (window sizes, context
///   takeover), answered by a server with settings from the next bytes via
///   [`negotiate_deflate`] and [`encode_accept`] (the protocol chosen from the request's
///   offers), parses with [`parse_response`] to the same window sizes and protocol, and
///   context takeover at least as strict as the server agreed;
/// - a request that is not an upgrade is refused with an error status, and a plain HTTP
///   answer built from what the request carries is either refused before anything is
///   written or is HTTP that a client reads back as that status.
pub fn handshake(data: &[u8]) {
    let server = Deflate {
        client_max_window_bits: 10,
        ..Deflate::default()
    };
    let mut protocols = Vec::new();
    if let Ok(Some((request, used))) = parse_request(data, MAX_HEAD) {
        assert!(used <= data.len());
        // Every header value, not only the extension offers: more shapes for the parser.
        let offers = request.headers.iter().map(|(_, value)| value.as_slice());
        if let Ok((agreed, _)) = negotiate_deflate(&server, offers) {
            assert!((8..=10).contains(&agreed.client_max_window_bits));
            assert!((8..=15).contains(&agreed.server_max_window_bits));
        }
        match &request.upgrade {
            Ok(upgrade) => request_round_trip(&request, upgrade),
            Err(error) => assert!((400..=599).contains(&error.http_status()), "{error:?}"),
        }
        answer_round_trip(data, &request);
        protocols = request.protocols().to_vec();
    }
    let offered = ["raft".to_owned()];
    for offer in [None, Some(&server)] {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        if let Ok(Some((response, used))) = parse_response(data, key, &offered, offer, MAX_HEAD) {
            assert!(used <= data.len());
            if let Some(agreed) = response.deflate {
                assert!((8..=10).contains(&agreed.client_max_window_bits));
                assert!((8..=15).contains(&agreed.server_max_window_bits));
            }
        }
    }
    if let [a, b, c, d, ..] = *data {
        deflate_round_trip(settings(a, b), settings(c, d), &protocols);
    }
}

/// Deflate settings from two bytes: window sizes from the low nibbles (8..=15 and out of
/// range alike), context takeover from the top bits.
fn settings(a: u8, b: u8) -> Deflate {
    Deflate {
        client_max_window_bits: a & 0x0f,
        server_max_window_bits: b & 0x0f,
        client_no_context_takeover: a & 0x80 != 0,
        server_no_context_takeover: b & 0x80 != 0,
        ..Deflate::default()
    }
}

fn request_round_trip(request: &Request, upgrade: &Upgrade) {
    // The parser takes any request target; a client writes only the origin form
    // (`/path?query`), so only those can go round.
    if !request.path.starts_with('/') {
        return;
    }
    let text = |value: &[u8]| String::from_utf8(value.to_vec()).ok();
    let Some(host) = request.header("host").and_then(text) else {
        return;
    };
    let mut headers = Vec::new();
    for (name, value) in &request.headers {
        if OWN_HEADERS.iter().any(|own| own.eq_ignore_ascii_case(name)) {
            continue;
        }
        let Some(value) = text(value) else {
            return;
        };
        headers.push((name.clone(), value));
    }
    let client = ClientRequest {
        host,
        path: request.path.clone(),
        headers,
        protocols: upgrade.protocols.clone(),
    };
    let mut out = BytesMut::new();
    if let Err(error) = client.encode(&upgrade.key, &mut out) {
        panic!("{request:?} parsed, but written again: {error}");
    }
    let back = match parse_request(&out, MAX_HEAD) {
        Ok(Some((back, used))) if used == out.len() => back,
        other => panic!("{request:?} written again as {out:?} parses as {other:?}"),
    };
    assert_eq!(back.path, request.path, "path changed on a round trip");
    let Ok(back_upgrade) = &back.upgrade else {
        panic!("{request:?} written again as {out:?} is no upgrade: {back:?}");
    };
    assert_eq!(
        back_upgrade, upgrade,
        "key or protocols changed on a round trip"
    );
    for (name, value) in &client.headers {
        let found = back
            .headers
            .iter()
            .any(|(n, v)| n == name && v == value.as_bytes());
        assert!(
            found,
            "header {name}: {value:?} lost on a round trip: {back:?}"
        );
    }
}

/// A plain answer whose status, header and body come from the fuzzer's bytes and the
/// request's method and path: encoded, or refused with nothing written.
fn answer_round_trip(data: &[u8], request: &Request) {
    let status = u16::from_le_bytes([
        data.first().copied().unwrap_or(0),
        data.get(1).copied().unwrap_or(0),
    ]) % 1100;
    let response = HttpResponse::new(status)
        .with_header(request.method.clone(), request.path.clone())
        .with_body(request.path.clone());
    let mut out = BytesMut::new();
    match encode_response(&response, request.method == "HEAD", &mut out) {
        Ok(()) => {
            let key = "dGhlIHNhbXBsZSBub25jZQ==";
            let parsed = parse_response(&out, key, &[], None, out.len().max(1));
            assert_eq!(parsed, Err(HandshakeError::BadStatus(status)), "{out:?}");
        }
        Err(_) => assert!(out.is_empty(), "written before refusing"),
    }
}

fn deflate_round_trip(client: Deflate, server: Deflate, protocols: &[String]) {
    let offer = deflate_offer(&client);
    let Ok((agreed, answer)) = negotiate_deflate(&server, [offer.as_bytes()]) else {
        return;
    };
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let protocol = protocols.first().map(String::as_str);
    let mut out = BytesMut::new();
    let headers = [("Sec-WebSocket-Extensions".to_owned(), answer.clone())];
    if let Err(error) = encode_accept(key, protocol, &headers, &mut out) {
        panic!("accepting {offer:?} with {answer:?} and protocol {protocol:?}: {error}");
    }
    let response = match parse_response(&out, key, protocols, Some(&client), MAX_HEAD) {
        Ok(Some((response, used))) if used == out.len() => response,
        other => panic!("the answer {answer:?} to {offer:?} parses as {other:?}"),
    };
    assert_eq!(response.protocol.as_deref(), protocol);
    let Some(seen) = response.deflate else {
        panic!("the answer {answer:?} to {offer:?} reads as no compression");
    };
    assert_eq!(
        (seen.client_max_window_bits, seen.server_max_window_bits),
        (agreed.client_max_window_bits, agreed.server_max_window_bits),
        "window sizes of {answer:?} (to {offer:?}) read differently"
    );
    assert!(seen.client_no_context_takeover >= agreed.client_no_context_takeover);
    assert!(seen.server_no_context_takeover >= agreed.server_no_context_takeover);
}
