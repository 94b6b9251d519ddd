//! The queue of unsent items and the life of a call outside of lost links: bounds,
//! deadlines in the queue, cancel, close, the server's requests and notifications, and
//! timers that never livelock.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::{Dial, SessionNet};
use serde_json::value::to_raw_value;
use tether_core::frame::CloseCode;
use tether_core::rng::Rng;
use tether_core::rpc::{self, ErrorObject};
use tether_core::session::{
    Backoff, CallId, CallOptions, Config, EndReason, Event, Heartbeat, HeartbeatMode, QueueLimits,
    Refused, State,
};
use tether_core::ws;

fn limits(max_messages: usize, max_bytes: usize) -> Config {
    Config {
        queue: QueueLimits {
            max_messages,
            max_bytes,
        },
        ..Default::default()
    }
}

fn call(net: &mut SessionNet, method: &str) -> Result<CallId, Refused> {
    let now = net.now();
    net.session()
        .call(now, method, None, CallOptions::default())
}

fn requests(net: &mut SessionNet) -> Vec<String> {
    net.take_server_events()
        .into_iter()
        .filter_map(|e| match e {
            rpc::Event::Request { method, .. } | rpc::Event::Notification { method, .. } => {
                Some(method)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn past_max_messages_nothing_is_queued_until_room_is_made() {
    let mut net = SessionNet::new(limits(3, 1 << 20), 1);
    net.echo = false;
    let ids: Vec<CallId> = ["a", "b", "c"]
        .iter()
        .map(|m| call(&mut net, m).unwrap())
        .collect();
    let bytes = net.metrics().queue_bytes;
    assert_eq!(
        call(&mut net, "d"),
        Err(Refused::QueueFull { messages: 3, bytes })
    );
    let now = net.now();
    assert_eq!(
        net.session().notify(now, "e", None),
        Err(Refused::QueueFull { messages: 3, bytes })
    );
    assert_eq!(net.metrics().queue_depth, 3);
    assert!(net.session().cancel(now, ids[1]));
    call(&mut net, "f").unwrap();
    net.start();
    assert_eq!(requests(&mut net), ["a", "c", "f"]);
}

#[test]
fn past_max_bytes_nothing_is_queued_and_the_size_is_the_encoded_request() {
    // What one queued call of method "m" without params weighs on the wire.
    let one = r#"{"jsonrpc":"2.0","id":"00000000-0000-4000-8000-000000000000","method":"m"}"#.len();
    let mut net = SessionNet::new(limits(100, 2 * one + 1), 2);
    call(&mut net, "m").unwrap();
    assert_eq!(net.metrics().queue_bytes, one);
    call(&mut net, "m").unwrap();
    assert_eq!(
        call(&mut net, "m"),
        Err(Refused::QueueFull {
            messages: 2,
            bytes: 2 * one
        })
    );
    // A notification has no id, but is still bigger than the one byte left.
    let now = net.now();
    assert!(matches!(
        net.session().notify(now, "m", None),
        Err(Refused::QueueFull { .. })
    ));
    assert_eq!(net.metrics().queue_depth, 2);
}

#[test]
fn a_deadline_runs_from_the_call_time_in_the_queue_too() {
    let mut net = SessionNet::new(Config::default(), 3);
    net.echo = false;
    let now = net.now();
    let short = net
        .session()
        .call(
            now,
            "short",
            None,
            CallOptions {
                timeout: Some(Duration::from_secs(2)),
                ..Default::default()
            },
        )
        .unwrap();
    let long = call(&mut net, "long").unwrap();
    net.advance(Duration::from_secs(2));
    let events = net.take_events();
    assert!(
        matches!(events.as_slice(), [Event::Ended { id, reason: EndReason::TimedOut }] if *id == short),
        "{events:?}"
    );
    assert_eq!(net.metrics().queue_depth, 1);
    net.start();
    assert_eq!(
        requests(&mut net),
        ["long"],
        "the timed out call is never sent"
    );
    // In flight, the deadline still counts from `call`: 30 s by default.
    net.advance(Duration::from_secs(28) - Duration::from_nanos(1));
    assert!(!net
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Ended { .. })));
    net.advance(Duration::from_nanos(1));
    let events = net.take_events();
    assert!(
        matches!(events.as_slice(), [Event::Ended { id, reason: EndReason::TimedOut }] if *id == long),
        "{events:?}"
    );
    assert_eq!(net.metrics().in_flight, 0);
}

#[test]
fn cancel_ends_queued_and_written_calls_once_and_drops_late_answers() {
    let config = Config {
        rpc: rpc::Config {
            max_in_flight: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut net = SessionNet::connected(config, 4);
    net.echo = false;
    let written = call(&mut net, "w").unwrap();
    let queued = call(&mut net, "q").unwrap();
    let after = call(&mut net, "after").unwrap();
    net.drive();
    let mut server: Vec<rpc::Event> = net
        .take_server_events()
        .into_iter()
        .filter(|e| matches!(e, rpc::Event::Request { .. }))
        .collect();
    assert_eq!(server.len(), 1);
    let now = net.now();
    assert!(net.session().cancel(now, queued));
    assert!(net.session().cancel(now, written));
    assert!(!net.session().cancel(now, written), "already ended");
    let events = net.take_events();
    let ended: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Ended { id, reason } => Some((*id, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        [
            (queued, EndReason::Cancelled),
            (written, EndReason::Cancelled)
        ]
    );
    // The freed slot goes to the next queued call, skipping the cancelled one.
    net.drive();
    assert_eq!(requests(&mut net), ["after"]);
    // The late answer to the cancelled call is dropped.
    if let rpc::Event::Request { reply, .. } = server.remove(0) {
        net.duo
            .server
            .respond(now, reply, Ok(&to_raw_value(&1).unwrap()))
            .unwrap();
    }
    net.drive();
    assert!(net.take_events().is_empty());
    assert_eq!(net.metrics().in_flight, 1);
    let _ = after;
}

#[test]
fn close_ends_queued_calls_then_written_ones_and_disconnects_once_the_websocket_is_closed() {
    let config = Config {
        rpc: rpc::Config {
            max_in_flight: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut net = SessionNet::connected(config, 5);
    net.echo = false;
    let written = call(&mut net, "w").unwrap();
    let queued = call(&mut net, "q").unwrap();
    net.drive();
    let now = net.now();
    net.session().close(now);
    let closed_at_once: Vec<Event> = std::iter::from_fn(|| net.session().poll_event()).collect();
    assert!(
        matches!(closed_at_once.as_slice(), [Event::Ended { id, reason: EndReason::Closed }] if *id == queued),
        "{closed_at_once:?}"
    );
    assert_eq!(call(&mut net, "late"), Err(Refused::Closed));
    assert_eq!(
        net.session().notify(now, "late", None),
        Err(Refused::Closed)
    );
    net.drive();
    let events = net.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::Ended { id, reason: EndReason::ConnectionLost { sent: true } },
                Event::Disconnect { .. },
                Event::State(State::Disconnected),
            ] if *id == written
        ),
        "{events:?}"
    );
    let server_closed = net.take_server_events().into_iter().find_map(|e| match e {
        rpc::Event::Closed(info) => Some(info),
        _ => None,
    });
    let info = server_closed.unwrap();
    assert_eq!((info.code, info.clean), (CloseCode::NORMAL, true));
    net.session().close(now);
    net.advance(Duration::from_secs(60));
    assert!(net.take_events().is_empty(), "closed for good");
    assert_eq!(net.session().current_attempt(), None);
    assert_eq!(net.session().poll_timeout(), None);
}

#[test]
fn close_before_the_link_opens_drops_the_attempt_at_once() {
    let mut net = SessionNet::new(Config::default(), 6);
    net.dial = Dial::Hang;
    net.start();
    let queued = call(&mut net, "q").unwrap();
    net.take_events();
    let now = net.now();
    net.session().close(now);
    net.drive();
    let events = net.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::Ended { id, reason: EndReason::Closed },
                Event::Disconnect { .. },
                Event::State(State::Disconnected)
            ] if *id == queued
        ),
        "{events:?}"
    );
    // Before start: nothing to drop.
    let mut idle = SessionNet::new(Config::default(), 7);
    let now = idle.now();
    idle.session().close(now);
    idle.start();
    assert!(idle.take_events().is_empty());
    assert_eq!(idle.session().state(), State::Disconnected);
    assert_eq!(call(&mut idle, "q"), Err(Refused::Closed));
}

#[test]
fn the_servers_requests_get_method_not_found_and_its_notifications_surface() {
    let mut net = SessionNet::connected(Config::default(), 8);
    let now = net.now();
    let params = to_raw_value(&["tick"]).unwrap();
    let asked = net.duo.server.call(now, "ask", None, None).unwrap();
    net.duo.server.notify(now, "news", Some(&params)).unwrap();
    net.drive();
    let answer = net.take_server_events().into_iter().find_map(|e| match e {
        rpc::Event::Response { id, result } => Some((id, result)),
        _ => None,
    });
    let (id, result) = answer.unwrap();
    assert_eq!(id, asked);
    assert_eq!(result.unwrap_err(), ErrorObject::method_not_found());
    let events = net.take_events();
    assert!(
        matches!(events.as_slice(), [Event::Notification { method, params: Some(p) }] if method == "news" && p.get() == r#"["tick"]"#),
        "{events:?}"
    );
    assert_eq!(net.metrics().messages_received, 2);
}

/// Zero durations everywhere: every timer set while handling a timeout is still later
/// than `now` (the harness checks after each `handle_timeout`), and time moves on.
#[test]
fn zero_durations_never_leave_a_timer_due() {
    let config = Config {
        connect_timeout: Duration::ZERO,
        backoff: Backoff {
            base: Duration::ZERO,
            max: Duration::ZERO,
            max_attempts: None,
        },
        heartbeat: Some(Heartbeat {
            interval: Duration::ZERO,
            timeout: Duration::ZERO,
            mode: HeartbeatMode::Pong,
        }),
        ws: ws::Config {
            close_timeout: Duration::ZERO,
            handshake_timeout: Duration::ZERO,
            ..Default::default()
        },
        ..Default::default()
    };
    for dial in [Dial::Open, Dial::Refuse, Dial::Hang, Dial::Stall] {
        let mut net = SessionNet::new(config.clone(), 9);
        net.dial = dial;
        net.start();
        let zero = CallOptions {
            timeout: Some(Duration::ZERO),
            ..Default::default()
        };
        for step in 0..300 {
            let now = net.now();
            if step % 10 == 0 {
                let _ = net.session().call(now, "m", None, zero);
            }
            let moved = net.advance_to_next(Duration::from_secs(1));
            assert!(moved, "{dial:?} {:?}", net.session());
        }
        let m = net.metrics();
        match dial {
            // Pings answered at once, calls ended at their zero deadline.
            Dial::Open => assert!(m.rtt_mean.is_some() && m.messages_sent > 0, "{m:?}"),
            _ => assert!(m.errors > 0, "{dial:?}: {m:?}"),
        }
    }
}

/// Garbage, EOFs and failures for current and stale attempts, at random times: nothing
/// panics, every call still ends once, and no timer is left due.
#[test]
fn random_inputs_never_panic_and_calls_still_end_once() {
    let mut rng = Rng::from_seed([42; 32]);
    let mut net = SessionNet::connected(Config::default(), 10);
    let mut accepted = Vec::new();
    let mut endings = std::collections::BTreeMap::<CallId, u32>::new();
    let mut attempts = vec![net.session().current_attempt().unwrap()];
    for step in 0..2000 {
        let now = net.now();
        let attempt = match net.session().current_attempt() {
            Some(a) if rng.next_u32() % 4 != 0 => a,
            _ => attempts[rng.next_u32() as usize % attempts.len()],
        };
        match rng.next_u32() % 12 {
            0..=3 => {
                let mut bytes = vec![0u8; (rng.next_u32() % 64) as usize];
                rng.fill(&mut bytes);
                if step % 2 == 0 {
                    // Well-formed server frames with random payloads get past the framing.
                    bytes.splice(0..0, [0x81, bytes.len().min(125) as u8]);
                }
                net.session().handle_input(now, attempt, &bytes);
            }
            4 => net.session().handle_eof(now, attempt),
            5 => net.session().transport_failed(now, attempt),
            6 => net.session().transport_open(now, attempt),
            7 | 8 => {
                if let Ok(id) = call(&mut net, "m") {
                    accepted.push(id);
                }
            }
            9 => {
                if let Some(id) = accepted.get(rng.next_u32() as usize % accepted.len().max(1)) {
                    net.session().cancel(now, *id);
                }
            }
            _ => net.advance(Duration::from_millis(u64::from(rng.next_u32() % 500))),
        }
        net.drive();
        if let Some(a) = net.session().current_attempt() {
            if !attempts.contains(&a) {
                attempts.push(a);
            }
        }
        for event in net.take_events() {
            if let Event::Response { id, .. } | Event::Ended { id, .. } = event {
                *endings.entry(id).or_default() += 1;
            }
        }
    }
    net.advance(Duration::from_secs(60));
    for event in net.take_events() {
        if let Event::Response { id, .. } | Event::Ended { id, .. } = event {
            *endings.entry(id).or_default() += 1;
        }
    }
    assert!(
        attempts.len() > 5,
        "links came and went: {}",
        attempts.len()
    );
    assert_eq!(accepted, endings.keys().copied().collect::<Vec<_>>());
    assert!(endings.values().all(|n| *n == 1));
}
