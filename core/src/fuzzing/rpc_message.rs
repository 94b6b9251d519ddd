//! The `rpc_message` target: JSON-RPC messages parsed, written again and parsed back.

use serde_json::value::RawValue;

use crate::rng::Rng;
use crate::rpc::message::{encode_response, parse, Entry, Parsed};
use crate::rpc::{ErrorObject, Id, Request, RequestId};

/// Batches longer than this are refused whole, as a channel configured so would.
const MAX_BATCH: usize = 16;

/// `data` as the text of a message (when it is UTF-8): every entry parsed is written again
/// the way tether writes one (a notification as a notification; a request as our own call
/// with a fresh id, and answered with its params as the result; a response with its id and
/// result or error) and must parse back to the same entry: method, params and result as
/// the same raw JSON text, error objects equal, ids equal.
///
/// `data` is also read as a message to build: up to the first 0 byte a method name (and
/// an error message), after it params (when they are a JSON object or array) and, from
/// the first two bytes, an error code. The request, the notification, a result and an
/// error built from them parse back to the same.
pub fn rpc_message(data: &[u8]) {
    let mut rng = Rng::from_seed([5; 32]);
    if let Ok(text) = std::str::from_utf8(data) {
        let entries = match parse(text, MAX_BATCH) {
            Parsed::One(entry) => vec![entry],
            Parsed::Batch(entries) => entries,
            Parsed::NotJson | Parsed::NotRpc(_) => Vec::new(),
        };
        for entry in entries {
            entry_round_trip(&mut rng, entry);
        }
    }
    let (method, params) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let method = String::from_utf8_lossy(method);
    let params = std::str::from_utf8(params)
        .ok()
        .and_then(|p| serde_json::from_str::<&RawValue>(p).ok())
        .filter(|p| matches!(p.get().as_bytes().first(), Some(b'{' | b'[')));
    call_round_trip(&mut rng, &method, params);
    let code = match data {
        [a, b, ..] => i64::from(i16::from_be_bytes([*a, *b])),
        _ => -32000,
    };
    let error = ErrorObject {
        code,
        message: method.into_owned(),
        data: params.map(ToOwned::to_owned),
    };
    response_round_trip(&mut rng, Err(&error));
}

fn entry_round_trip(rng: &mut Rng, entry: Entry<&RawValue>) {
    match entry {
        Entry::Notification { method, params } | Entry::Request { method, params, .. } => {
            call_round_trip(rng, &method, params);
            if let Some(params) = params {
                response_round_trip(rng, Ok(params));
            }
        }
        Entry::Response { result, .. } => match result {
            Ok(value) => response_round_trip(rng, Ok(value)),
            Err(error) => response_round_trip(rng, Err(&error)),
        },
        Entry::InvalidRequest { .. } | Entry::InvalidResponse { .. } => {}
    }
}

/// A call of `method` with `params`, as a notification and as a request, parses back.
fn call_round_trip(rng: &mut Rng, method: &str, params: Option<&RawValue>) {
    let Ok(request) = Request::new(method, params) else {
        panic!("{method:?} with params {params:?} parsed, yet cannot be written");
    };
    let note = request.clone().finish(None);
    match parse(&note, MAX_BATCH) {
        Parsed::One(Entry::Notification {
            method: m,
            params: p,
        }) => {
            assert_eq!(m, method, "method changed in {note}");
            assert_eq!(raw(p), raw(params), "params changed in {note}");
        }
        other => panic!("{note} parses as {other:?}"),
    }
    let id = RequestId::generate(rng);
    let call = request.finish(Some(id));
    match parse(&call, MAX_BATCH) {
        Parsed::One(Entry::Request {
            id: i,
            method: m,
            params: p,
        }) => {
            assert_eq!(i, Id::String(id.to_string()), "id changed in {call}");
            assert_eq!(m, method, "method changed in {call}");
            assert_eq!(raw(p), raw(params), "params changed in {call}");
        }
        other => panic!("{call} parses as {other:?}"),
    }
}

/// A response to one of our calls with `result` parses back to its id and `result`; with
/// the id `null` (not ours), to no id.
fn response_round_trip(rng: &mut Rng, result: Result<&RawValue, &ErrorObject>) {
    let ours = RequestId::generate(rng);
    for (id, expect) in [(Id::String(ours.to_string()), Some(ours)), (Id::Null, None)] {
        let text = encode_response(&id, result);
        match parse(&text, MAX_BATCH) {
            Parsed::One(Entry::Response {
                id: back,
                result: r,
            }) => {
                assert_eq!(back, expect, "id changed in {text}");
                match (r, result) {
                    (Ok(value), Ok(sent)) => assert_eq!(value.get(), sent.get()),
                    (Err(error), Err(sent)) => assert_eq!(&error, sent, "error changed"),
                    (r, _) => panic!("{text} parses as {r:?}"),
                }
            }
            other => panic!("{text} parses as {other:?}"),
        }
    }
}

fn raw(value: Option<&RawValue>) -> Option<&str> {
    value.map(RawValue::get)
}
