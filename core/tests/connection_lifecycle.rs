//! A connection's own lifecycle under a virtual clock: server pings and the idle timeout,
//! the pause while the owner does not read, and messages parsed (and inflated) one at a
//! time as they are taken.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use tether_core::deflate::Deflate;
use tether_core::frame::CloseCode;
use tether_core::handshake::ClientRequest;
use tether_core::session::{Heartbeat, HeartbeatMode};
use tether_core::ws::{CloseInfo, Config, Connection, Event, Message, ProtocolError};

mod common;

use common::Pair;

fn beat(interval_s: u64, timeout_s: u64) -> Option<Heartbeat> {
    Some(Heartbeat {
        interval: Duration::from_secs(interval_s),
        timeout: Duration::from_secs(timeout_s),
        mode: HeartbeatMode::AnyInput,
    })
}

/// An open pair whose server pings every second and drops a peer silent for 3 s; the
/// client has no heartbeat of its own.
fn pinging_server() -> Pair {
    let client = Config {
        heartbeat: None,
        ..Config::default()
    };
    let server = Config {
        heartbeat: beat(1, 3),
        ..Config::default()
    };
    Pair::open(client, server)
}

fn closed(events: &[Event]) -> Option<CloseInfo> {
    events.iter().find_map(|e| match e {
        Event::Closed(info) => Some(info.clone()),
        _ => None,
    })
}

/// A client and a server connection with `config`, their handshake done.
fn opened(now: Instant, config: &Config) -> (Connection, Connection) {
    let request = ClientRequest {
        host: "n".into(),
        path: "/".into(),
        ..Default::default()
    };
    let mut client = Connection::client(now, config.clone(), request, [1; 32]).unwrap();
    let mut server = Connection::server(now, config.clone(), [2; 32]);
    for _ in 0..3 {
        while let Some(b) = client.poll_transmit() {
            server.handle_input(now, &b);
        }
        while let Some(e) = server.poll_event() {
            if let Event::Upgrade(_) = e {
                server.accept(now, None, &[]).unwrap();
            }
        }
        while let Some(b) = server.poll_transmit() {
            client.handle_input(now, &b);
        }
        while client.poll_event().is_some() {}
    }
    (client, server)
}

#[test]
fn a_live_peer_answers_the_servers_pings_and_is_never_dropped() {
    let mut pair = pinging_server();
    // Ten minutes of an idle connection: pings go out, pongs come back, nothing else.
    for _ in 0..600 {
        pair.advance(Duration::from_secs(1));
    }
    assert!(
        closed(&pair.server_events).is_none(),
        "{:?}",
        pair.server_events
    );
    // The pongs answer the server's own pings: its owner never sees them.
    assert!(!pair
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Pong(_))));
    // The client saw the pings.
    assert!(
        pair.client_events
            .iter()
            .filter(|e| matches!(e, Event::Ping(_)))
            .count()
            >= 500
    );
}

#[test]
fn a_silent_peer_is_dropped_with_1001_at_the_idle_timeout() {
    let mut pair = pinging_server();
    // The client's bytes stop reaching the server: it hears nothing, pongs included.
    pair.hold_client = true;
    let start = pair.now;
    while closed(&pair.server_events).is_none() {
        pair.advance(Duration::from_millis(100));
        assert!(pair.now - start <= Duration::from_secs(4), "never dropped");
    }
    assert!(pair.now - start >= Duration::from_secs(3), "dropped early");
    assert!(pair
        .server_events
        .contains(&Event::Error(ProtocolError::IdleTimeout)));
    let info = closed(&pair.server_events).unwrap();
    assert_eq!(info.code, CloseCode::GOING_AWAY);
    // The client, still reading, got the close frame.
    assert_eq!(
        closed(&pair.client_events).map(|i| i.code),
        Some(CloseCode::GOING_AWAY)
    );
}

#[test]
fn silence_while_the_owner_does_not_read_does_not_count() {
    let mut pair = pinging_server();
    pair.hold_client = true;
    let now = pair.now;
    pair.server.set_reading(now, false);
    pair.advance(Duration::from_secs(30));
    assert!(
        closed(&pair.server_events).is_none(),
        "dropped while not reading"
    );
    // Reading again: the peer has a whole timeout from now, and no more.
    let now = pair.now;
    pair.server.set_reading(now, true);
    pair.advance(Duration::from_secs(2));
    assert!(closed(&pair.server_events).is_none());
    pair.advance(Duration::from_secs(2));
    assert!(closed(&pair.server_events).is_some());
}

#[test]
fn messages_are_inflated_one_at_a_time_as_they_are_taken() {
    let deflate = Some(Deflate {
        threshold: 0,
        ..Deflate::default()
    });
    let config = Config {
        compression: deflate,
        heartbeat: None,
        max_message_size: 1 << 20,
        ..Config::default()
    };
    let now = Instant::now();
    let (mut client, mut server) = opened(now, &config);
    // Twenty messages of 1 MiB of zeros: a few KiB on the wire, delivered in one read.
    let mut wire = Vec::new();
    for _ in 0..20 {
        client
            .send(now, Message::Binary(vec![0u8; 1 << 20].into()))
            .unwrap();
        while let Some(b) = client.poll_transmit() {
            wire.extend_from_slice(&b);
        }
    }
    assert!(wire.len() < 64 << 10, "{}", wire.len());
    server.handle_input(now, &wire);
    // Only the first message is inflated; the rest wait as they came.
    assert!(
        server.buffered_input() <= (1 << 20) + wire.len(),
        "{}",
        server.buffered_input()
    );
    assert_eq!(server.message_in_progress(), 1 << 20);
    let mut taken = 0;
    while let Some(event) = server.poll_event() {
        if let Event::Message(message) = event {
            assert_eq!(message.len(), 1 << 20);
            taken += 1;
            assert!(server.buffered_input() <= (1 << 20) + wire.len());
        }
    }
    assert_eq!(taken, 20);
}

/// An EOF lets messages already read be taken first; a lost transport (a write error, a
/// write stall, a link given up) ends the connection at once. Were it held back like an
/// EOF, a connection whose owner stopped taking messages (its budget full of replies that
/// can no longer be written) would never end, and never free what it holds.
#[test]
fn a_lost_transport_ends_at_once_where_an_eof_waits_for_messages_read() {
    let config = Config {
        heartbeat: None,
        ..Config::default()
    };
    let now = Instant::now();
    let open = || {
        let (mut client, mut server) = opened(now, &config);
        let mut wire = Vec::new();
        for i in 0..3u8 {
            client
                .send(now, Message::Binary(vec![i; 64].into()))
                .unwrap();
            while let Some(b) = client.poll_transmit() {
                wire.extend_from_slice(&b);
            }
        }
        // Three messages in one read; the owner takes none of them yet.
        server.handle_input(now, &wire);
        server
    };

    let mut waits = open();
    waits.handle_eof(now);
    assert_ne!(waits.state(), tether_core::ws::State::Closed);
    let messages = std::iter::from_fn(|| waits.poll_event())
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(messages, 3, "an EOF keeps the messages read before it");
    assert_eq!(waits.state(), tether_core::ws::State::Closed);

    let mut lost = open();
    lost.handle_transport_lost(now);
    assert_eq!(lost.state(), tether_core::ws::State::Closed);
    let events: Vec<Event> = std::iter::from_fn(|| lost.poll_event()).collect();
    assert_eq!(
        closed(&events).map(|info| info.code),
        Some(CloseCode::ABNORMAL),
        "{events:?}"
    );
}
