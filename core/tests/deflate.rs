//! permessage-deflate between two connections in memory: negotiation, what goes on the
//! wire, and how bad compressed input is refused.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;

use bytes::{Bytes, BytesMut};
use common::Pair;
use flate2::{Compress, Compression, FlushCompress};
use tether_core::deflate::{Deflate, DeflateParams};
use tether_core::frame::{encode_frame_rsv, CloseCode, FrameDecoder, FramePart, OpCode};
use tether_core::handshake::{ExtensionError, HandshakeError};
use tether_core::ws::{Config, Connection, Event, Message, ProtocolError, State};

fn with(deflate: Deflate) -> Config {
    Config {
        compression: Some(deflate),
        ..Config::default()
    }
}

fn on() -> Config {
    with(Deflate::default())
}

/// A JSON-RPC-like text that compresses well.
fn json(entries: usize) -> String {
    let list: Vec<String> = (0..entries)
        .map(|i| format!(r#"{{"term":3,"index":{i},"command":{{"op":"set","key":"user/{i}"}}}}"#))
        .collect();
    format!(
        r#"{{"jsonrpc":"2.0","method":"raft/append","params":[{}],"id":1}}"#,
        list.join(",")
    )
}

/// Exactly `len` bytes of that JSON.
fn text(len: usize) -> String {
    let mut text = json(len / 60 + 1);
    text.truncate(len);
    text
}

fn messages(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Everything `conn` has to write.
fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(bytes) = conn.poll_transmit() {
        out.extend_from_slice(&bytes);
    }
    out
}

/// The `(fin, rsv, opcode, payload length)` of every frame in `wire`.
fn frames(wire: &[u8], masked: bool) -> Vec<(bool, u8, OpCode, u64)> {
    let mut decoder = FrameDecoder::new(masked, u64::MAX >> 1, 0b111);
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Some(part) = decoder.decode(&mut buf).unwrap() {
        if let FramePart::Header(h) = part {
            out.push((h.fin, h.rsv, h.opcode, h.payload_len));
        }
    }
    assert!(buf.is_empty());
    out
}

/// `data` deflated the way RFC 7692 sends it: sync flush, trailer removed.
fn deflated(data: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    compress
        .compress_vec(data, &mut out, FlushCompress::Sync)
        .unwrap();
    out.truncate(out.len() - 4);
    out
}

fn client_frame(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    encode_frame_rsv(&mut out, fin, rsv, opcode, Some([1, 2, 3, 4]), payload);
    out
}

fn error(events: &[Event]) -> Option<ProtocolError> {
    events.iter().find_map(|e| match e {
        Event::Error(e) => Some(e.clone()),
        _ => None,
    })
}

#[test]
fn off_unless_both_sides_want_it() {
    for (client, server) in [
        (Config::default(), Config::default()),
        (on(), Config::default()),
        (Config::default(), on()),
    ] {
        let pair = Pair::open(client, server);
        assert_eq!(pair.client.compression(), None);
        assert_eq!(pair.server.compression(), None);
    }
    let pair = Pair::open(on(), on());
    let agreed = DeflateParams {
        client_no_context_takeover: false,
        server_no_context_takeover: false,
        client_max_window_bits: 15,
        server_max_window_bits: 15,
    };
    assert_eq!(pair.client.compression(), Some(&agreed));
    assert_eq!(pair.server.compression(), Some(&agreed));
}

#[test]
fn both_sides_agree_on_what_either_asked_for() {
    let asks = Deflate {
        client_max_window_bits: 10,
        server_no_context_takeover: true,
        ..Deflate::default()
    };
    let insists = Deflate {
        server_max_window_bits: 12,
        client_no_context_takeover: true,
        ..Deflate::default()
    };
    let pair = Pair::open(with(asks), with(insists));
    let agreed = DeflateParams {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        client_max_window_bits: 10,
        server_max_window_bits: 12,
    };
    assert_eq!(pair.client.compression(), Some(&agreed));
    assert_eq!(pair.server.compression(), Some(&agreed));
}

#[test]
fn messages_cross_compressed_at_every_split_and_setting() {
    let sizes = [0usize, 1, 255, 256, 300, 5000, 70_000];
    let settings = [
        Deflate::default(),
        Deflate {
            client_no_context_takeover: true,
            server_no_context_takeover: true,
            ..Deflate::default()
        },
        Deflate {
            client_max_window_bits: 9,
            server_max_window_bits: 9,
            ..Deflate::default()
        },
        Deflate {
            client_max_window_bits: 8,
            server_max_window_bits: 8,
            ..Deflate::default()
        },
    ];
    for deflate in settings {
        for split in [1, 2, 3, 7, 64, 1000, usize::MAX] {
            let config = Config {
                fragment_size: 1000,
                ..with(deflate.clone())
            };
            let mut pair = Pair::open(config.clone(), config);
            pair.split = split;
            let now = pair.now;
            for &len in &sizes {
                pair.client.send(now, Message::Text(text(len))).unwrap();
                let binary = Bytes::from(text(len).into_bytes());
                pair.server.send(now, Message::Binary(binary)).unwrap();
            }
            pair.drive();
            let at_server = messages(&pair.server_events);
            let at_client = messages(&pair.client_events);
            assert_eq!(at_server.len(), sizes.len(), "{deflate:?} split {split}");
            assert_eq!(at_client.len(), sizes.len(), "{deflate:?} split {split}");
            for ((at_server, at_client), &len) in at_server.iter().zip(&at_client).zip(&sizes) {
                assert_eq!(at_server, &Message::Text(text(len)));
                assert_eq!(at_client, &Message::Binary(text(len).into_bytes().into()));
            }
            assert!(error(&pair.server_events).is_none() && error(&pair.client_events).is_none());
        }
    }
}

#[test]
fn a_compressed_message_has_rsv1_on_its_first_frame_only() {
    let config = Config {
        fragment_size: 200,
        ..on()
    };
    let mut pair = Pair::open(config.clone(), config);
    let now = pair.now;
    let text = json(100);
    pair.client.send(now, Message::Text(text.clone())).unwrap();
    let wire = drain(&mut pair.client);
    let sent = frames(&wire, true);
    assert!(sent.len() > 1, "{sent:?}");
    assert_eq!(sent[0].1, 0b100);
    assert_eq!(sent[0].2, OpCode::Text);
    for frame in &sent[1..] {
        assert_eq!((frame.1, frame.2), (0, OpCode::Continuation), "{sent:?}");
    }
    let compressed: u64 = sent.iter().map(|f| f.3).sum();
    assert!(
        compressed * 5 < text.len() as u64,
        "{compressed} of {}",
        text.len()
    );
    pair.server.handle_input(now, &wire);
    pair.drive();
    assert_eq!(messages(&pair.server_events), [Message::Text(text)]);
}

#[test]
fn the_threshold_and_an_8_bit_window_send_uncompressed() {
    let config = with(Deflate {
        threshold: 1000,
        ..Deflate::default()
    });
    let mut pair = Pair::open(config.clone(), config);
    let now = pair.now;
    pair.server.send(now, Message::Text(text(999))).unwrap();
    pair.server.send(now, Message::Text(text(1000))).unwrap();
    let rsv: Vec<u8> = frames(&drain(&mut pair.server), false)
        .iter()
        .map(|f| f.1)
        .collect();
    assert_eq!(rsv, [0, 0b100]);

    // zlib cannot compress within 256 bytes: agreed, but every message goes out as it is.
    let eight = with(Deflate {
        server_max_window_bits: 8,
        ..Deflate::default()
    });
    let mut pair = Pair::open(eight.clone(), eight);
    assert_eq!(pair.server.compression().unwrap().server_max_window_bits, 8);
    let now = pair.now;
    pair.server.send(now, Message::Text(json(50))).unwrap();
    pair.client.send(now, Message::Text(json(50))).unwrap();
    assert_eq!(frames(&drain(&mut pair.server), false)[0].1, 0);
    assert_eq!(frames(&drain(&mut pair.client), true)[0].1, 0b100);
}

#[test]
fn context_takeover_makes_a_repeated_message_cheaper() {
    let message = json(30);
    let wire_sizes = |deflate: Deflate| {
        let mut pair = Pair::open(with(deflate.clone()), with(deflate));
        let now = pair.now;
        (0..2)
            .map(|_| {
                pair.client
                    .send(now, Message::Text(message.clone()))
                    .unwrap();
                drain(&mut pair.client).len()
            })
            .collect::<Vec<_>>()
    };
    let takeover = wire_sizes(Deflate::default());
    assert!(takeover[1] * 4 < takeover[0], "{takeover:?}");
    let fresh = wire_sizes(Deflate {
        client_no_context_takeover: true,
        ..Deflate::default()
    });
    assert_eq!(fresh[0], fresh[1], "{fresh:?}");
}

#[test]
fn a_zip_bomb_closes_with_1009_without_inflating_it_all() {
    let limit = 1 << 20;
    let server = Config {
        max_message_size: limit,
        ..on()
    };
    let mut pair = Pair::open(on(), server);
    let now = pair.now;
    // 16 MiB of zeros deflate to 16 KiB: one small frame, 16 times over the limit.
    let bomb = deflated(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 20 << 10);
    let wire = client_frame(true, 0b100, OpCode::Binary, &bomb);
    let mut largest = 0;
    for piece in wire.chunks(4096) {
        pair.server.handle_input(now, piece);
        largest = largest.max(pair.server.buffered_input());
    }
    assert!(
        largest <= limit + 4096,
        "held {largest} bytes for a {limit}-byte limit"
    );
    pair.drive();
    match error(&pair.server_events) {
        Some(ProtocolError::MessageTooBig { size, max }) => {
            assert_eq!(max, limit);
            assert!(size <= limit as u64 + 1, "inflated {size} bytes");
        }
        other => panic!("expected MessageTooBig, got {other:?}"),
    }
    let closed = pair.client_events.iter().find_map(|e| match e {
        Event::Closed(info) => Some(info.code),
        _ => None,
    });
    assert_eq!(closed, Some(CloseCode::MESSAGE_TOO_BIG));
    // The same bomb cut into fragments is stopped the same way.
    let mut pair = Pair::open(
        on(),
        Config {
            max_message_size: limit,
            ..on()
        },
    );
    let mut wire = client_frame(false, 0b100, OpCode::Binary, &bomb[..1000]);
    for chunk in bomb[1000..].chunks(1000) {
        wire.extend_from_slice(&client_frame(false, 0, OpCode::Continuation, chunk));
    }
    pair.inject_to_server(&wire);
    assert!(matches!(
        error(&pair.server_events),
        Some(ProtocolError::MessageTooBig { .. })
    ));
}

#[test]
fn bad_compressed_input_fails_the_connection() {
    let cases: Vec<(BytesMut, CloseCode)> = vec![
        // Not a deflate stream.
        (
            client_frame(true, 0b100, OpCode::Binary, &[0xff; 10]),
            CloseCode::INVALID_PAYLOAD,
        ),
        // Compressed text that inflates to invalid UTF-8.
        (
            client_frame(true, 0b100, OpCode::Text, &deflated(b"ok \xff")),
            CloseCode::INVALID_PAYLOAD,
        ),
        // RSV1 on a continuation frame.
        (
            {
                let mut w = client_frame(false, 0b100, OpCode::Text, &deflated(b"a")[..1]);
                w.extend_from_slice(&client_frame(true, 0b100, OpCode::Continuation, b""));
                w
            },
            CloseCode::PROTOCOL_ERROR,
        ),
        // RSV1 on a control frame.
        (
            client_frame(true, 0b100, OpCode::Ping, b""),
            CloseCode::PROTOCOL_ERROR,
        ),
        // RSV2 is still nobody's.
        (
            client_frame(true, 0b010, OpCode::Text, b"x"),
            CloseCode::PROTOCOL_ERROR,
        ),
    ];
    for (wire, code) in cases {
        let mut pair = Pair::open(on(), on());
        pair.inject_to_server(&wire);
        let err = error(&pair.server_events).unwrap_or_else(|| panic!("no error for {wire:?}"));
        assert_eq!(err.close_code(), code, "{err:?}");
        assert_eq!(pair.server.state(), State::Closed);
    }
    // Without deflate agreed, RSV1 is a protocol error like any reserved bit.
    let mut pair = Pair::open(Config::default(), Config::default());
    pair.inject_to_server(&client_frame(true, 0b100, OpCode::Text, &deflated(b"hi")));
    assert_eq!(
        error(&pair.server_events).map(|e| e.close_code()),
        Some(CloseCode::PROTOCOL_ERROR)
    );
}

#[test]
fn a_client_fails_the_handshake_on_an_answer_rfc_7692_forbids() {
    let config = with(Deflate {
        server_no_context_takeover: true,
        ..Deflate::default()
    });
    let mut pair = Pair::new(config, Config::default());
    let request = drain(&mut pair.client);
    let request = String::from_utf8(request).unwrap();
    assert!(
        request.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; \
             server_no_context_takeover\r\n"
        ),
        "{request}"
    );
    let key = request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap();
    let mut answer = BytesMut::new();
    let headers = [(
        "Sec-WebSocket-Extensions".to_owned(),
        "permessage-deflate".to_owned(),
    )];
    tether_core::handshake::encode_accept(key, None, &headers, &mut answer).unwrap();
    let now = pair.now;
    pair.client.handle_input(now, &answer);
    let events: Vec<Event> = std::iter::from_fn(|| pair.client.poll_event()).collect();
    assert_eq!(
        error(&events),
        Some(ProtocolError::Handshake(HandshakeError::Extension(
            ExtensionError::ServerContextTakeover
        )))
    );
    assert_eq!(pair.client.state(), State::Closed);
}
