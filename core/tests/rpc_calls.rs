//! Calls answered out of order: every caller gets its own answer, exactly once.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use std::collections::BTreeMap;

use common::RpcPair;
use serde_json::value::{to_raw_value, RawValue};
use tether_core::rpc::{self, Event, ReplyTo, RequestId};

/// A tiny LCG: a fixed, replayable shuffle without OS randomness.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Takes every request the server saw, with its params.
fn requests(pair: &mut RpcPair) -> Vec<(ReplyTo, String, Option<Box<RawValue>>)> {
    pair.take_server_events()
        .into_iter()
        .map(|event| match event {
            Event::Request {
                reply,
                method,
                params,
            } => (reply, method, params),
            other => panic!("server saw {other:?}"),
        })
        .collect()
}

/// Calls `count` times, the server echoing params back in LCG order; checks each caller.
fn echo_shuffled(pair: &mut RpcPair, count: usize, seed: u64) {
    let mut expected = BTreeMap::new();
    for i in 0..count {
        let params = to_raw_value(&[i]).unwrap();
        let id = pair
            .client
            .call(pair.now, "echo", Some(&params), None)
            .unwrap();
        assert!(
            expected.insert(id, params.get().to_owned()).is_none(),
            "id reused"
        );
    }
    assert_eq!(pair.client.stats().in_flight, count);
    pair.drive();
    let mut incoming = requests(pair);
    assert_eq!(incoming.len(), count);
    Lcg(seed).shuffle(&mut incoming);
    for (reply, method, params) in incoming {
        assert_eq!(method, "echo");
        let params = params.expect("params sent");
        pair.server.respond(pair.now, reply, Ok(&params)).unwrap();
    }
    pair.drive();
    let mut answered = BTreeMap::new();
    for event in pair.take_client_events() {
        let Event::Response { id, result } = event else {
            panic!("client saw {event:?}");
        };
        let result = result.expect("echo succeeds").get().to_owned();
        assert!(answered.insert(id, result).is_none(), "{id} answered twice");
    }
    assert_eq!(answered, expected, "every caller gets its own answer");
    assert_eq!(pair.client.stats().in_flight, 0);
    assert_eq!(pair.client.stats().unknown_responses, 0);
}

#[test]
fn ten_thousand_calls_answered_in_shuffled_order() {
    let config = rpc::Config {
        max_in_flight: 20_000,
        ..Default::default()
    };
    let mut pair = RpcPair::open(config, rpc::Config::default());
    echo_shuffled(&mut pair, 10_000, 42);
}

#[test]
fn calls_answered_in_reverse_order() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let ids: Vec<RequestId> = (0..5)
        .map(|i| {
            let params = to_raw_value(&[i]).unwrap();
            pair.client
                .call(pair.now, "echo", Some(&params), None)
                .unwrap()
        })
        .collect();
    pair.drive();
    let mut incoming = requests(&mut pair);
    incoming.reverse();
    for (reply, _, params) in incoming {
        pair.server
            .respond(pair.now, reply, Ok(&params.unwrap()))
            .unwrap();
    }
    pair.drive();
    let order: Vec<RequestId> = pair
        .take_client_events()
        .into_iter()
        .map(|event| match event {
            Event::Response { id, .. } => id,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(order, reversed);
}

#[test]
fn input_split_at_every_small_boundary_changes_nothing() {
    for split in [1, 2, 3, 7, 64, 1000] {
        let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
        pair.split = split;
        echo_shuffled(&mut pair, 20, split as u64);
    }
}

#[test]
fn the_same_seed_mints_the_same_ids_and_bytes() {
    let run = || {
        let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
        let id = pair.client.call(pair.now, "m", None, None).unwrap();
        let mut bytes = Vec::new();
        while let Some(b) = pair.client.poll_transmit() {
            bytes.extend_from_slice(&b);
        }
        (id, bytes)
    };
    let (a, bytes_a) = run();
    let (b, bytes_b) = run();
    assert_eq!(a, b);
    assert_eq!(bytes_a, bytes_b);
    assert!(!bytes_a.is_empty());
}

#[test]
fn notifications_carry_no_id_and_get_no_answer() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let params = to_raw_value(&serde_json::json!({"term": 3})).unwrap();
    pair.client
        .notify(pair.now, "raft/heartbeat", Some(&params))
        .unwrap();
    pair.drive();
    let events = pair.take_server_events();
    assert_eq!(events.len(), 1);
    let Event::Notification { method, params } = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(method, "raft/heartbeat");
    assert_eq!(params.as_ref().unwrap().get(), r#"{"term":3}"#);
    assert!(pair.take_client_events().is_empty());
    assert_eq!(pair.client.stats().in_flight, 0);
}

#[test]
fn params_must_be_an_object_or_array() {
    let mut pair = RpcPair::open(rpc::Config::default(), rpc::Config::default());
    let scalar = to_raw_value(&5).unwrap();
    assert_eq!(
        pair.client.call(pair.now, "m", Some(&scalar), None),
        Err(rpc::Refused::InvalidParams)
    );
    assert_eq!(
        pair.client.notify(pair.now, "m", Some(&scalar)),
        Err(rpc::Refused::InvalidParams)
    );
    assert_eq!(pair.client.stats().in_flight, 0);
}

#[test]
fn calls_made_before_open_are_written_when_it_opens() {
    let mut pair = RpcPair::new(
        Default::default(),
        rpc::Config::default(),
        rpc::Config::default(),
    );
    let id = pair.client.call(pair.now, "early", None, None).unwrap();
    pair.client.notify(pair.now, "early/note", None).unwrap();
    pair.drive();
    let events = pair.take_server_events();
    let names: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Request { method, .. } | Event::Notification { method, .. } => {
                Some(method.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(names, ["early", "early/note"]);
    let Some(Event::Request { reply, .. }) = events
        .into_iter()
        .find(|e| matches!(e, Event::Request { .. }))
    else {
        unreachable!()
    };
    pair.server
        .respond(pair.now, reply, Ok(&to_raw_value("ok").unwrap()))
        .unwrap();
    pair.drive();
    let answered = pair
        .take_client_events()
        .into_iter()
        .any(|e| matches!(e, Event::Response { id: got, result: Ok(r) } if got == id && r.get() == "\"ok\""));
    assert!(answered);
}
