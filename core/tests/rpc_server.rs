//! The serving side: bad input answered as the spec says, batches, notifications, and the
//! application deciding which methods exist.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod common;

use common::RpcPair;
use serde_json::json;
use serde_json::value::to_raw_value;
use serde_json::Value;
use tether_core::frame::{CloseCode, OpCode};
use tether_core::rpc::{self, ErrorObject, Event, Id, PeerError};
use tether_core::ws::{self, State};

fn pair() -> RpcPair {
    RpcPair::open(rpc::Config::default(), rpc::Config::default())
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The test's application: knows `add`, answers anything else -32601.
fn serve(pair: &mut RpcPair) {
    for event in pair.take_server_events() {
        let Event::Request {
            reply,
            method,
            params,
        } = event
        else {
            continue;
        };
        if method == "add" {
            let nums: Vec<i64> = serde_json::from_str(params.unwrap().get()).unwrap();
            let sum = to_raw_value(&nums.iter().sum::<i64>()).unwrap();
            pair.server.respond(pair.now, reply, Ok(&sum)).unwrap();
        } else {
            let error = ErrorObject::method_not_found();
            pair.server.respond(pair.now, reply, Err(&error)).unwrap();
        }
    }
}

#[test]
fn malformed_json_is_answered_parse_error_and_the_connection_survives() {
    let mut pair = pair();
    pair.text_to_server(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1"#);
    assert_eq!(
        parse(&pair.take_server_texts()[0]),
        json!({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null})
    );
    assert!(matches!(
        pair.take_server_events().as_slice(),
        [Event::Invalid(PeerError::NotJson)]
    ));
    assert_eq!(pair.server.stats().invalid_messages, 1);
    pair.text_to_server(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#);
    serve(&mut pair);
    assert_eq!(
        parse(&pair.take_server_texts()[0]),
        json!({"jsonrpc":"2.0","result":3,"id":1})
    );
    assert_eq!(pair.server.state(), State::Open);
}

#[test]
fn invalid_requests_are_answered_with_their_id_when_readable() {
    let mut pair = pair();
    let cases = [
        (
            r#"{"jsonrpc":"2.0","method":1,"params":"bar","id":"x"}"#,
            json!("x"),
        ),
        (r#"{"jsonrpc":"1.0","method":"add","id":5}"#, json!(5)),
        (r#"{"jsonrpc":"2.0","method":"add","id":[1]}"#, Value::Null),
        ("42", Value::Null),
        ("[]", Value::Null),
    ];
    for (text, id) in cases {
        pair.text_to_server(text);
        let texts = pair.take_server_texts();
        assert_eq!(texts.len(), 1, "{text}");
        let answer = parse(&texts[0]);
        assert_eq!(answer["error"]["code"], json!(-32600), "{text}");
        assert_eq!(answer["id"], id, "{text}");
        assert!(matches!(
            pair.take_server_events().as_slice(),
            [Event::Invalid(PeerError::InvalidRequest(_))]
        ));
    }
    assert_eq!(pair.server.stats().invalid_messages, 5);
    assert_eq!(pair.server.state(), State::Open);
}

#[test]
fn unknown_method_is_answered_by_the_application() {
    let mut pair = pair();
    let id = pair.client.call(pair.now, "nope", None, None).unwrap();
    pair.drive();
    serve(&mut pair);
    pair.drive();
    let events = pair.take_client_events();
    let [Event::Response {
        id: got,
        result: Err(error),
    }] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(*got, id);
    assert_eq!(error.code, ErrorObject::METHOD_NOT_FOUND);
}

#[test]
fn a_batch_is_answered_as_one_array_once_every_request_is_answered() {
    let mut pair = pair();
    pair.text_to_server(
        r#"[
        {"jsonrpc":"2.0","method":"add","params":[1,2],"id":"a"},
        {"jsonrpc":"2.0","method":"log","params":["x"]},
        {"foo":"boo"},
        {"jsonrpc":"2.0","method":"missing","id":"c"},
        {"jsonrpc":"2.0","method":"add","params":[10,20],"id":"d"}
    ]"#,
    );
    assert!(
        pair.take_server_texts().is_empty(),
        "nothing until every answer is in"
    );
    let mut events = pair.take_server_events();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(matches!(&events[1], Event::Notification { method, .. } if method == "log"));
    assert!(matches!(
        &events[2],
        Event::Invalid(PeerError::InvalidRequest(_))
    ));
    // Answer in reverse order; the array keeps the order of the batch.
    let replies: Vec<_> = events
        .drain(..)
        .filter_map(|e| match e {
            Event::Request { reply, .. } => Some(reply),
            _ => None,
        })
        .collect();
    assert!(replies.iter().all(|r| r.in_batch()));
    assert_eq!(replies[1].id(), &Id::String("c".into()));
    for reply in replies.into_iter().rev() {
        let answer = to_raw_value(&reply.id().to_string()).unwrap();
        pair.server.respond(pair.now, reply, Ok(&answer)).unwrap();
    }
    let texts = pair.take_server_texts();
    assert_eq!(texts.len(), 1);
    let answer = parse(&texts[0]);
    let items = answer.as_array().unwrap();
    assert_eq!(items.len(), 4, "the notification gets no answer");
    assert_eq!(items[0]["id"], json!("a"));
    assert_eq!(items[1]["error"]["code"], json!(-32600));
    assert_eq!(items[1]["id"], Value::Null);
    assert_eq!(items[2]["id"], json!("c"));
    assert_eq!(items[3]["id"], json!("d"));
}

#[test]
fn batches_of_notifications_or_of_invalid_entries() {
    let mut pair = pair();
    pair.text_to_server(r#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]"#);
    assert!(
        pair.take_server_texts().is_empty(),
        "no answer to notifications"
    );
    assert_eq!(pair.take_server_events().len(), 2);

    pair.text_to_server("[1,2]");
    let texts = pair.take_server_texts();
    let answer = parse(&texts[0]);
    assert_eq!(answer.as_array().unwrap().len(), 2);
    assert!(answer
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["error"]["code"] == json!(-32600)));
}

#[test]
fn a_batch_over_the_limit_is_refused_whole() {
    let config = rpc::Config {
        max_batch_len: 2,
        ..Default::default()
    };
    let mut pair = RpcPair::open(rpc::Config::default(), config);
    let one = r#"{"jsonrpc":"2.0","method":"a","id":1}"#;
    pair.text_to_server(&format!("[{one},{one},{one}]"));
    let answer = parse(&pair.take_server_texts()[0]);
    assert_eq!(answer["error"]["code"], json!(-32600));
    assert_eq!(answer["id"], Value::Null);
    assert!(!pair
        .take_server_events()
        .iter()
        .any(|e| matches!(e, Event::Request { .. })));
}

#[test]
fn binary_messages_are_dropped_and_counted() {
    let mut pair = pair();
    pair.frame_to_server(OpCode::Binary, b"\x00\x01");
    assert!(pair.take_server_texts().is_empty());
    assert!(matches!(
        pair.take_server_events().as_slice(),
        [Event::Invalid(PeerError::Binary)]
    ));
    assert_eq!(pair.server.stats().binary_messages, 1);
    assert_eq!(pair.server.state(), State::Open);
}

#[test]
fn answers_with_unknown_or_foreign_ids_are_dropped_and_counted() {
    let mut pair = pair();
    pair.text_to_client(
        r#"{"jsonrpc":"2.0","result":1,"id":"7d0f6a9e-1111-4222-8333-444455556666"}"#,
    );
    pair.text_to_client(r#"{"jsonrpc":"2.0","result":1,"id":7}"#);
    pair.text_to_client(
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#,
    );
    pair.text_to_client(r#"{"jsonrpc":"2.0","result":1}"#);
    let stats = pair.client.stats();
    assert_eq!((stats.unknown_responses, stats.invalid_messages), (3, 1));
    let events = pair.take_client_events();
    assert!(matches!(
        events.as_slice(),
        [Event::Invalid(PeerError::InvalidResponse(_))]
    ));
    assert_eq!(
        pair.take_server_events().len(),
        0,
        "responses are never answered"
    );
}

#[test]
fn a_message_over_the_size_limit_closes_with_1009() {
    let ws_config = ws::Config {
        max_message_size: 64,
        ..Default::default()
    };
    let mut pair = RpcPair::new(ws_config, rpc::Config::default(), rpc::Config::default());
    pair.drive();
    let id = pair
        .client
        .call(
            pair.now,
            "big",
            Some(&to_raw_value(&["x".repeat(100)]).unwrap()),
            None,
        )
        .unwrap();
    pair.drive();
    let closed = pair.take_server_events().into_iter().find_map(|e| match e {
        Event::Closed(info) => Some(info),
        _ => None,
    });
    assert_eq!(closed.unwrap().code, CloseCode::MESSAGE_TOO_BIG);
    let events = pair.take_client_events();
    let lost = events
        .iter()
        .filter(|e| matches!(e, Event::Ended { id: got, reason: rpc::EndReason::ConnectionLost { sent: true } } if *got == id))
        .count();
    assert_eq!(lost, 1);
}
