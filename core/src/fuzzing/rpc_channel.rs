//! The `rpc_channel` target: a server [`Channel`] fed the fuzzer's messages, its replies
//! read back and checked against what was asked.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::BytesMut;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::frame::{encode_frame, FrameDecoder, FrameHeader, FramePart, OpCode};
use crate::handshake::{generate_key, ClientRequest};
use crate::rng::Rng;
use crate::rpc::{self, Channel, ErrorObject};
use crate::ws::Config;

/// Batches longer than this are refused whole.
const MAX_BATCH: usize = 16;

/// A server [`Channel`] past its handshake, fed one text message per 0xff-separated piece
/// of `data` (in pieces of 97 bytes); every request it surfaces is answered at once (with
/// `true`, or an error for odd-length methods). Checked:
/// - held input stays under the message limit plus a frame;
/// - every text message the channel writes is a valid JSON-RPC 2.0 response, or a
///   non-empty array of them: `"jsonrpc": "2.0"`, an `id` that is a string, number or
///   null, exactly one of `result` and `error`, an error with an integer `code` and a
///   string `message`, no other members;
/// - one reply per request: every request surfaced and answered (while the connection
///   was open) gets exactly one response with its id, and every response with a
///   non-null id answers a distinct input entry carrying that id that is not itself a
///   response (an object with `result` or `error` and no `method`);
/// - at most one reply message per message sent.
pub fn rpc_channel(origin: Instant, data: &[u8]) {
    let now = origin;
    let config = rpc::Config {
        max_in_flight: 64,
        max_batch_len: MAX_BATCH,
        ..rpc::Config::default()
    };
    let mut server = Channel::server(now, Config::default(), config, [3; 32]);
    let key = generate_key(&mut Rng::from_seed([4; 32]));
    let request = ClientRequest {
        host: "fuzz".into(),
        path: "/".into(),
        ..Default::default()
    };
    let mut head = BytesMut::new();
    if request.encode(&key, &mut head).is_err() {
        return;
    }
    server.handle_input(now, &head);
    let texts: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let mut input = BytesMut::new();
    for text in &texts {
        encode_frame(&mut input, true, OpCode::Text, Some([1, 2, 3, 4]), text);
    }
    let Ok(ok) = RawValue::from_string("true".to_owned()) else {
        return;
    };
    let mut surfaced: Vec<Value> = Vec::new();
    let mut output = BytesMut::new();
    for piece in input.chunks(97) {
        server.handle_input(now, piece);
        while let Some(event) = server.poll_event() {
            match event {
                rpc::Event::Upgrade(_) => {
                    let _ = server.accept(now, None, &[]);
                }
                rpc::Event::Request { reply, method, .. } => {
                    let id = json_id(&reply.id);
                    let not_found = ErrorObject::method_not_found();
                    let result = if method.len() % 2 == 0 {
                        Ok(&*ok)
                    } else {
                        Err(&not_found)
                    };
                    // A request read in the same input as a protocol error cannot be
                    // answered: the connection is failing. Only answers sent count.
                    if server.respond(now, reply, result).is_ok() {
                        surfaced.push(id);
                    }
                }
                _ => {}
            }
        }
        while let Some(bytes) = server.poll_transmit() {
            output.extend_from_slice(&bytes);
        }
        let held = server.connection().buffered_input();
        assert!(held <= server.connection().config().max_message_size + 14 + piece.len());
    }
    check_replies(&texts, &surfaced, output);
}

/// The id as the JSON it came in.
fn json_id(id: &rpc::Id) -> Value {
    match id {
        rpc::Id::Null => Value::Null,
        rpc::Id::Number(n) => Value::Number(n.clone()),
        rpc::Id::String(s) => Value::String(s.clone()),
    }
}

fn check_replies(texts: &[&[u8]], surfaced: &[Value], mut output: BytesMut) {
    // The upgrade response comes first.
    let Some(end) = output.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let _ = output.split_to(end + 4);
    let mut replies: Vec<Value> = Vec::new();
    let mut messages = 0;
    let mut decoder = FrameDecoder::new(false, u64::MAX, 0);
    let mut frame: Option<(FrameHeader, Vec<u8>)> = None;
    let mut text = Vec::new();
    while let Ok(Some(part)) = decoder.decode(&mut output) {
        match part {
            FramePart::Header(header) => frame = Some((header, Vec::new())),
            FramePart::Payload { data, last } => {
                let Some((header, payload)) = frame.as_mut() else {
                    panic!("payload without a header");
                };
                payload.extend_from_slice(&data);
                if !last {
                    continue;
                }
                match header.opcode {
                    OpCode::Text => text = std::mem::take(payload),
                    OpCode::Continuation => text.extend_from_slice(payload),
                    _ => continue,
                }
                if !header.fin {
                    continue;
                }
                let value: Value = match serde_json::from_slice(&text) {
                    Ok(value) => value,
                    Err(error) => panic!("a reply is not JSON ({error}): {text:?}"),
                };
                messages += 1;
                match value {
                    Value::Array(items) => {
                        assert!(!items.is_empty(), "an empty batch reply");
                        replies.extend(items);
                    }
                    one => replies.push(one),
                }
            }
        }
    }
    assert!(
        messages <= texts.len(),
        "{messages} replies to {} messages",
        texts.len()
    );
    for reply in &replies {
        check_response(reply);
    }
    // Ids answered, and ids the input asked with (objects with a method), counted.
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for reply in &replies {
        if !reply["id"].is_null() {
            *answered.entry(reply["id"].to_string()).or_default() += 1;
        }
    }
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for text in texts {
        let Ok(value) = serde_json::from_slice::<Value>(text) else {
            continue;
        };
        let entries = match value {
            Value::Array(items) if items.len() <= MAX_BATCH => items,
            Value::Array(_) => Vec::new(),
            one => vec![one],
        };
        for entry in entries {
            // A response (result or error, no method) gets no reply; anything else with
            // an id, valid or not, may be answered with it.
            let response = entry.get("method").is_none()
                && (entry.get("result").is_some() || entry.get("error").is_some());
            if let Some(id) = entry.get("id").filter(|_| !response) {
                *asked.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    for (id, n) in &answered {
        let m = asked.get(id).copied().unwrap_or(0);
        assert!(*n <= m, "{n} replies with id {id}, asked {m} times");
    }
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    for id in surfaced.iter().filter(|id| !id.is_null()) {
        *wanted.entry(id.to_string()).or_default() += 1;
    }
    for (id, n) in &wanted {
        let m = answered.get(id).copied().unwrap_or(0);
        assert!(m >= *n, "{n} requests with id {id} surfaced, {m} replies");
    }
}

/// One response object, as JSON-RPC 2.0 §5 has it.
fn check_response(reply: &Value) {
    let Some(object) = reply.as_object() else {
        panic!("a reply that is no object: {reply}");
    };
    assert_eq!(object.get("jsonrpc"), Some(&Value::from("2.0")), "{reply}");
    let id = object.get("id");
    assert!(
        matches!(id, Some(Value::Null | Value::Number(_) | Value::String(_))),
        "a reply's id: {reply}"
    );
    match (object.get("result"), object.get("error")) {
        (Some(_), None) => {}
        (None, Some(Value::Object(error))) => check_error(error, reply),
        _ => panic!("a reply needs exactly one of result and error: {reply}"),
    }
    let known = ["jsonrpc", "id", "result", "error"];
    assert!(
        object.keys().all(|k| known.contains(&k.as_str())),
        "unknown members in {reply}"
    );
}

fn check_error(error: &Map<String, Value>, reply: &Value) {
    assert!(
        error.get("code").is_some_and(|c| c.is_i64()),
        "an error code: {reply}"
    );
    assert!(
        error.get("message").is_some_and(Value::is_string),
        "an error message: {reply}"
    );
    assert!(
        error
            .keys()
            .all(|k| ["code", "message", "data"].contains(&k.as_str())),
        "unknown members in the error of {reply}"
    );
}
