//! The heartbeat: silent links found in time in both modes, a healthy link left alone,
//! and pings that never wait behind a large message.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::SessionNet;
use serde_json::value::RawValue;
use tether_core::session::{
    CallOptions, Config, EndReason, Event, Heartbeat, HeartbeatMode, State,
};

fn config(mode: HeartbeatMode) -> Config {
    Config {
        heartbeat: Some(Heartbeat {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
            mode,
        }),
        ..Default::default()
    }
}

/// Advances timer by timer until the session reports a heartbeat timeout; returns the
/// events from there on and the time it took.
fn until_heartbeat_timeout(net: &mut SessionNet) -> (Vec<Event>, Duration) {
    let start = net.now();
    loop {
        assert!(
            net.advance_to_next(Duration::from_secs(60)),
            "no timer left"
        );
        let mut events = net.take_events();
        if let Some(at) = events
            .iter()
            .position(|e| matches!(e, Event::HeartbeatTimeout { .. }))
        {
            return (events.split_off(at), net.now() - start);
        }
        assert!(
            net.now() - start < Duration::from_secs(60),
            "never timed out"
        );
    }
}

#[test]
fn pong_mode_drops_a_stalled_link_within_interval_plus_timeout() {
    let mut net = SessionNet::connected(config(HeartbeatMode::Pong), 1);
    net.echo = false;
    let now = net.now();
    let id = net
        .session()
        .call(now, "slow", None, CallOptions::default())
        .unwrap();
    net.drive();
    let attempt = net.session().current_attempt().unwrap();
    net.duo.hold_client = true;
    let (events, took) = until_heartbeat_timeout(&mut net);
    assert!(
        took > Duration::from_secs(3) && took <= Duration::from_secs(4),
        "{took:?}"
    );
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::HeartbeatTimeout { attempt: a },
                Event::Disconnect { attempt: b },
                Event::Ended { id: c, reason: EndReason::ConnectionLost { sent: true } },
                Event::State(State::Reconnecting),
            ] if *a == attempt && *b == attempt && *c == id
        ),
        "{events:?}"
    );
    let m = net.metrics();
    assert_eq!((m.errors, m.in_flight), (1, 0));
    // The next link comes up after the backoff.
    net.advance(Duration::from_millis(100));
    assert_eq!(net.session().state(), State::Connected);
}

#[test]
fn the_dead_link_gets_a_1011_close_frame_before_its_disconnect() {
    let mut net = SessionNet::connected(config(HeartbeatMode::Pong), 2);
    let attempt = net.session().current_attempt().unwrap();
    net.duo.hold_client = true;
    // Move the session alone (the harness would carry its bytes away): pings at 1, 2,
    // 3 s go unanswered, and at 4 s the first has waited its 3 s.
    let start = net.now();
    for s in 1..=3 {
        net.session().handle_timeout(start + Duration::from_secs(s));
        while net.session().poll_transmit().is_some() {}
    }
    let dead_at = start + Duration::from_secs(4);
    net.session().handle_timeout(dead_at);
    let mut wire = Vec::new();
    while let Some(bytes) = net.session().poll_transmit_for(attempt) {
        wire.extend_from_slice(&bytes);
    }
    // One masked close frame: 0x88, length, mask, payload = 1011 + reason.
    assert_eq!(wire[0], 0x88, "{wire:?}");
    let len = usize::from(wire[1] & 0x7f);
    let mask = &wire[2..6];
    let payload: Vec<u8> = wire[6..6 + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1011);
    assert_eq!(&payload[2..], b"heartbeat timeout");
    assert!(net.session().is_abandoned(attempt));
    let events: Vec<Event> = std::iter::from_fn(|| net.session().poll_event()).collect();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::HeartbeatTimeout { .. },
                Event::Disconnect { .. },
                Event::State(State::Reconnecting)
            ]
        ),
        "{events:?}"
    );
}

#[test]
fn any_input_mode_drops_a_link_timeout_after_its_last_input() {
    let mut net = SessionNet::connected(config(HeartbeatMode::AnyInput), 3);
    // Live for a while, timer by timer: pongs are input, so nothing happens.
    let start = net.now();
    while net.now() - start < Duration::from_secs(30) {
        assert!(net.advance_to_next(Duration::from_secs(1)));
    }
    assert!(!net
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::HeartbeatTimeout { .. })));
    net.duo.hold_client = true;
    let (events, took) = until_heartbeat_timeout(&mut net);
    assert!(took <= Duration::from_secs(3), "{took:?}");
    assert!(
        matches!(
            events.as_slice(),
            [Event::HeartbeatTimeout { .. }, Event::Disconnect { .. }, ..]
        ),
        "{events:?}"
    );
}

#[test]
fn a_healthy_idle_link_is_kept_and_its_round_trips_are_measured() {
    let mut net = SessionNet::connected(config(HeartbeatMode::Pong), 4);
    let start = net.now();
    while net.now() - start < Duration::from_secs(60) {
        assert!(net.advance_to_next(Duration::from_secs(60)));
    }
    let events = net.take_events();
    assert!(events.is_empty(), "{events:?}");
    let m = net.metrics();
    assert_eq!(m.state, State::Connected);
    // The pipe is instant in virtual time.
    assert_eq!(
        (m.rtt_mean, m.rtt_p99),
        (Some(Duration::ZERO), Some(Duration::ZERO))
    );
    assert_eq!(m.connected_for, Some(net.now() - start));
    assert_eq!(m.total_connected, net.now() - start);
}

/// Frame opcodes (first header byte) of client frames laid end to end.
fn frame_heads(mut wire: &[u8]) -> Vec<u8> {
    let mut heads = Vec::new();
    while let [first, second, rest @ ..] = wire {
        let (len, rest) = match second & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes([rest[0], rest[1]])),
                &rest[2..],
            ),
            127 => (
                usize::try_from(u64::from_be_bytes(rest[..8].try_into().unwrap())).unwrap(),
                &rest[8..],
            ),
            n => (usize::from(n), rest),
        };
        assert!(second & 0x80 != 0, "client frames are masked");
        heads.push(*first);
        wire = &rest[4 + len..];
    }
    assert!(wire.is_empty());
    heads
}

#[test]
fn a_heartbeat_ping_goes_out_between_the_fragments_of_a_large_message() {
    let mut net = SessionNet::connected(config(HeartbeatMode::Pong), 5);
    let big = format!("[\"{}\"]", "x".repeat(1 << 20));
    let params = RawValue::from_string(big.clone()).unwrap();
    let now = net.now();
    let id = net
        .session()
        .call(now, "upload", Some(&params), CallOptions::default())
        .unwrap();
    // Take the first 64 KiB fragment only, then let the ping fall due.
    let first = net.session().poll_transmit().unwrap();
    assert_eq!(frame_heads(&first), [0x01], "a text frame without FIN");
    net.duo.now += Duration::from_secs(1);
    let now = net.now();
    net.session().handle_timeout(now);
    let mut rest = Vec::new();
    while let Some(bytes) = net.session().poll_transmit() {
        rest.extend_from_slice(&bytes);
    }
    let heads = frame_heads(&rest);
    assert_eq!(heads.first(), Some(&0x89), "the ping comes next: {heads:?}");
    assert_eq!(heads.last(), Some(&0x80), "then the last fragment");
    assert!(heads[1..heads.len() - 1].iter().all(|h| *h == 0x00));
    // 1 MiB plus the envelope is 17 fragments of 64 KiB: the first was out, the ping is in.
    assert_eq!(heads.len(), 17, "{heads:?}");
    // The server reads it all as one message and answers it.
    net.duo.server.handle_input(now, &first);
    net.duo.server.handle_input(now, &rest);
    net.drive();
    let events = net.take_events();
    assert!(
        matches!(events.as_slice(), [Event::Response { id: got, result: Ok(v) }] if *got == id && v.get() == big),
        "{:?}",
        events.len()
    );
}

#[test]
fn an_owner_that_stops_reading_pauses_the_heartbeat_until_it_reads_again() {
    let mut net = SessionNet::connected(config(HeartbeatMode::Pong), 6);
    // One ping out unanswered, then the owner stops reading (its consumer is full) and the
    // peer seems silent for a minute: no ping, no verdict.
    net.duo.hold_client = true;
    assert!(net.advance_to_next(Duration::from_secs(2)));
    let now = net.now();
    net.session().set_reading(now, false);
    let sent = net.metrics().bytes_sent;
    net.advance(Duration::from_secs(60));
    let events = net.take_events();
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(net.metrics().bytes_sent, sent, "no ping while paused");
    assert_eq!(net.session().state(), State::Connected);
    // Reading again: the ping that fell due goes out now, and a peer still silent is
    // dropped one timeout later, not at once for the silence of the pause.
    let resumed = net.now();
    net.session().set_reading(resumed, true);
    assert!(net.session().poll_timeout().is_some_and(|at| at <= resumed));
    let (events, took) = until_heartbeat_timeout(&mut net);
    assert_eq!(took, Duration::from_secs(3));
    assert!(
        matches!(
            events.as_slice(),
            [Event::HeartbeatTimeout { .. }, Event::Disconnect { .. }, ..]
        ),
        "{events:?}"
    );
}
