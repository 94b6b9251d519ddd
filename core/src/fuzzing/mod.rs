//! The bodies of the fuzz targets, shared by `fuzz/` (cargo-fuzz, nightly) and the corpus
//! replay test in `tests/` (stable), so a committed crash input keeps checking the very
//! code that found it. Each body panics only when an invariant breaks.
//!
//! Enabled by the `fuzzing` feature; not part of the stable API.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde_json::value::RawValue;

use crate::deflate::Deflate;
use crate::frame::{encode_frame, FrameDecoder, FramePart, OpCode};
use crate::handshake::{
    encode_response, generate_key, negotiate_deflate, parse_request, parse_response, ClientRequest,
    HandshakeError, HttpResponse,
};
use crate::rng::Rng;
use crate::rpc::{self, Channel, ErrorObject};
use crate::ws::{Config, Connection, Event};

mod budget;
mod pool;
mod session;

pub use budget::budget;
pub use pool::{pool, pool_report, pool_scenarios, PoolReport};
pub use session::{session, session_report, SessionReport};

/// A plain answer whose status, header and body come from the fuzzer's bytes and the
/// request's method and path: encoded, or refused with nothing written.
fn answer_round_trip(data: &[u8], request: &crate::handshake::Request) {
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

/// The first byte picks the piece size and the role; the rest goes through the streaming
/// frame decoder. The payload yielded never exceeds what the headers announced.
pub fn frame_decoder(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(split).max(1);
    let mut decoder = FrameDecoder::new(split & 1 == 0, 1 << 16, 0);
    let mut buf = BytesMut::new();
    let mut announced = 0u64;
    let mut seen = 0u64;
    'feed: for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(FramePart::Header(h))) => announced += h.payload_len,
                Ok(Some(FramePart::Payload { data, .. })) => seen += data.len() as u64,
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    assert!(
        seen <= announced,
        "{seen} payload bytes for {announced} announced"
    );
}

/// `data` as an upgrade request (whose extension offers a server then negotiates) and as an
/// upgrade response, with and without a permessage-deflate offer: a parsed head never claims
/// more bytes than it was given, and agreed window sizes are within RFC 7692's 8..=15. A
/// request that is not an upgrade is refused with an error status, and a plain HTTP answer
/// built from what the request carries is either refused before anything is written or is
/// HTTP that a client reads back as that status.
pub fn handshake(data: &[u8]) {
    let deflate = Deflate {
        client_max_window_bits: 10,
        ..Deflate::default()
    };
    if let Ok(Some((request, used))) = parse_request(data, 8 << 10) {
        assert!(used <= data.len());
        // Every header value, not only the extension offers: more shapes for the parser.
        let offers = request.headers.iter().map(|(_, value)| value.as_slice());
        if let Ok((agreed, _)) = negotiate_deflate(&deflate, offers) {
            assert!((8..=10).contains(&agreed.client_max_window_bits));
            assert!((8..=15).contains(&agreed.server_max_window_bits));
        }
        if let Err(error) = &request.upgrade {
            assert!((400..=599).contains(&error.http_status()), "{error:?}");
        }
        answer_round_trip(data, &request);
    }
    let offered = ["raft".to_owned()];
    for offer in [None, Some(&deflate)] {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        if let Ok(Some((response, used))) = parse_response(data, key, &offered, offer, 8 << 10) {
            assert!(used <= data.len());
            if let Some(agreed) = response.deflate {
                assert!((8..=10).contains(&agreed.client_max_window_bits));
                assert!((8..=15).contains(&agreed.server_max_window_bits));
            }
        }
    }
}

/// A whole client or server [`Connection`] fed `data` in pieces, with timers firing in
/// between: no timer left due after `handle_timeout`, held input under the limits (an
/// inflated message included).
///
/// The first byte picks the role (bit 0), the piece size (bits 1-7) and, with bit 7 set,
/// permessage-deflate on (taken up if the handshake in `data` agrees to it).
pub fn connection(origin: Instant, data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let config = Config {
        max_message_size: 1 << 16,
        max_frame_size: 1 << 16,
        max_handshake_size: 4096,
        compression: (mode & 0x80 != 0).then(|| Deflate {
            threshold: 0,
            ..Deflate::default()
        }),
        ..Config::default()
    };
    let mut now = origin;
    let mut conn = if mode & 1 == 0 {
        Connection::server(now, config.clone(), [mode; 32])
    } else {
        let request = ClientRequest {
            host: "fuzz".into(),
            path: "/".into(),
            ..Default::default()
        };
        match Connection::client(now, config.clone(), request, [mode; 32]) {
            Ok(c) => c,
            Err(_) => return,
        }
    };
    let step = usize::from(mode >> 1).max(1);
    for piece in data.chunks(step) {
        conn.handle_input(now, piece);
        while conn.poll_transmit().is_some() {}
        while let Some(event) = conn.poll_event() {
            match event {
                // Every way of answering: accept (which refuses a plain request itself),
                // reject, or a plain HTTP answer.
                Event::Upgrade(request) => match request.path.len() % 3 {
                    0 => {
                        let _ = conn.accept(now, None, &[]);
                    }
                    1 => {
                        let _ = conn.reject(now, 403);
                    }
                    _ => {
                        let page = HttpResponse::new(200).with_body(request.path.clone());
                        let _ = conn.answer_http(now, &page);
                    }
                },
                // Echo what arrives, so the compressor runs too.
                Event::Message(message) => {
                    let _ = conn.send(now, message);
                }
                _ => {}
            }
        }
        let limit = config.max_message_size + config.max_handshake_size + piece.len();
        assert!(conn.buffered_input() <= limit);
        if piece.first().is_some_and(|b| b & 0xf0 == 0xf0) {
            now += Duration::from_secs(3);
            conn.handle_timeout(now);
            if let Some(next) = conn.poll_timeout() {
                assert!(next > now, "timer left due after handle_timeout");
            }
        }
    }
    conn.handle_eof(now);
    while conn.poll_event().is_some() {}
}

/// A server [`Channel`] past its handshake, fed one text message per 0xff-separated piece
/// of `data`: every request it surfaces is answered, held input stays under the limit.
pub fn rpc_channel(origin: Instant, data: &[u8]) {
    let now = origin;
    let config = rpc::Config {
        max_in_flight: 64,
        max_batch_len: 16,
        ..rpc::Config::default()
    };
    let mut server = Channel::server(now, Config::default(), config, [3; 32]);
    let key = generate_key(&mut Rng::from_seed([4; 32]));
    let request = ClientRequest {
        host: "fuzz".into(),
        path: "/".into(),
        ..Default::default()
    };
    let mut head = BytesMut::new();
    if request.encode(&key, &mut head).is_err() {
        return;
    }
    server.handle_input(now, &head);
    let mut input = BytesMut::new();
    for text in data.split(|&b| b == 0xff) {
        encode_frame(&mut input, true, OpCode::Text, Some([1, 2, 3, 4]), text);
    }
    let Ok(ok) = RawValue::from_string("true".to_owned()) else {
        return;
    };
    for piece in input.chunks(97) {
        server.handle_input(now, piece);
        while let Some(event) = server.poll_event() {
            match event {
                rpc::Event::Upgrade(_) => {
                    let _ = server.accept(now, None, &[]);
                }
                rpc::Event::Request { reply, method, .. } => {
                    let not_found = ErrorObject::method_not_found();
                    let result = if method.len() % 2 == 0 {
                        Ok(&*ok)
                    } else {
                        Err(&not_found)
                    };
                    let _ = server.respond(now, reply, result);
                }
                _ => {}
            }
        }
        while server.poll_transmit().is_some() {}
        let held = server.connection().buffered_input();
        assert!(held <= server.connection().config().max_message_size + 14 + piece.len());
    }
}
