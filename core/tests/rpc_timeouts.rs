//! Deadlines, cancellation and the bound on calls in flight.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::RpcPair;
use serde_json::value::to_raw_value;
use tether_core::rpc::{self, EndReason, Event, Refused, ReplyTo};

fn take_reply(pair: &mut RpcPair) -> ReplyTo {
    pair.drive();
    let mut events = pair.take_server_events();
    assert_eq!(events.len(), 1, "{events:?}");
    match events.remove(0) {
        Event::Request { reply, .. } => reply,
        other => panic!("{other:?}"),
    }
}

#[test]
fn default_timeout_fires_exactly_at_the_deadline_and_a_late_answer_is_dropped() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let start = pair.now;
    let id = pair.client.call(pair.now, "slow", None, None).unwrap();
    let reply = take_reply(&mut pair);
    assert_eq!(
        pair.client.poll_timeout(),
        Some(start + Duration::from_secs(30))
    );

    pair.advance(Duration::from_secs(30) - Duration::from_nanos(1));
    assert!(pair.take_client_events().is_empty(), "not yet due");
    pair.advance(Duration::from_nanos(1));
    assert_eq!(pair.now, start + Duration::from_secs(30));
    let events = pair.take_client_events();
    assert!(
        matches!(events.as_slice(), [Event::Ended { id: got, reason: EndReason::TimedOut }] if *got == id),
        "{events:?}"
    );
    assert_eq!(pair.client.poll_timeout(), None);

    pair.server
        .respond(pair.now, reply, Ok(&to_raw_value(&1).unwrap()))
        .unwrap();
    pair.drive();
    assert!(
        pair.take_client_events().is_empty(),
        "late answer not delivered"
    );
    let stats = pair.client.stats();
    assert_eq!(
        (stats.unknown_responses, stats.timed_out, stats.in_flight),
        (1, 1, 0)
    );
}

#[test]
fn per_call_and_configured_timeouts_each_fire_at_their_own_deadline() {
    let config = rpc::Config {
        default_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let mut pair = RpcPair::open(config, rpc::Config::default());
    let start = pair.now;
    let long = pair.client.call(pair.now, "a", None, None).unwrap();
    let short = pair
        .client
        .call(pair.now, "b", None, Some(Duration::from_millis(250)))
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.client.poll_timeout(),
        Some(start + Duration::from_millis(250))
    );

    let mut ended = Vec::new();
    while let Some(at) = pair.client.poll_timeout() {
        pair.advance(at - pair.now);
        for event in pair.take_client_events() {
            match event {
                Event::Ended {
                    id,
                    reason: EndReason::TimedOut,
                } => ended.push((id, pair.now - start)),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(
        ended,
        [
            (short, Duration::from_millis(250)),
            (long, Duration::from_secs(5))
        ]
    );
}

#[test]
fn cancel_ends_the_call_once_and_drops_its_answer() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let id = pair.client.call(pair.now, "m", None, None).unwrap();
    let reply = take_reply(&mut pair);
    assert!(pair.client.cancel(pair.now, id));
    assert!(
        !pair.client.cancel(pair.now, id),
        "second cancel is a no-op"
    );
    assert_eq!(pair.client.poll_timeout(), None, "its deadline is gone");
    pair.drive();
    let events = pair.take_client_events();
    assert!(
        matches!(events.as_slice(), [Event::Ended { id: got, reason: EndReason::Cancelled }] if *got == id),
        "{events:?}"
    );
    pair.server
        .respond(pair.now, reply, Ok(&to_raw_value(&1).unwrap()))
        .unwrap();
    pair.advance(Duration::from_secs(60));
    assert!(
        pair.take_client_events().is_empty(),
        "no answer, no timeout after cancel"
    );
    assert_eq!(pair.client.stats().unknown_responses, 1);
}

#[test]
fn past_max_in_flight_call_is_busy_until_one_ends() {
    let config = rpc::Config {
        max_in_flight: 3,
        ..Default::default()
    };
    let mut pair = RpcPair::open(config, rpc::Config::default());
    let ids: Vec<_> = (0..3)
        .map(|_| pair.client.call(pair.now, "m", None, None).unwrap())
        .collect();
    assert_eq!(
        pair.client.call(pair.now, "m", None, None),
        Err(Refused::Busy(3))
    );
    assert_eq!(pair.client.stats().in_flight, 3);
    pair.drive();
    assert_eq!(
        pair.take_server_events().len(),
        3,
        "the refused call was never sent"
    );
    // Notifications are not calls in flight: still allowed.
    pair.client.notify(pair.now, "n", None).unwrap();
    assert!(pair.client.cancel(pair.now, ids[0]));
    assert!(pair.client.call(pair.now, "m", None, None).is_ok());
}

#[test]
fn a_timeout_too_long_for_instant_never_fires_and_does_not_panic() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let now = pair.now;
    let id = pair
        .client
        .call(now, "slow", None, Some(Duration::MAX))
        .unwrap();
    assert_eq!(
        pair.client.poll_timeout(),
        None,
        "no deadline for that call"
    );
    pair.drive();
    assert!(pair.client.stats().in_flight == 1, "{id} still waits");
}

/// A server that stops reading for a reason of its own (its bound of handlers, winding
/// down) tells its channel so; the peer's silence meanwhile is ours and does not count
/// towards the idle timeout. Once it reads again, silence counts again.
#[test]
fn silence_while_the_owner_does_not_read_is_not_idleness() {
    use tether_core::session::{Heartbeat, HeartbeatMode};
    use tether_core::ws;
    let closed = |pair: &RpcPair| {
        pair.server_events
            .iter()
            .any(|e| matches!(e, Event::Closed(_)))
    };
    for paused in [false, true] {
        let ws_config = ws::Config {
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(3),
                mode: HeartbeatMode::AnyInput,
            }),
            ..ws::Config::default()
        };
        let mut pair = RpcPair::new(ws_config, rpc::Config::default(), rpc::Config::default());
        pair.drive();
        pair.server_events.clear();
        // Nothing from the client reaches the server from now on, its pongs included.
        pair.cut();
        if paused {
            let now = pair.now;
            pair.server.set_owner_reading(now, false);
        }
        for _ in 0..10 {
            pair.advance(Duration::from_secs(1));
        }
        assert_eq!(closed(&pair), !paused, "paused: {paused}");
        if paused {
            let now = pair.now;
            pair.server.set_owner_reading(now, true);
            for _ in 0..10 {
                pair.advance(Duration::from_secs(1));
            }
            assert!(closed(&pair), "silent after reading again");
        }
    }
}
