//! Lost links: what happens to calls in flight and queued, re-sends, and every call
//! ending exactly once across a randomized run with drops.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::SessionNet;
use serde_json::value::to_raw_value;
use tether_core::frame::CloseCode;
use tether_core::rng::Rng;
use tether_core::rpc;
use tether_core::session::{Backoff, CallId, CallOptions, Config, EndReason, Event, Retry, State};

fn config(max_in_flight: usize) -> Config {
    Config {
        rpc: rpc::Config {
            max_in_flight,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The methods of the requests and notifications the server got, in order; with
/// `answer`, the requests are answered (`null`), else never.
fn serve(net: &mut SessionNet, answer: bool) -> Vec<String> {
    let mut methods = Vec::new();
    let now = net.now();
    let null = to_raw_value(&()).unwrap();
    for event in net.take_server_events() {
        match event {
            rpc::Event::Request { method, reply, .. } => {
                methods.push(method);
                if answer {
                    net.duo.server.respond(now, reply, Ok(&null)).unwrap();
                }
            }
            rpc::Event::Notification { method, .. } => methods.push(method),
            _ => {}
        }
    }
    net.drive();
    methods
}

fn ended(events: &[Event]) -> Vec<(CallId, EndReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Ended { id, reason } => Some((*id, *reason)),
            _ => None,
        })
        .collect()
}

fn answered(events: &[Event]) -> Vec<CallId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Response { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

/// Waits out the backoff: the next link opens.
fn reconnect(net: &mut SessionNet) {
    let wait = net.session().poll_timeout().unwrap() - net.now();
    assert!(wait <= Duration::from_millis(100), "{wait:?}");
    net.advance(wait);
    assert_eq!(net.session().state(), State::Connected);
}

#[test]
fn a_crash_ends_calls_in_flight_and_the_queue_goes_out_in_order_on_the_next_link() {
    let mut net = SessionNet::connected(config(3), 1);
    net.echo = false;
    let now = net.now();
    let ids: Vec<CallId> = (0..6)
        .map(|i| {
            net.session()
                .call(now, &format!("m{i}"), None, CallOptions::default())
                .unwrap()
        })
        .collect();
    net.session().notify(now, "n", None).unwrap();
    net.drive();
    assert_eq!(serve(&mut net, false), ["m0", "m1", "m2"]);
    let m = net.session().metrics(now);
    assert_eq!((m.in_flight, m.queue_depth), (3, 4));

    net.server_crash();
    let events = net.take_events();
    assert_eq!(
        ended(&events),
        ids[..3]
            .iter()
            .map(|id| (*id, EndReason::ConnectionLost { sent: true }))
            .collect::<Vec<_>>()
    );
    assert!(events.iter().any(|e| matches!(e, Event::Disconnect { .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::State(State::Reconnecting))));
    let m = net.metrics();
    assert_eq!((m.in_flight, m.queue_depth, m.connected_for), (0, 4, None));

    reconnect(&mut net);
    assert_eq!(serve(&mut net, true), ["m3", "m4", "m5", "n"]);
    let events = net.take_events();
    assert_eq!(answered(&events), ids[3..]);
    assert!(ended(&events).is_empty());
    let m = net.metrics();
    assert_eq!((m.reconnections, m.in_flight, m.queue_depth), (1, 0, 0));
}

#[test]
fn resend_calls_go_back_to_the_front_in_order_and_keep_their_id() {
    let mut net = SessionNet::connected(config(2), 2);
    net.echo = false;
    let now = net.now();
    let resend = CallOptions {
        retry: Retry::Resend { max: 1 },
        ..Default::default()
    };
    let a = net.session().call(now, "a", None, resend).unwrap();
    let b = net.session().call(now, "b", None, resend).unwrap();
    let c = net
        .session()
        .call(now, "c", None, CallOptions::default())
        .unwrap();
    net.drive();
    assert_eq!(serve(&mut net, false), ["a", "b"]);

    net.server_crash();
    assert!(ended(&net.take_events()).is_empty(), "both may be re-sent");
    assert_eq!(net.metrics().queue_depth, 3);
    reconnect(&mut net);
    // Re-sent before the call that was queued behind them; c waits for a free slot.
    assert_eq!(serve(&mut net, false), ["a", "b"]);
    // Lost again: a and b have no re-sends left.
    net.server_crash();
    let events = net.take_events();
    assert_eq!(
        ended(&events),
        [
            (a, EndReason::ConnectionLost { sent: true }),
            (b, EndReason::ConnectionLost { sent: true })
        ]
    );
    reconnect(&mut net);
    assert_eq!(serve(&mut net, true), ["c"]);
    assert_eq!(answered(&net.take_events()), [c]);
}

#[test]
fn a_resent_call_is_answered_under_its_first_id() {
    let mut net = SessionNet::connected(Config::default(), 3);
    net.echo = false;
    let now = net.now();
    let options = CallOptions {
        retry: Retry::Resend { max: 3 },
        ..Default::default()
    };
    let params = to_raw_value(&["x"]).unwrap();
    let id = net
        .session()
        .call(now, "get", Some(&params), options)
        .unwrap();
    net.drive();
    assert_eq!(serve(&mut net, false), ["get"]);
    net.server_crash();
    net.echo = true;
    reconnect(&mut net);
    let events = net.take_events();
    let responses: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Response { id, result } => Some((*id, result.as_ref().unwrap().get())),
            _ => None,
        })
        .collect();
    assert_eq!(responses, [(id, r#"["x"]"#)]);
    assert_eq!(net.metrics().messages_sent, 2);
}

#[test]
fn the_server_closing_the_websocket_ends_the_link_and_the_session_reconnects() {
    let mut net = SessionNet::connected(Config::default(), 4);
    net.echo = false;
    let now = net.now();
    let id = net
        .session()
        .call(now, "m", None, CallOptions::default())
        .unwrap();
    net.drive();
    net.duo
        .server
        .close(now, CloseCode::GOING_AWAY, "restart")
        .unwrap();
    net.drive();
    let events = net.take_events();
    assert_eq!(
        ended(&events),
        [(id, EndReason::ConnectionLost { sent: true })]
    );
    let disconnects = events
        .iter()
        .filter(|e| matches!(e, Event::Disconnect { .. }))
        .count();
    assert_eq!(disconnects, 1, "{events:?}");
    assert_eq!(net.session().state(), State::Reconnecting);
    // The close was clean: the server saw our echo.
    assert!(net
        .take_server_events()
        .iter()
        .any(|e| matches!(e, rpc::Event::Closed(info) if info.clean)));
    reconnect(&mut net);
}

/// `max_attempts` counts the attempts after a loss too: with `Some(0)` a lost link fails the
/// session at once, the one setting under which `State::can_become` allows that edge (and
/// forbids `Reconnecting`).
#[test]
fn with_no_attempt_allowed_a_lost_link_fails_the_session() {
    for (max_attempts, after_loss) in [
        (Some(0), State::Failed),
        (Some(1), State::Reconnecting),
        (None, State::Reconnecting),
    ] {
        let config = Config {
            backoff: Backoff {
                max_attempts,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut net = SessionNet::connected(config, 5);
        net.server_crash();
        let events = net.take_events();
        let states: Vec<State> = events
            .iter()
            .filter_map(|e| match e {
                Event::State(state) => Some(*state),
                _ => None,
            })
            .collect();
        assert_eq!(states, [after_loss], "max_attempts {max_attempts:?}");
        assert!(State::Connected.can_become(after_loss, max_attempts));
        let other = if after_loss == State::Failed {
            State::Reconnecting
        } else {
            State::Failed
        };
        assert!(!State::Connected.can_become(other, max_attempts));
    }
}

/// Calls of every kind, cancels, short deadlines, crashes and silent servers, at random:
/// every call the session accepted ends exactly once, and the server never runs a call
/// more often than its re-sends allow.
#[test]
fn every_call_ends_exactly_once_across_a_randomized_run_with_drops() {
    for seed in 1..=4u8 {
        run_randomized(seed);
    }
}

fn run_randomized(seed: u8) {
    let mut rng = Rng::from_seed([seed.wrapping_mul(31); 32]);
    let mut net = SessionNet::connected(config(8), seed);
    // The test plays the server: it answers, or sits on requests, by its own coin.
    net.echo = false;
    let mut answering = true;
    let mut accepted: BTreeMap<u64, (CallId, u32)> = BTreeMap::new();
    let mut endings: BTreeMap<CallId, u32> = BTreeMap::new();
    let mut runs: BTreeMap<u64, u32> = BTreeMap::new();
    let mut crashes = 0;
    let mut calls = 0u64;
    while calls < 300 {
        let now = net.now();
        match rng.next_u32() % 10 {
            0..=4 => {
                let resends = rng.next_u32() % 3;
                let options = CallOptions {
                    timeout: Some(Duration::from_millis(u64::from(rng.next_u32() % 3000) + 1)),
                    retry: match resends {
                        0 => Retry::Never,
                        max => Retry::Resend { max },
                    },
                };
                let params = to_raw_value(&[calls + 1]).unwrap();
                let id = net
                    .session()
                    .call(now, "m", Some(&params), options)
                    .unwrap();
                calls += 1;
                assert_eq!(id.get(), calls, "ids count up from 1");
                accepted.insert(calls, (id, resends));
            }
            5 | 6 => {
                // Cancel a random earlier call, ended or not.
                let n = u64::from(rng.next_u32()) % calls.max(1) + 1;
                if let Some((id, _)) = accepted.get(&n) {
                    net.session().cancel(now, *id);
                }
            }
            7 if rng.next_u32() % 3 == 0 && net.session().state() == State::Connected => {
                net.server_crash();
                crashes += 1;
            }
            8 => answering = !answering,
            _ => {}
        }
        loop {
            net.drive();
            let mut answered = false;
            for event in net.take_server_events() {
                if let rpc::Event::Request {
                    reply,
                    params: Some(p),
                    ..
                } = event
                {
                    let [n]: [u64; 1] = serde_json::from_str(p.get()).unwrap();
                    *runs.entry(n).or_default() += 1;
                    if answering {
                        let now = net.now();
                        net.duo.server.respond(now, reply, Ok(&p)).unwrap();
                        answered = true;
                    }
                }
            }
            if !answered {
                break;
            }
        }
        for event in net.take_events() {
            if let Event::Response { id, .. } | Event::Ended { id, .. } = event {
                *endings.entry(id).or_default() += 1;
            }
        }
        net.advance(Duration::from_millis(u64::from(rng.next_u32() % 200)));
    }
    // Every deadline passes.
    net.advance(Duration::from_secs(10));
    for event in net.take_events() {
        if let Event::Response { id, .. } | Event::Ended { id, .. } = event {
            *endings.entry(id).or_default() += 1;
        }
    }
    assert!(crashes > 3, "seed {seed}: only {crashes} crashes");
    let all: Vec<CallId> = accepted.values().map(|(id, _)| *id).collect();
    let ended: Vec<CallId> = endings.keys().copied().collect();
    assert_eq!(
        all, ended,
        "seed {seed}: calls that never ended, or unknown ids"
    );
    assert!(
        endings.values().all(|n| *n == 1),
        "seed {seed}: a call ended twice"
    );
    for (n, times) in runs {
        let (_, resends) = accepted[&n];
        assert!(
            times <= resends + 1,
            "seed {seed}: call {n} ran {times} times"
        );
    }
    let m = net.metrics();
    assert_eq!((m.in_flight, m.queue_depth), (0, 0));
}
