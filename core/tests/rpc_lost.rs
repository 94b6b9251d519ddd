//! A connection that ends takes every pending call with it, each ending exactly once.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::RpcPair;
use tether_core::frame::CloseCode;
use tether_core::rpc::{self, EndReason, Event, Refused, RequestId};

/// Ids of calls that ended as connection lost with `sent`, checking none ended twice.
fn lost(events: &[Event], sent: bool) -> BTreeSet<RequestId> {
    let mut ids = BTreeSet::new();
    for event in events {
        if let Event::Ended { id, reason } = event {
            assert_eq!(*reason, EndReason::ConnectionLost { sent });
            assert!(ids.insert(*id), "{id} ended twice");
        }
    }
    ids
}

#[test]
fn peer_close_ends_every_pending_call_once_then_closed() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let ids: BTreeSet<_> = (0..50)
        .map(|_| pair.client.call(pair.now, "m", None, None).unwrap())
        .collect();
    pair.drive();
    pair.server
        .close(pair.now, CloseCode::GOING_AWAY, "bye")
        .unwrap();
    pair.drive();
    let events = pair.take_client_events();
    assert_eq!(lost(&events, true), ids);
    assert!(
        matches!(events.last(), Some(Event::Closed(_))),
        "Closed comes last"
    );
    assert_eq!(pair.client.stats().in_flight, 0);
    // Nothing more ever ends: not at the old deadlines either.
    pair.advance(Duration::from_secs(60));
    assert!(pair.take_client_events().is_empty());
    assert_eq!(
        pair.client.call(pair.now, "m", None, None),
        Err(Refused::Closed)
    );
}

#[test]
fn eof_mid_call_ends_the_call_as_sent() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let id = pair.client.call(pair.now, "m", None, None).unwrap();
    pair.drive();
    pair.client.handle_eof(pair.now);
    let mut events = Vec::new();
    while let Some(event) = pair.client.poll_event() {
        events.push(event);
    }
    assert_eq!(lost(&events, true), BTreeSet::from([id]));
}

#[test]
fn calls_queued_before_open_end_unsent_when_it_never_opens() {
    let mut pair = RpcPair::new(
        Default::default(),
        rpc::Config::default(),
        rpc::Config::default(),
    );
    let a = pair.client.call(pair.now, "m", None, None).unwrap();
    let b = pair.client.call(pair.now, "m", None, None).unwrap();
    pair.client.close(pair.now, CloseCode::NORMAL, "").unwrap();
    let mut events = Vec::new();
    while let Some(event) = pair.client.poll_event() {
        events.push(event);
    }
    assert_eq!(lost(&events, false), BTreeSet::from([a, b]));
}

#[test]
fn our_own_close_waits_for_answers_then_ends_the_rest() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let answered = pair.client.call(pair.now, "m", None, None).unwrap();
    let unanswered = pair.client.call(pair.now, "m", None, None).unwrap();
    pair.drive();
    let mut requests = pair.take_server_events().into_iter();
    let Some(Event::Request { reply, .. }) = requests.next() else {
        panic!("no request");
    };
    pair.client.close(pair.now, CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        pair.client.call(pair.now, "m", None, None),
        Err(Refused::Closing)
    );
    // The server answers before it reads our close: the answer still arrives.
    let one = serde_json::value::to_raw_value(&1).unwrap();
    pair.server.respond(pair.now, reply, Ok(&one)).unwrap();
    pair.drive();
    let events = pair.take_client_events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Response { id, .. } if *id == answered)));
    assert_eq!(lost(&events, true), BTreeSet::from([unanswered]));
}
