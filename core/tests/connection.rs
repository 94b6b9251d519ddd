//! Scenario tests of two connections talking in memory under a virtual clock.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};

mod common;

use common::Pair;
use tether_core::frame::{encode_frame, CloseCode, OpCode};
use tether_core::handshake::{HandshakeError, HttpResponse};
use tether_core::ws::{
    CloseInfo, Config, Event, Initiator, Message, ProtocolError, SendError, State,
};

fn messages(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn closed(events: &[Event]) -> Option<CloseInfo> {
    events.iter().find_map(|e| match e {
        Event::Closed(info) => Some(info.clone()),
        _ => None,
    })
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn messages_cross_both_ways_at_every_split() {
    let sizes = [0usize, 1, 125, 126, 127, 300];
    for split in 1..=64 {
        let mut pair = Pair::new(Config::default(), Config::default());
        pair.split = split;
        pair.drive();
        assert_eq!(pair.client.state(), State::Open, "split {split}");
        assert_eq!(pair.server.state(), State::Open, "split {split}");
        let now = pair.now;
        for &len in &sizes {
            pair.client
                .send(now, Message::Binary(payload(len).into()))
                .unwrap();
            let text = "ü".repeat(len / 2);
            pair.server.send(now, Message::Text(text)).unwrap();
        }
        pair.drive();
        let at_server = messages(&pair.server_events);
        let at_client = messages(&pair.client_events);
        assert_eq!(at_server.len(), sizes.len(), "split {split}");
        for (m, &len) in at_server.iter().zip(&sizes) {
            assert_eq!(m, &Message::Binary(payload(len).into()), "split {split}");
        }
        for (m, &len) in at_client.iter().zip(&sizes) {
            assert_eq!(m, &Message::Text("ü".repeat(len / 2)), "split {split}");
        }
    }
}

#[test]
fn large_messages_are_fragmented_and_reassembled() {
    let small_frames = Config {
        fragment_size: 1000,
        ..Config::default()
    };
    for len in [65_535, 65_536, 1 << 20] {
        let mut pair = Pair::open(small_frames.clone(), small_frames.clone());
        pair.split = 4093;
        let now = pair.now;
        let body = Bytes::from(payload(len));
        pair.client
            .send(now, Message::Binary(body.clone()))
            .unwrap();
        pair.server
            .send(now, Message::Binary(body.clone()))
            .unwrap();
        pair.drive();
        assert_eq!(
            messages(&pair.server_events),
            vec![Message::Binary(body.clone())]
        );
        assert_eq!(messages(&pair.client_events), vec![Message::Binary(body)]);
    }
}

#[test]
fn pings_are_answered_automatically() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    pair.client.ping(now, Bytes::from_static(b"beat")).unwrap();
    pair.drive();
    assert!(pair
        .server_events
        .contains(&Event::Ping(Bytes::from_static(b"beat"))));
    assert!(pair
        .client_events
        .contains(&Event::Pong(Bytes::from_static(b"beat"))));
    assert_eq!(
        pair.client.ping(now, Bytes::from(vec![0; 126])),
        Err(SendError::ControlTooLong(126))
    );
}

#[test]
fn a_ping_is_written_between_the_frames_of_a_large_message() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    pair.server
        .send(now, Message::Binary(payload(1 << 20).into()))
        .unwrap();
    // The first frame of the large message leaves; then a ping is queued.
    let first = pair.server.poll_transmit().unwrap();
    pair.server.ping(now, Bytes::from_static(b"hb")).unwrap();
    let mut written = first.to_vec();
    let mut ping_at = None;
    while let Some(bytes) = pair.server.poll_transmit() {
        if bytes.len() == 4 && bytes[0] == 0x89 {
            ping_at = Some(written.len());
        }
        written.extend_from_slice(&bytes);
    }
    let ping_at = ping_at.expect("ping written as its own frame");
    assert!(
        ping_at < written.len() / 2,
        "ping at {ping_at} of {}",
        written.len()
    );
    pair.client.handle_input(now, &written);
    let mut got = Vec::new();
    while let Some(e) = pair.client.poll_event() {
        got.push(e);
    }
    assert_eq!(got[0], Event::Ping(Bytes::from_static(b"hb")));
    assert_eq!(
        got[1],
        Event::Message(Message::Binary(payload(1 << 20).into()))
    );
}

#[test]
fn client_initiated_close_is_clean_on_both_sides() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    pair.client.send(now, Message::from("last words")).unwrap();
    pair.client.close(now, CloseCode(4001), "done").unwrap();
    assert_eq!(pair.client.close(now, CloseCode::NORMAL, "again"), Ok(()));
    assert_eq!(
        pair.client.send(now, Message::from("late")),
        Err(SendError::Closing)
    );
    pair.drive();
    assert_eq!(
        messages(&pair.server_events),
        vec![Message::from("last words")]
    );
    let at_server = closed(&pair.server_events).unwrap();
    assert_eq!(
        at_server,
        CloseInfo {
            code: CloseCode(4001),
            reason: "done".into(),
            initiator: Initiator::Remote,
            clean: true
        }
    );
    let at_client = closed(&pair.client_events).unwrap();
    assert_eq!(at_client.initiator, Initiator::Local);
    assert!(at_client.clean);
    assert!(pair.server.is_finished());
    assert!(pair.client.is_finished(), "client saw the server's EOF");
    assert_eq!(
        pair.client.send(now, Message::from("x")),
        Err(SendError::Closed)
    );
}

#[test]
fn server_initiated_close_echoes_the_code() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    pair.server
        .close(now, CloseCode::GOING_AWAY, "restart")
        .unwrap();
    pair.drive();
    let at_client = closed(&pair.client_events).unwrap();
    assert_eq!(at_client.code, CloseCode::GOING_AWAY);
    assert_eq!(at_client.reason, "restart");
    assert_eq!(at_client.initiator, Initiator::Remote);
    let at_server = closed(&pair.server_events).unwrap();
    assert!(at_server.clean);
    assert_eq!(at_server.initiator, Initiator::Local);
    assert!(pair.client.is_finished() && pair.server.is_finished());
}

#[test]
fn close_codes_that_may_not_be_sent_are_refused() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    assert_eq!(
        pair.client.close(now, CloseCode::ABNORMAL, ""),
        Err(SendError::InvalidCloseCode(1006))
    );
    assert_eq!(
        pair.client.close(now, CloseCode::NORMAL, &"x".repeat(124)),
        Err(SendError::ControlTooLong(126))
    );
    assert_eq!(pair.client.state(), State::Open);
}

fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    encode_frame(
        &mut out,
        fin,
        opcode,
        Some([0x11, 0x22, 0x33, 0x44]),
        payload,
    );
    out
}

#[test]
fn invalid_utf8_from_the_peer_closes_with_1007() {
    let mut pair = Pair::open(Config::default(), Config::default());
    pair.inject_to_server(&client_frame(true, OpCode::Text, b"caf\xc3\x28"));
    assert!(matches!(
        pair.server_events[0],
        Event::Error(ProtocolError::Utf8(_))
    ));
    let at_client = closed(&pair.client_events).unwrap();
    assert_eq!(at_client.code, CloseCode::INVALID_PAYLOAD);
    assert_eq!(at_client.initiator, Initiator::Remote);
    let at_server = closed(&pair.server_events).unwrap();
    assert_eq!(at_server.code, CloseCode::INVALID_PAYLOAD);
    assert!(!at_server.clean);
    assert!(pair.server.is_finished());
}

#[test]
fn an_oversized_message_closes_with_1009_before_it_is_buffered() {
    let limit = Config {
        max_message_size: 1024,
        ..Config::default()
    };
    let mut pair = Pair::open(Config::default(), limit);
    let now = pair.now;
    pair.client
        .send(now, Message::Binary(payload(4096).into()))
        .unwrap();
    pair.drive();
    assert!(matches!(
        pair.server_events[0],
        Event::Error(ProtocolError::MessageTooBig {
            size: 4096,
            max: 1024
        })
    ));
    assert_eq!(
        closed(&pair.client_events).unwrap().code,
        CloseCode::MESSAGE_TOO_BIG
    );
    assert!(pair.server.buffered_input() == 0);
}

#[test]
fn protocol_violations_close_with_1002() {
    let cases: Vec<BytesMut> = vec![
        client_frame(true, OpCode::Continuation, b"x"),
        client_frame(false, OpCode::Ping, b""),
        client_frame(true, OpCode::Close, &[0x03]),
        {
            let mut f = client_frame(true, OpCode::Binary, b"x");
            f[0] |= 0x40; // RSV1 without an extension
            f
        },
        {
            let mut unmasked = BytesMut::new();
            encode_frame(&mut unmasked, true, OpCode::Binary, None, b"x");
            unmasked
        },
    ];
    for (i, frame) in cases.iter().enumerate() {
        let mut pair = Pair::open(Config::default(), Config::default());
        pair.inject_to_server(frame);
        assert!(matches!(pair.server_events[0], Event::Error(_)), "case {i}");
        assert_eq!(
            closed(&pair.client_events).unwrap().code,
            CloseCode::PROTOCOL_ERROR,
            "case {i}"
        );
    }
}

#[test]
fn an_unanswered_close_times_out_with_1006() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    pair.hold_client = true;
    pair.client.close(now, CloseCode::NORMAL, "").unwrap();
    pair.drive();
    assert_eq!(pair.client.state(), State::Closing);
    let deadline = pair.client.poll_timeout().unwrap();
    assert_eq!(deadline - pair.now, Config::default().close_timeout);
    pair.advance(Duration::from_secs(4));
    assert_eq!(pair.client.state(), State::Closing);
    pair.advance(Duration::from_secs(1));
    let info = closed(&pair.client_events).unwrap();
    assert_eq!(info.code, CloseCode::ABNORMAL);
    assert!(!info.clean);
    assert!(pair.client.is_finished());
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn a_handshake_that_never_finishes_times_out() {
    let mut pair = Pair::new(Config::default(), Config::default());
    pair.hold_client = true;
    pair.drive();
    pair.advance(Duration::from_secs(10));
    assert!(pair
        .client_events
        .contains(&Event::Error(ProtocolError::HandshakeTimeout)));
    assert_eq!(
        closed(&pair.client_events).unwrap().code,
        CloseCode::ABNORMAL
    );
    assert!(pair.client.is_finished());
}

#[test]
fn frames_in_the_same_read_as_the_101_are_kept() {
    let mut pair = Pair::new(Config::default(), Config::default());
    let now = pair.now;
    while let Some(b) = pair.client.poll_transmit() {
        pair.server.handle_input(now, &b);
    }
    assert!(matches!(pair.server.poll_event(), Some(Event::Upgrade(_))));
    pair.server.accept(now, None, &[]).unwrap();
    pair.server
        .send(now, Message::from("right behind the 101"))
        .unwrap();
    let mut all = Vec::new();
    while let Some(b) = pair.server.poll_transmit() {
        all.extend_from_slice(&b);
    }
    pair.client.handle_input(now, &all);
    assert_eq!(
        pair.client.poll_event(),
        Some(Event::Open { protocol: None })
    );
    assert_eq!(
        pair.client.poll_event(),
        Some(Event::Message(Message::from("right behind the 101")))
    );
}

#[test]
fn eof_without_close_is_abnormal_not_an_error() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    pair.server.handle_eof(now);
    let events: Vec<Event> = std::iter::from_fn(|| pair.server.poll_event()).collect();
    assert_eq!(
        events,
        vec![Event::Closed(CloseInfo {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
            initiator: Initiator::Transport,
            clean: false
        })]
    );
}

#[test]
fn sending_before_open_is_a_typed_error() {
    let mut pair = Pair::new(Config::default(), Config::default());
    let now = pair.now;
    assert_eq!(
        pair.client.send(now, Message::from("early")),
        Err(SendError::NotOpen)
    );
    assert_eq!(
        pair.server.accept(now, None, &[]),
        Err(SendError::NoPendingUpgrade)
    );
}

/// Everything the server has to write.
fn written(server: &mut tether_core::Connection) -> String {
    let mut out = Vec::new();
    while let Some(b) = server.poll_transmit() {
        out.extend_from_slice(&b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_bad_upgrade_request_is_answered_with_an_http_error() {
    let now = std::time::Instant::now();
    let mut server = tether_core::Connection::server(now, Config::default(), [0; 32]);
    server.handle_input(now, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n");
    // The owner sees the request, and why it is no upgrade, before anything is written.
    let Some(Event::Upgrade(request)) = server.poll_event() else {
        panic!("no request event");
    };
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/")
    );
    assert_eq!(request.upgrade, Err(HandshakeError::MethodNotGet));
    assert_eq!(written(&mut server), "");
    // An owner that accepts whatever comes gets the answer a server that did not look
    // would have given.
    assert_eq!(
        server.accept(now, None, &[]),
        Err(SendError::Handshake(HandshakeError::MethodNotGet))
    );
    let out = written(&mut server);
    assert!(out.starts_with("HTTP/1.1 405"), "{out}");
    assert!(matches!(
        server.poll_event(),
        Some(Event::Error(ProtocolError::Handshake(_)))
    ));
    assert!(server.is_finished());
}

#[test]
fn a_plain_request_is_answered_with_the_owners_page() {
    let now = std::time::Instant::now();
    for (method, body) in [("GET", "ok\n"), ("HEAD", "")] {
        let mut server = tether_core::Connection::server(now, Config::default(), [0; 32]);
        let head = format!("{method} /health HTTP/1.0\r\n\r\n");
        server.handle_input(now, head.as_bytes());
        let Some(Event::Upgrade(request)) = server.poll_event() else {
            panic!("no request event");
        };
        assert_eq!(request.path, "/health");
        assert!(!request.is_upgrade());
        let page = HttpResponse::new(200)
            .with_header("Content-Type", "text/plain")
            .with_body("ok\n");
        server.answer_http(now, &page).expect("a valid answer");
        // A HEAD request gets the same head, with the length of the body it does not get.
        assert_eq!(
            written(&mut server),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\
                 Content-Type: text/plain\r\n\r\n{body}"
            )
        );
        assert!(server.is_finished());
        assert_eq!(
            server.answer_http(now, &page),
            Err(SendError::NoPendingUpgrade)
        );
    }
}

#[test]
fn an_upgrade_can_be_refused_with_headers_and_a_bad_answer_changes_nothing() {
    let mut pair = Pair::new(Config::default(), Config::default());
    let now = pair.now;
    while let Some(b) = pair.client.poll_transmit() {
        pair.server.handle_input(now, &b);
    }
    assert!(
        matches!(pair.server.poll_event(), Some(Event::Upgrade(request)) if request.is_upgrade())
    );
    // Refused before anything is written, and the request still waits for an answer.
    let smuggling = HttpResponse::new(401).with_header("Content-Length", "0");
    assert!(matches!(
        pair.server.answer_http(now, &smuggling),
        Err(SendError::Handshake(HandshakeError::InvalidHeaderName(_)))
    ));
    assert_eq!(
        pair.server.answer_http(now, &HttpResponse::new(101)),
        Err(SendError::Handshake(HandshakeError::InvalidStatus(101)))
    );
    assert_eq!(written(&mut pair.server), "");
    let busy = HttpResponse::new(503).with_header("Retry-After", "1");
    pair.server.answer_http(now, &busy).expect("a valid answer");
    let out = written(&mut pair.server);
    assert!(
        out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{out}"
    );
    assert!(out.contains("\r\nRetry-After: 1\r\n"), "{out}");
    // The client reports the status.
    pair.client.handle_input(now, out.as_bytes());
    let events: Vec<Event> = std::iter::from_fn(|| pair.client.poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Error(ProtocolError::Handshake(HandshakeError::BadStatus(503)))
        )),
        "{events:?}"
    );
}

#[test]
fn same_seeds_give_the_same_bytes() {
    let run = || {
        let mut pair = Pair::open(Config::default(), Config::default());
        let now = pair.now;
        pair.client
            .send(now, Message::from("deterministic"))
            .unwrap();
        let mut out = Vec::new();
        while let Some(b) = pair.client.poll_transmit() {
            out.extend_from_slice(&b);
        }
        out
    };
    assert_eq!(run(), run());
}

#[test]
fn a_failure_after_a_queued_close_sends_no_second_close_frame() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    // The server queued its close but has not written it when the client's bad frame arrives.
    pair.server.close(now, CloseCode::NORMAL, "bye").unwrap();
    let mut bad = client_frame(true, OpCode::Binary, b"x");
    bad[0] |= 0x20; // RSV2
    pair.server.handle_input(now, &bad);
    assert!(matches!(pair.server.poll_event(), Some(Event::Error(_))));
    let mut written = Vec::new();
    while let Some(b) = pair.server.poll_transmit() {
        written.extend_from_slice(&b);
    }
    assert_eq!(
        written,
        [&[0x88, 5][..], &1000u16.to_be_bytes(), b"bye"].concat()
    );
    assert!(pair.server.is_finished());
}

#[test]
fn answers_to_events_before_a_protocol_error_go_out_before_the_close() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let now = pair.now;
    // Autobahn 3.2: a valid message, then a frame with a reserved bit, in one read.
    let mut input = client_frame(true, OpCode::Text, b"Hello, world!");
    let mut bad = client_frame(true, OpCode::Text, b"Hello, world!");
    bad[0] |= 0x20;
    input.extend_from_slice(&bad);
    pair.server.handle_input(now, &input);
    // Nothing is written until the owner has seen the events.
    assert_eq!(pair.server.poll_transmit(), None);
    let Some(Event::Message(echo)) = pair.server.poll_event() else {
        panic!("the valid message comes first");
    };
    pair.server.send(now, echo).unwrap();
    assert!(matches!(pair.server.peek_event(), Some(Event::Error(_))));
    assert!(matches!(pair.server.poll_event(), Some(Event::Error(_))));
    assert_eq!(
        pair.server.send(now, Message::from("late")),
        Err(SendError::Closed)
    );
    let mut written = Vec::new();
    while let Some(b) = pair.server.poll_transmit() {
        written.extend_from_slice(&b);
    }
    let echo_frame = [&[0x81, 13][..], b"Hello, world!"].concat();
    let close_frame = [&[0x88, 2][..], &1002u16.to_be_bytes()].concat();
    assert_eq!(written, [echo_frame, close_frame].concat());
    // Input after the error is not read.
    pair.server
        .handle_input(now, &client_frame(true, OpCode::Ping, b"p"));
    assert_eq!(pair.server.buffered_input(), 0);
    assert!(matches!(pair.server.poll_event(), Some(Event::Closed(_))));
    assert_eq!(pair.server.poll_event(), None);
}

#[test]
fn every_ping_gets_its_pong_up_to_a_bound() {
    let mut pair = Pair::open(Config::default(), Config::default());
    let mut pings = BytesMut::new();
    for i in 0..10 {
        pings.extend_from_slice(&client_frame(
            true,
            OpCode::Ping,
            format!("payload-{i}").as_bytes(),
        ));
    }
    pair.inject_to_server(&pings);
    let pongs: Vec<Bytes> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Pong(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<Bytes> = (0..10)
        .map(|i| Bytes::from(format!("payload-{i}")))
        .collect();
    assert_eq!(pongs, expected);

    // A flood while nothing is written: only the newest pongs are kept.
    let mut flood = BytesMut::new();
    for i in 0..1000u32 {
        flood.extend_from_slice(&client_frame(true, OpCode::Ping, &i.to_be_bytes()));
    }
    let now = pair.now;
    pair.server.handle_input(now, &flood);
    assert!(
        pair.server.pending_transmit() <= 16 * 4,
        "{}",
        pair.server.pending_transmit()
    );
}

#[test]
fn accept_after_the_connection_ended_is_refused_and_closed_comes_once() {
    let mut pair = Pair::new(Config::default(), Config::default());
    let now = pair.now;
    while let Some(b) = pair.client.poll_transmit() {
        pair.server.handle_input(now, &b);
    }
    assert!(matches!(pair.server.poll_event(), Some(Event::Upgrade(_))));
    // The owner takes too long to decide: the handshake times out first.
    let late = now + Duration::from_secs(11);
    pair.server.handle_timeout(late);
    assert_eq!(
        pair.server.accept(late, None, &[]),
        Err(SendError::NoPendingUpgrade)
    );
    assert_eq!(
        pair.server.reject(late, 503),
        Err(SendError::NoPendingUpgrade)
    );
    pair.server.handle_eof(late);
    let events: Vec<Event> = std::iter::from_fn(|| pair.server.poll_event()).collect();
    let closed = events
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    assert_eq!(closed, 1, "{events:?}");
    assert_eq!(pair.server.state(), State::Closed);
}

#[test]
fn a_head_fed_a_byte_at_a_time_still_opens() {
    let mut pair = Pair::new(Config::default(), Config::default());
    pair.split = 1;
    pair.drive();
    assert_eq!(pair.client.state(), State::Open);
    assert_eq!(pair.server.state(), State::Open);
}

#[test]
fn releasing_idle_buffers_between_any_two_reads_changes_nothing() {
    let sizes = [0usize, 1, 125, 126, 300, 70_000];
    for split in [1usize, 7, 64, 4096] {
        let mut pair = Pair::new(Config::default(), Config::default());
        pair.split = split;
        pair.drive();
        pair.client.release_idle();
        pair.server.release_idle();
        let now = pair.now;
        for &len in &sizes {
            pair.client
                .send(now, Message::Binary(payload(len).into()))
                .unwrap();
            pair.server
                .send(now, Message::Text("ü".repeat(len / 2)))
                .unwrap();
        }
        pair.client.ping(now, Bytes::from_static(b"p")).unwrap();
        // Carry the bytes by hand in `split`-sized reads, freeing idle buffers on both
        // sides after every read and every write: partial frames wait in the input.
        let mut at_server = Vec::new();
        let mut at_client = Vec::new();
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(bytes) = pair.client.poll_transmit() {
                pair.client.release_idle();
                for piece in bytes.chunks(split) {
                    pair.server.handle_input(now, piece);
                    pair.server.release_idle();
                }
                moved = true;
            }
            while let Some(bytes) = pair.server.poll_transmit() {
                pair.server.release_idle();
                for piece in bytes.chunks(split) {
                    pair.client.handle_input(now, piece);
                    pair.client.release_idle();
                }
                moved = true;
            }
            while let Some(event) = pair.server.poll_event() {
                pair.server.release_idle();
                at_server.push(event);
                moved = true;
            }
            while let Some(event) = pair.client.poll_event() {
                pair.client.release_idle();
                at_client.push(event);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        let at_server = messages(&at_server);
        let at_client = messages(&at_client);
        assert_eq!(at_server.len(), sizes.len(), "split {split}");
        for (m, &len) in at_server.iter().zip(&sizes) {
            assert_eq!(m, &Message::Binary(payload(len).into()), "split {split}");
        }
        assert_eq!(at_client.len(), sizes.len(), "split {split}");
        for (m, &len) in at_client.iter().zip(&sizes) {
            assert_eq!(m, &Message::Text("ü".repeat(len / 2)), "split {split}");
        }
    }
}
