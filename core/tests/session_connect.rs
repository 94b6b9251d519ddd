//! A session's first links: connecting, calls answered, the connect timeout, backoff and
//! giving up, and inputs of abandoned transports.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::{Dial, SessionNet};
use serde_json::value::to_raw_value;
use tether_core::rpc;
use tether_core::session::{
    Attempt, Backoff, CallId, CallOptions, Config, EndReason, Event, Refused, State,
};

/// The attempts asked for, checked to increase.
fn connects(events: &[Event]) -> Vec<Attempt> {
    let attempts: Vec<Attempt> = events
        .iter()
        .filter_map(|e| match e {
            Event::Connect { attempt } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert!(attempts.windows(2).all(|w| w[0] < w[1]), "{attempts:?}");
    attempts
}

fn states(events: &[Event]) -> Vec<State> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::State(s) => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn start_connects_and_calls_are_answered_in_any_number() {
    let mut net = SessionNet::new(Config::default(), 1);
    assert_eq!(net.session().state(), State::Disconnected);
    assert!(net.take_events().is_empty(), "nothing before start");
    net.start();
    let events = net.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::State(State::Connecting),
                Event::Connect { .. },
                Event::State(State::Connected)
            ]
        ),
        "{events:?}"
    );
    let now = net.now();
    let ids: Vec<CallId> = (0..5)
        .map(|i| {
            let params = to_raw_value(&[i]).unwrap();
            net.session()
                .call(now, "echo", Some(&params), CallOptions::default())
                .unwrap()
        })
        .collect();
    net.drive();
    let events = net.take_events();
    let answers: Vec<(CallId, String)> = events
        .iter()
        .map(|e| match e {
            Event::Response { id, result: Ok(v) } => (*id, v.get().to_owned()),
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<(CallId, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, format!("[{i}]")))
        .collect();
    assert_eq!(answers, expected);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    let m = net.session().metrics(now);
    assert_eq!((m.messages_sent, m.messages_received), (5, 5));
    assert_eq!(
        (m.in_flight, m.queue_depth, m.reconnections, m.errors),
        (0, 0, 0, 0)
    );
    assert!(m.call_latency_mean.is_some() && m.call_latency_p99.is_some());
    assert!(m.bytes_sent > 0 && m.bytes_received > 0);
    assert_eq!(m.state, State::Connected);
    assert_eq!(m.connected_for, Some(Duration::ZERO));
}

#[test]
fn calls_and_notifications_before_the_link_opens_go_out_in_order_once_it_does() {
    let mut net = SessionNet::new(Config::default(), 2);
    net.echo = false;
    let now = net.now();
    let first = net
        .session()
        .call(now, "a", None, CallOptions::default())
        .unwrap();
    net.session().notify(now, "b", None).unwrap();
    let second = net
        .session()
        .call(now, "c", None, CallOptions::default())
        .unwrap();
    assert_eq!(net.session().metrics(now).queue_depth, 3);
    net.start();
    let methods: Vec<String> = net
        .take_server_events()
        .into_iter()
        .filter_map(|e| match e {
            rpc::Event::Request { method, .. } | rpc::Event::Notification { method, .. } => {
                Some(method)
            }
            _ => None,
        })
        .collect();
    assert_eq!(methods, ["a", "b", "c"]);
    let m = net.session().metrics(now);
    assert_eq!((m.queue_depth, m.queue_bytes, m.in_flight), (0, 0, 2));
    assert!(first < second);
}

#[test]
fn connect_timeout_abandons_a_transport_that_never_opens_and_backs_off() {
    let config = Config {
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let mut net = SessionNet::new(config, 3);
    net.dial = Dial::Hang;
    let start = net.now();
    net.start();
    assert_eq!(
        net.session().poll_timeout(),
        Some(start + Duration::from_secs(2))
    );
    net.advance(Duration::from_secs(2) - Duration::from_nanos(1));
    assert_eq!(net.session().state(), State::Connecting);
    net.take_events();
    net.advance(Duration::from_nanos(1));
    let events = net.take_events();
    assert!(
        matches!(events.as_slice(), [Event::Disconnect { .. }]),
        "{events:?}"
    );
    assert_eq!(net.session().current_attempt(), None);
    let now = net.now();
    assert_eq!(net.session().metrics(now).errors, 1);
    // The first wait is within [50, 100] ms.
    let wake = net.session().poll_timeout().unwrap() - net.now();
    assert!(
        wake >= Duration::from_millis(50) && wake <= Duration::from_millis(100),
        "{wake:?}"
    );
    net.advance(wake);
    let events = net.take_events();
    assert_eq!(connects(&events).len(), 1);
    assert_eq!(states(&events), [], "still Connecting: never connected yet");
}

#[test]
fn a_stalled_upgrade_counts_against_the_connect_timeout_too() {
    let mut net = SessionNet::new(Config::default(), 4);
    net.start();
    net.take_events();
    // A new transport whose server never reads the upgrade request.
    net.server_crash();
    let events = net.take_events();
    assert!(
        events.iter().any(|e| matches!(e, Event::Disconnect { .. })),
        "{events:?}"
    );
    assert_eq!(net.session().state(), State::Reconnecting);
    let wake = net.session().poll_timeout().unwrap() - net.now();
    net.dial = Dial::Stall;
    net.advance(wake);
    let opened_at = net.now();
    let attempt = net.session().current_attempt().unwrap();
    net.take_events();
    while net.session().current_attempt() == Some(attempt) {
        assert!(net.advance_to_next(Duration::from_secs(60)));
    }
    assert_eq!(net.now() - opened_at, Duration::from_secs(5));
    let events = net.take_events();
    assert!(
        matches!(events.as_slice(), [Event::Disconnect { attempt: a }] if *a == attempt),
        "{events:?}"
    );
}

#[test]
fn refused_attempts_back_off_exponentially_then_give_up_after_max_attempts() {
    let config = Config {
        backoff: Backoff {
            max_attempts: Some(6),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut net = SessionNet::new(config, 5);
    net.dial = Dial::Refuse;
    let now = net.now();
    let queued = net
        .session()
        .call(now, "m", None, CallOptions::default())
        .unwrap();
    net.session().notify(now, "n", None).unwrap();
    net.start();
    let mut connect_times = vec![net.now()];
    let mut events = net.take_events();
    while net.advance_to_next(Duration::from_secs(60)) {
        let more = net.take_events();
        if !connects(&more).is_empty() {
            connect_times.push(net.now());
        }
        events.extend(more);
    }
    assert_eq!(connects(&events).len(), 6);
    for (k, pair) in connect_times.windows(2).enumerate() {
        let wait = pair[1] - pair[0];
        let ceiling = Duration::from_millis(100 << k);
        assert!(wait >= ceiling / 2 && wait <= ceiling, "wait {k}: {wait:?}");
    }
    assert_eq!(states(&events), [State::Connecting, State::Failed]);
    let ended: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Ended { id, reason } => Some((*id, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(ended, [(queued, EndReason::Failed)]);
    assert_eq!(net.session().poll_timeout(), None, "no more attempts");
    let now = net.now();
    assert_eq!(
        net.session().call(now, "m", None, CallOptions::default()),
        Err(Refused::Failed)
    );
    assert_eq!(net.session().notify(now, "m", None), Err(Refused::Failed));
    let m = net.session().metrics(now);
    assert_eq!((m.errors, m.queue_depth, m.state), (6, 0, State::Failed));
    net.advance(Duration::from_secs(3600));
    assert!(net.take_events().is_empty(), "Failed is terminal");
}

#[test]
fn the_same_seed_replays_the_same_waits_and_another_seed_does_not() {
    let waits = |seed: u8| {
        let mut net = SessionNet::new(Config::default(), seed);
        net.dial = Dial::Refuse;
        net.start();
        let mut waits = Vec::new();
        for _ in 0..8 {
            let before = net.now();
            assert!(net.advance_to_next(Duration::from_secs(60)));
            waits.push(net.now() - before);
        }
        waits
    };
    assert_eq!(waits(7), waits(7));
    assert_ne!(waits(7), waits(8));
}

#[test]
fn inputs_naming_an_abandoned_attempt_are_ignored() {
    let mut net = SessionNet::connected(Config::default(), 9);
    let old = net.session().current_attempt().unwrap();
    net.server_crash();
    let wake = net.session().poll_timeout().unwrap() - net.now();
    net.advance(wake);
    assert_eq!(net.session().state(), State::Connected);
    let current = net.session().current_attempt().unwrap();
    assert_ne!(old, current);
    assert!(old < current);
    net.take_events();
    let now = net.now();
    let id = net
        .session()
        .call(now, "m", None, CallOptions::default())
        .unwrap();
    let pending = net.session().pending_transmit();
    let before = net.session().metrics(now);
    // A server frame, an EOF and a failure, all for the old transport.
    let frame = [0x81, 0x05, b'h', b'e', b'l', b'l', b'o'];
    net.session().handle_input(now, old, &frame);
    net.session().handle_eof(now, old);
    net.session().transport_failed(now, old);
    net.session().transport_open(now, old);
    assert_eq!(net.session().state(), State::Connected);
    assert_eq!(net.session().current_attempt(), Some(current));
    assert!(net.session().poll_event().is_none());
    assert_eq!(net.session().pending_transmit(), pending);
    assert_eq!(net.session().metrics(now), before);
    assert!(net.session().is_abandoned(old));
    assert_eq!(
        net.session().link_state(old),
        tether_core::ws::State::Closed
    );
    net.drive();
    let events = net.take_events();
    assert!(
        matches!(events.as_slice(), [Event::Response { id: got, .. }] if *got == id),
        "{events:?}"
    );
}

/// After an open link is lost, the waits restart from d_1 and the k-th consecutive failed
/// attempt since then waits d_k, as the `Backoff` docs say: d_1 for the loss itself, then
/// d_1, d_2, d_3 for the failed attempts that follow.
#[test]
fn after_a_lost_link_the_kth_failed_attempt_waits_d_k() {
    for seed in 20..24 {
        let mut net = SessionNet::connected(Config::default(), seed);
        net.server_crash();
        net.dial = Dial::Refuse;
        let ceilings = [100, 100, 200, 400].map(Duration::from_millis);
        for (i, ceiling) in ceilings.into_iter().enumerate() {
            let wait = net.session().poll_timeout().unwrap() - net.now();
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "seed {seed}, wait {i}: {wait:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
            net.advance(wait);
            assert_eq!(connects(&net.take_events()).len(), 1);
        }
    }
}
