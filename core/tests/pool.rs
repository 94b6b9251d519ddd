//! The pool over in-memory links: one link per node pair, opened on first use, shared,
//! two-way; failures named; heartbeats, idle links, shutdown.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::Cluster;
use serde_json::value::to_raw_value;
use tether_core::handshake::HttpResponse;
use tether_core::pool::{Admission, Config, Event, Fault, Lane, NodeId, PeerState};
use tether_core::rpc::{EndReason, Refused};
use tether_core::session::CallId;
use tether_core::ws;

fn cluster(n: u64) -> Cluster {
    Cluster::new(n, Config::new)
}

/// The answers and ends in `events`, by call.
fn outcomes(events: &[Event]) -> Vec<(CallId, Result<String, EndReason>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Response { call, result, .. } => Some((
                *call,
                Ok(result
                    .as_ref()
                    .map_or_else(|e| e.message.clone(), |r| r.get().to_owned())),
            )),
            Event::Ended { call, reason, .. } => Some((*call, Err(*reason))),
            _ => None,
        })
        .collect()
}

#[test]
fn one_link_carries_calls_both_ways() {
    let mut c = cluster(2);
    let a = c.call(1, 2, "echo", 7);
    c.settle();
    let b = c.call(2, 1, "echo", 8);
    c.settle();
    assert_eq!(
        outcomes(&c.take(1)),
        vec![(a, Ok(r#"{"node":2,"params":[7]}"#.into()))]
    );
    assert_eq!(
        outcomes(&c.take(2)),
        vec![(b, Ok(r#"{"node":1,"params":[8]}"#.into()))]
    );
    assert_eq!(
        c.connects.get(&NodeId(2)),
        None,
        "node 2 called over node 1's link"
    );
    assert_eq!((c.pool(1).stats().links, c.pool(2).stats().links), (1, 1));
    assert_eq!(c.pool(2).peer_state(NodeId(1)), PeerState::Up);
    assert_eq!(c.pool(1).connected(), vec![NodeId(2)]);
}

#[test]
fn a_thousand_first_calls_make_one_dial_and_each_gets_its_own_answer() {
    let mut c = cluster(2);
    let calls: Vec<_> = (0..1000).map(|n| (c.call(1, 2, "echo", n), n)).collect();
    c.settle();
    assert_eq!(c.connects[&NodeId(1)], 1);
    let got = outcomes(&c.take(1));
    assert_eq!(got.len(), 1000);
    for (call, n) in calls {
        let expected = format!(r#"{{"node":2,"params":[{n}]}}"#);
        assert!(got.contains(&(call, Ok(expected))), "call {n}");
    }
    let stats = c.pool(1).stats();
    assert_eq!((stats.calls, stats.failures), (1000, 0));
    assert_eq!(stats.peers[0].latency_p99, Some(Duration::ZERO));
}

#[test]
fn an_unreachable_node_fails_its_calls_and_is_dialed_again_by_the_next() {
    let mut c = cluster(2);
    c.down.insert(NodeId(2));
    let a = c.call(1, 2, "echo", 1);
    c.settle();
    assert_eq!(outcomes(&c.take(1)), vec![(a, Err(EndReason::Unreachable))]);
    let stats = c.pool(1).stats();
    assert_eq!(stats.peers[0].state, PeerState::Down);
    assert_eq!(stats.peers[0].last_error, Some(Fault::Unreachable));
    assert_eq!((stats.links, stats.failures), (0, 1));
    c.down.clear();
    let b = c.call(1, 2, "echo", 2);
    c.settle();
    assert_eq!(c.connects[&NodeId(1)], 2);
    assert!(matches!(outcomes(&c.take(1)).as_slice(), [(id, Ok(_))] if *id == b));
}

#[test]
fn two_nodes_dialing_each_other_at_once_end_with_one_link() {
    let mut c = cluster(2);
    let a = c.call(1, 2, "echo", 1);
    let b = c.call(2, 1, "echo", 2);
    c.settle();
    assert_eq!((c.connects[&NodeId(1)], c.connects[&NodeId(2)]), (1, 1));
    let (events1, events2) = (c.take(1), c.take(2));
    assert!(matches!(outcomes(&events1).as_slice(), [(id, Ok(_))] if *id == a));
    assert!(matches!(outcomes(&events2).as_slice(), [(id, Ok(_))] if *id == b));
    assert_eq!((c.pool(1).stats().links, c.pool(2).stats().links), (1, 1));
    // The refused dial was no failure.
    let down = |events: &[Event]| {
        events.iter().any(|e| {
            matches!(
                e,
                Event::Peer {
                    state: PeerState::Down,
                    ..
                }
            )
        })
    };
    assert!(!down(&events1) && !down(&events2));
    assert_eq!(c.pool(2).stats().peers[0].last_error, None);
    // Both keep using the one link.
    c.call(2, 1, "echo", 3);
    c.call(1, 2, "echo", 4);
    c.settle();
    assert_eq!((c.connects[&NodeId(1)], c.connects[&NodeId(2)]), (1, 1));
    assert_eq!(outcomes(&c.take(1)).len() + outcomes(&c.take(2)).len(), 2);
}

#[test]
fn a_silent_link_is_declared_dead_and_its_calls_end_as_lost() {
    let mut c = cluster(2);
    c.call(1, 2, "echo", 1);
    c.settle();
    c.take(1);
    c.serve = false;
    c.mute.insert(NodeId(2));
    let a = c.call(1, 2, "slow", 2);
    c.run_for(Duration::from_secs(10));
    let events = c.take(1);
    assert_eq!(
        outcomes(&events),
        vec![(a, Err(EndReason::ConnectionLost { sent: true }))]
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Peer {
            state: PeerState::Down,
            ..
        }
    )));
    assert_eq!(c.pool(1).stats().peers[0].last_error, Some(Fault::Silent));
}

#[test]
fn a_link_in_use_stays_up_across_many_heartbeats() {
    let mut c = cluster(2);
    c.call(1, 2, "echo", 1);
    c.settle();
    // 27 s of calls every 0.9 s, past five times the 5 s heartbeat timeout.
    for n in 0..30 {
        c.run_for(Duration::from_millis(900));
        c.call(2, 1, "echo", n);
        c.settle();
    }
    assert!(!c.take(1).iter().any(|e| matches!(
        e,
        Event::Peer {
            state: PeerState::Down,
            ..
        }
    )));
    assert_eq!(c.connects[&NodeId(1)], 1);
}

#[test]
fn an_idle_link_closes_and_the_next_call_opens_another() {
    let mut c = cluster(2);
    c.call(1, 2, "echo", 1);
    c.run_for(Duration::from_secs(59));
    assert_eq!(c.pool(1).stats().links, 1, "pings do not count as use");
    c.run_for(Duration::from_secs(2));
    assert_eq!((c.pool(1).stats().links, c.pool(2).stats().links), (0, 0));
    assert_eq!(c.pool(1).peer_state(NodeId(2)), PeerState::Idle);
    let b = c.call(1, 2, "echo", 2);
    c.settle();
    assert!(outcomes(&c.take(1))
        .iter()
        .any(|(id, r)| *id == b && r.is_ok()));
    assert_eq!(c.connects[&NodeId(1)], 2);
    assert_eq!(c.pool(1).stats().peers[0].reconnects, 1);
}

#[test]
fn shutdown_lets_calls_in_flight_finish_then_closes_with_1001() {
    let mut c = cluster(3);
    c.call(1, 3, "echo", 0);
    c.settle();
    c.serve = false;
    let a = c.call(1, 2, "slow", 1);
    c.settle();
    c.down.insert(NodeId(2));
    c.take(1);
    let now = c.now();
    c.pool(1).shutdown(now, Duration::from_secs(5));
    c.settle();
    // The quiet link to node 3 is gone; the one with a call in flight stays.
    assert_eq!(c.pool(1).stats().links, 1);
    assert_eq!(
        c.pool(1).call(now, NodeId(2), "late", None, None),
        Err(Refused::Closed)
    );
    c.answer(0);
    assert!(matches!(outcomes(&c.take(1)).as_slice(), [(id, Ok(_))] if *id == a));
    c.run_for(Duration::from_secs(1));
    assert!(c.pool(1).is_finished());
    assert_eq!(c.pool(2).stats().links, 0);
}

#[test]
fn shutdown_ends_what_waits_and_closes_busy_links_at_the_deadline() {
    let mut c = cluster(2);
    c.serve = false;
    let a = c.call(1, 2, "slow", 1);
    c.settle();
    let now = c.now();
    c.pool(1).shutdown(now, Duration::from_secs(5));
    c.run_for(Duration::from_secs(4));
    assert_eq!(c.pool(1).stats().links, 1);
    c.run_for(Duration::from_secs(2));
    assert_eq!(
        outcomes(&c.take(1)),
        vec![(a, Err(EndReason::ConnectionLost { sent: true }))]
    );
    assert!(c.pool(1).is_finished());
}

#[test]
fn a_call_waiting_for_its_link_times_out_at_its_own_deadline() {
    let mut c = cluster(2);
    let now = c.now();
    let params = to_raw_value(&[1]).unwrap();
    let a = c
        .pool(1)
        .call(
            now,
            NodeId(2),
            "echo",
            Some(&params),
            Some(Duration::from_millis(10)),
        )
        .unwrap();
    // Nothing is carried: the connect is never answered.
    c.pool(1).handle_timeout(now + Duration::from_millis(10));
    let events: Vec<_> = std::iter::from_fn(|| c.pool(1).poll_event()).collect();
    assert_eq!(outcomes(&events), vec![(a, Err(EndReason::TimedOut))]);
}

#[test]
fn a_full_queue_refuses_and_holds_nothing_more() {
    let mut c = Cluster::new(2, |node| Config {
        queue: tether_core::session::QueueLimits {
            max_messages: 2,
            max_bytes: 1 << 20,
        },
        ..Config::new(node)
    });
    c.call(1, 2, "a", 1);
    c.call(1, 2, "b", 2);
    let now = c.now();
    assert!(matches!(
        c.pool(1).call(now, NodeId(2), "c", None, None),
        Err(Refused::QueueFull { messages: 2, .. })
    ));
    c.settle();
    assert_eq!(outcomes(&c.take(1)).len(), 2);
}

#[test]
fn a_stale_link_id_reaches_nothing() {
    let mut c = cluster(2);
    c.call(1, 2, "echo", 1);
    c.settle();
    let old = c.pool(1).stats().peers[0].link.unwrap();
    let now = c.now();
    c.pool(1).handle_eof(now, old);
    c.settle();
    c.call(1, 2, "echo", 2);
    c.settle();
    let new = c.pool(1).stats().peers[0].link.unwrap();
    assert_ne!(old, new);
    let now = c.now();
    c.pool(1).handle_input(now, old, b"garbage");
    assert_eq!(c.pool(1).link_state(old), ws::State::Closed);
    assert_eq!(c.pool(1).link_state(new), ws::State::Open);
    assert!(c.pool(1).poll_transmit(old).is_none());
}

#[test]
fn a_bulk_call_gets_a_link_of_its_own_and_the_node_state_follows_the_control_link() {
    let mut c = cluster(2);
    let a = c.call(1, 2, "echo", 1);
    c.settle();
    let now = c.now();
    let params = to_raw_value(&[2]).unwrap();
    let b = c
        .pool(1)
        .call_on(now, NodeId(2), Lane::Bulk, "snapshot", Some(&params), None)
        .unwrap();
    c.settle();
    let got = outcomes(&c.take(1));
    assert!(got.iter().any(|(id, r)| *id == a && r.is_ok()));
    assert!(got.iter().any(|(id, r)| *id == b && r.is_ok()));
    assert_eq!(c.connects[&NodeId(1)], 2, "one link per lane");
    assert_eq!((c.pool(1).stats().links, c.pool(2).stats().links), (2, 2));
    // Node 2 calls back on the bulk lane over the link node 1 opened.
    let now = c.now();
    let d = c
        .pool(2)
        .call_on(now, NodeId(1), Lane::Bulk, "snapshot", Some(&params), None)
        .unwrap();
    c.settle();
    assert!(outcomes(&c.take(2))
        .iter()
        .any(|(id, r)| *id == d && r.is_ok()));
    assert_eq!(c.connects.get(&NodeId(2)), None);
    // The bulk link going does not take the node down.
    let bulk = c.pool(2).stats().links;
    assert_eq!(bulk, 2);
    c.down.insert(NodeId(2));
    c.mute.insert(NodeId(2));
    c.run_for(Duration::from_secs(10));
    assert_eq!(c.pool(1).peer_state(NodeId(2)), PeerState::Down);
    assert_eq!(c.pool(1).stats().links, 0);
}

#[test]
fn two_nodes_opening_bulk_links_to_each_other_at_once_keep_one() {
    let mut c = cluster(2);
    let params = to_raw_value(&[1]).unwrap();
    let now = c.now();
    c.pool(1)
        .call_on(now, NodeId(2), Lane::Bulk, "x", Some(&params), None)
        .unwrap();
    c.pool(2)
        .call_on(now, NodeId(1), Lane::Bulk, "y", Some(&params), None)
        .unwrap();
    c.settle();
    assert_eq!(outcomes(&c.take(1)).len() + outcomes(&c.take(2)).len(), 2);
    assert_eq!((c.pool(1).stats().links, c.pool(2).stats().links), (1, 1));
    // No control link was opened, so neither node counts the other as up.
    assert_eq!(c.pool(1).peer_state(NodeId(2)), PeerState::Idle);
}

#[test]
fn peers_naming_ever_new_node_ids_cannot_make_the_pool_remember_them_all() {
    let mut c = Cluster::new(2, |node| Config {
        max_links: 4,
        ..Config::new(node)
    });
    let now = c.now();
    for id in 1000..6000u64 {
        let link = c.pool(1).accept(now).unwrap();
        let upgrade = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             tether-node-id: {id}\r\n\r\n"
        );
        c.pool(1).handle_input(now, link, upgrade.as_bytes());
        assert_eq!(c.pool(1).link_node(link), Some(NodeId(id)));
        c.pool(1).release(now, link);
        assert_eq!(c.pool(1).stats().links, 0, "released at once");
    }
    let known = c.pool(1).stats().peers.len();
    assert!(known <= 64, "{known} nodes remembered");
    // Nodes it calls itself are known as ever.
    c.call(1, 2, "echo", 1);
    c.settle();
    assert!(c.pool(1).stats().peers.iter().any(|p| p.node == NodeId(2)));
}

#[test]
fn a_dial_refused_because_the_peer_holds_a_link_to_us_waits_for_that_link() {
    let mut c = cluster(2);
    // Node 1's dial is slow: node 2's dial reaches node 1 first and is refused (409),
    // since node 1 (the lower id) is dialing; node 2's call waits for node 1's link.
    c.slow_dials.insert(NodeId(1));
    let a = c.call(1, 2, "echo", 1);
    let b = c.call(2, 1, "echo", 2);
    c.settle();
    assert_eq!(c.pool(2).peer_state(NodeId(1)), PeerState::Connecting);
    assert!(outcomes(&c.take(2)).is_empty(), "node 2's call waits");
    c.release();
    let (events1, events2) = (c.take(1), c.take(2));
    assert!(matches!(outcomes(&events1).as_slice(), [(id, Ok(_))] if *id == a));
    assert!(matches!(outcomes(&events2).as_slice(), [(id, Ok(_))] if *id == b));
    assert!(!events2.iter().any(|e| matches!(
        e,
        Event::Peer {
            state: PeerState::Down,
            ..
        }
    )));
    assert_eq!(c.pool(2).stats().peers[0].last_error, None);
    assert_eq!((c.pool(1).stats().links, c.pool(2).stats().links), (1, 1));
}

#[test]
fn a_refused_dial_whose_peer_link_never_comes_dials_again_for_its_calls() {
    let mut c = cluster(2);
    c.slow_dials.insert(NodeId(1));
    let a = c.call(1, 2, "echo", 1);
    let b = c.call(2, 1, "echo", 2);
    c.settle();
    // Node 1's dial never arrives: it gives up at its connect timeout, and so does node
    // 2's wait for it. Node 2's call was never tried on a link of its own, so node 2 dials
    // node 1 itself rather than fail it Unreachable, and the call is answered.
    c.run_for(Duration::from_secs(6));
    assert_eq!(outcomes(&c.take(1)), vec![(a, Err(EndReason::Unreachable))]);
    assert_eq!(c.connects[&NodeId(2)], 2);
    assert_eq!(
        outcomes(&c.take(2)),
        vec![(b, Ok(r#"{"node":1,"params":[2]}"#.into()))]
    );
    assert_eq!(c.pool(2).peer_state(NodeId(1)), PeerState::Up);
}

#[test]
fn a_large_message_is_handed_out_to_be_parsed_and_its_call_still_gets_its_own_answer() {
    let mut c = cluster(2);
    let small = c.call(1, 2, "echo", 1);
    c.settle();
    let big = "x".repeat(300 << 10);
    let params = to_raw_value(&[&big]).unwrap();
    let now = c.now();
    let a = c
        .pool(1)
        .call_on(now, NodeId(2), Lane::Bulk, "echo", Some(&params), None)
        .unwrap();
    c.settle();
    // The request on node 2, and its answer on node 1.
    assert_eq!(c.parsed, 2);
    let got = outcomes(&c.take(1));
    assert!(got.iter().any(|(id, r)| *id == small && r.is_ok()));
    let answer = got.iter().find(|(id, _)| *id == a).map(|(_, r)| r.clone());
    let answer = answer.unwrap().unwrap();
    assert!(answer.len() > 300 << 10 && answer.contains(&big));
}

#[test]
fn shutdown_closes_a_link_once_the_peers_last_request_is_answered() {
    let mut c = cluster(2);
    c.serve = false;
    c.call(2, 1, "slow", 1);
    c.settle();
    assert_eq!(c.held.len(), 1);
    let now = c.now();
    c.pool(1).shutdown(now, Duration::from_secs(5));
    c.settle();
    assert_eq!(
        c.pool(1).stats().links,
        1,
        "a request of the peer's is under way"
    );
    c.answer(0);
    c.run_for(Duration::from_millis(100));
    assert!(
        c.pool(1).is_finished(),
        "the link closes once the request is answered, not at the end of the grace"
    );
}

/// The sibling of the test above: this path already worked (the channel reports the
/// cancelled call as ended, which checks whether the link is done).
#[test]
fn shutdown_closes_a_link_once_its_last_call_is_cancelled() {
    let mut c = cluster(2);
    c.serve = false;
    let a = c.call(1, 2, "slow", 1);
    c.settle();
    let now = c.now();
    c.pool(1).shutdown(now, Duration::from_secs(5));
    c.settle();
    assert_eq!(c.pool(1).stats().links, 1, "a call is in flight");
    assert!(c.pool(1).cancel(now, a));
    c.run_for(Duration::from_millis(100));
    assert!(
        c.pool(1).is_finished(),
        "the link closes once its last call is cancelled, not at the end of the grace"
    );
    assert_eq!(
        outcomes(&c.take(1)),
        vec![],
        "a cancelled call ends without an event"
    );
}

#[test]
fn a_link_whose_last_bytes_are_taken_is_gone_once_it_says_finished() {
    let mut c = cluster(2);
    c.call(1, 2, "echo", 1);
    c.settle();
    let link = c.pool(1).stats().peers[0].link.unwrap();
    let now = c.now();
    // A call written on the link and not taken yet when its transport ends.
    let params = to_raw_value(&[2]).unwrap();
    c.pool(1)
        .call(now, NodeId(2), "echo", Some(&params), None)
        .unwrap();
    c.pool(1).handle_eof(now, link);
    assert!(c.pool(1).pending_transmit(link) > 0, "bytes left to take");
    // A driver takes the last bytes until the link says it is finished, then drops the
    // transport: it never asks once more to hear `None`.
    while !c.pool(1).is_link_finished(link) {
        assert!(c.pool(1).poll_transmit(link).is_some());
    }
    assert_eq!(c.pool(1).stats().links, 0, "the finished link is forgotten");
    c.pool(1).shutdown(now, Duration::from_secs(1));
    assert!(c.pool(1).is_finished());
}

#[test]
fn a_link_declared_dead_goes_at_once_without_writing_its_backlog() {
    let mut c = cluster(2);
    c.call(1, 2, "echo", 1);
    c.settle();
    c.take(1);
    let link = c.pool(1).stats().peers[0].link.unwrap();
    // A call goes out, its bytes still waiting for a socket that takes nothing (the peer
    // stopped reading), and nothing comes back for the heartbeat's timeout.
    let now = c.now();
    let params = to_raw_value(&[2]).unwrap();
    let call = c
        .pool(1)
        .call(now, NodeId(2), "echo", Some(&params), None)
        .unwrap();
    assert!(c.pool(1).pending_transmit(link) > 0);
    c.pool(1).handle_timeout(now + Duration::from_secs(5));
    let events: Vec<_> = std::iter::from_fn(|| c.pool(1).poll_event()).collect();
    assert!(matches!(
        outcomes(&events).as_slice(),
        [(id, Err(EndReason::ConnectionLost { .. }))] if *id == call
    ));
    assert_eq!(c.pool(1).stats().peers[0].last_error, Some(Fault::Silent));
    // Dead is dead: the backlog is not written (the peer would take a link we gave up for
    // a live one while it trickles in), and the transport can go now.
    assert!(c.pool(1).is_link_finished(link));
    assert_eq!(c.pool(1).pending_transmit(link), 0);
    assert_eq!(c.pool(1).stats().links, 0);
}

#[test]
fn a_held_upgrade_waits_for_the_owner_who_may_refuse_answer_or_let_the_pool_decide() {
    let mut c = Cluster::new(2, |node| Config {
        hold_upgrades: true,
        ..Config::new(node)
    });
    let now = c.now();
    let upgrade = |id: u64| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             tether-node-id: {id}\r\n\r\n"
        )
    };
    let written = |pool: &mut tether_core::pool::Pool, link| {
        let mut out = Vec::new();
        while let Some(bytes) = pool.poll_transmit(link) {
            out.extend_from_slice(&bytes);
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let answers = [
        (
            Admission::Reject(401),
            "HTTP/1.1 401 Unauthorized\r\n",
            None,
        ),
        (
            Admission::Answer(HttpResponse::new(503).with_header("Retry-After", "1")),
            "HTTP/1.1 503 Service Unavailable\r\n",
            None,
        ),
        (
            Admission::Accept,
            "HTTP/1.1 101 Switching Protocols\r\n",
            Some(NodeId(7)),
        ),
    ];
    for (admission, status_line, node) in answers {
        let pool = c.pool(1);
        let link = pool.accept(now).unwrap();
        pool.handle_input(now, link, upgrade(7).as_bytes());
        // Nothing is decided, nor written, before the owner answers.
        let held = std::iter::from_fn(|| pool.poll_event()).find_map(|e| match e {
            Event::Upgrade { link: l, request } if l == link => Some(request),
            _ => None,
        });
        assert_eq!(held.unwrap().header("tether-node-id"), Some(&b"7"[..]));
        assert_eq!(written(pool, link), "");
        assert_eq!(pool.link_node(link), None);
        pool.admit(now, link, admission.clone());
        let out = written(pool, link);
        assert!(out.starts_with(status_line), "{admission:?}: {out}");
        assert_eq!(pool.link_node(link), node);
        // A second answer is ignored.
        pool.admit(now, link, Admission::Reject(403));
        assert_eq!(written(pool, link), "");
        pool.release(now, link);
    }
}
