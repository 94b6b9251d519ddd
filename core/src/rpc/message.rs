//! The wire format: one JSON-RPC object or batch array per text message.
//!
//! Parsing borrows: params and results stay `&RawValue` slices of the received text until
//! an event takes them, so no JSON tree is ever built. Encoding writes the JSON by hand
//! because every piece is a string, an integer or raw JSON already checked by serde_json,
//! so it cannot fail and needs no intermediate value.

use std::fmt::{self, Write};

use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::{ErrorObject, Id, RequestId};

/// What one text message holds.
#[derive(Debug)]
pub(crate) enum Parsed<P> {
    /// A single object.
    One(Entry<P>),
    /// A non-empty batch array, entries in order.
    Batch(Vec<Entry<P>>),
    /// Not JSON at all: answered with `-32700` and id null.
    NotJson,
    /// JSON, but neither an object nor a non-empty array (or a batch over the limit):
    /// answered with `-32600` and id null.
    NotRpc(&'static str),
}

/// One object of a message.
#[derive(Debug)]
pub(crate) enum Entry<P> {
    /// A call that wants an answer.
    Request {
        id: Id,
        method: String,
        params: Option<P>,
    },
    /// A call that wants no answer.
    Notification { method: String, params: Option<P> },
    /// An answer to one of our calls; `id` is `None` when it is not one of our ids.
    Response {
        id: Option<RequestId>,
        result: Result<P, ErrorObject>,
    },
    /// Looks like a request but breaks the spec: answered with `-32600`.
    InvalidRequest { id: Id, why: &'static str },
    /// Looks like a response but breaks the spec: nobody to answer, dropped and counted.
    InvalidResponse { why: &'static str },
}

impl Parsed<&RawValue> {
    /// The same with params and results copied out of the text: the part of handling a
    /// message whose cost grows with its size, with the parse itself.
    pub(crate) fn into_owned(self) -> Parsed<Box<RawValue>> {
        match self {
            Parsed::One(entry) => Parsed::One(entry.into_owned()),
            Parsed::Batch(entries) => {
                Parsed::Batch(entries.into_iter().map(Entry::into_owned).collect())
            }
            Parsed::NotJson => Parsed::NotJson,
            Parsed::NotRpc(why) => Parsed::NotRpc(why),
        }
    }
}

impl Entry<&RawValue> {
    fn into_owned(self) -> Entry<Box<RawValue>> {
        match self {
            Entry::Request { id, method, params } => Entry::Request {
                id,
                method,
                params: params.map(ToOwned::to_owned),
            },
            Entry::Notification { method, params } => Entry::Notification {
                method,
                params: params.map(ToOwned::to_owned),
            },
            Entry::Response { id, result } => Entry::Response {
                id,
                result: result.map(ToOwned::to_owned),
            },
            Entry::InvalidRequest { id, why } => Entry::InvalidRequest { id, why },
            Entry::InvalidResponse { why } => Entry::InvalidResponse { why },
        }
    }
}

/// Every member we look at, kept raw so a wrong type is an invalid request rather than a
/// parse failure of the whole object (and so `null` stays distinct from absent).
#[derive(Deserialize)]
struct RawObject<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A member that is there, even as `null` (plain `Option` would read `null` as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Parses one text message; batches longer than `max_batch` are refused whole.
pub(crate) fn parse(text: &str, max_batch: usize) -> Parsed<&RawValue> {
    // The common message, one valid object, is read in one pass: a `RawObject` parses
    // only from valid JSON. Anything else takes the general path below, which checks
    // the JSON first, so every message is classified as before.
    if text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        if let Ok(obj) = serde_json::from_str::<RawObject>(text) {
            return Parsed::One(classify(&obj));
        }
    }
    let Ok(raw) = serde_json::from_str::<&RawValue>(text) else {
        return Parsed::NotJson;
    };
    match raw.get().as_bytes().first() {
        Some(b'{') => Parsed::One(entry(raw)),
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            match Bounded(max_batch).deserialize(&mut de) {
                Ok(Some(items)) if items.is_empty() => Parsed::NotRpc("empty batch"),
                Ok(Some(items)) => Parsed::Batch(items.into_iter().map(entry).collect()),
                Ok(None) => Parsed::NotRpc("batch too long"),
                Err(_) => Parsed::NotRpc("invalid batch"),
            }
        }
        _ => Parsed::NotRpc("not an object or array"),
    }
}

/// Reads the entries of a batch array, at most `.0` of them: `None` for a longer batch,
/// found at the first entry past the bound. Collecting the whole array first would let a
/// peer make us hold 16 bytes per entry of a message that is only `[0,0,0,…]`: hundreds
/// of MiB for one 48 MiB message.
struct Bounded(usize);

impl<'de> DeserializeSeed<'de> for Bounded {
    type Value = Option<Vec<&'de RawValue>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Bounded {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a batch of at most {} entries", self.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if items.len() == self.0 {
                // The rest is skipped without being kept (serde_json wants the array read to
                // its end); the caller refuses the whole batch.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(None);
            }
            items.push(item);
        }
        Ok(Some(items))
    }
}

/// Classifies one JSON value of a message.
fn entry(raw: &RawValue) -> Entry<&RawValue> {
    // serde's derived struct reader takes an array of members in order too: without this
    // look, `["2.0","m",[],1]` in a batch would be read as a request.
    let is_object = raw
        .get()
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{');
    let Some(obj) = is_object
        .then(|| serde_json::from_str::<RawObject>(raw.get()).ok())
        .flatten()
    else {
        // Not an object, or a member given twice.
        return Entry::InvalidRequest {
            id: Id::Null,
            why: "not a request object",
        };
    };
    classify(&obj)
}

/// Classifies one parsed object: a request, a notification, a response, or invalid.
fn classify<'a>(obj: &RawObject<'a>) -> Entry<&'a RawValue> {
    let version_ok = obj.jsonrpc.is_some_and(|v| v.get() == "\"2.0\"");
    if let Some(method) = obj.method {
        return request(obj, method, version_ok);
    }
    if obj.result.is_some() || obj.error.is_some() {
        return response(obj, version_ok);
    }
    Entry::InvalidRequest {
        id: obj.id.and_then(Id::from_raw).unwrap_or(Id::Null),
        why: "neither a request nor a response",
    }
}

fn request<'a>(obj: &RawObject<'a>, method: &'a RawValue, version_ok: bool) -> Entry<&'a RawValue> {
    let id = match obj.id {
        None => None,
        Some(raw) => match Id::from_raw(raw) {
            Some(id) => Some(id),
            None => return invalid(Id::Null, "id must be a string, number or null"),
        },
    };
    let reply_id = || id.clone().unwrap_or(Id::Null);
    if !version_ok {
        return invalid(reply_id(), "jsonrpc must be \"2.0\"");
    }
    let Ok(method) = serde_json::from_str::<String>(method.get()) else {
        return invalid(reply_id(), "method must be a string");
    };
    // `"params": null` is read as no params. JSON-RPC 2.0 says to omit the member, but
    // jsonrpsee's client sends null for notifications without params, and refusing them
    // costs its users their connection (its client treats our id-less error as fatal).
    let params = obj.params.filter(|p| p.get() != "null");
    if let Some(params) = params {
        if !matches!(params.get().as_bytes().first(), Some(b'{' | b'[')) {
            return invalid(reply_id(), "params must be an object or array");
        }
    }
    match id {
        Some(id) => Entry::Request { id, method, params },
        None => Entry::Notification { method, params },
    }
}

fn invalid<P>(id: Id, why: &'static str) -> Entry<P> {
    Entry::InvalidRequest { id, why }
}

fn response<'a>(obj: &RawObject<'a>, version_ok: bool) -> Entry<&'a RawValue> {
    let bad = |why| Entry::InvalidResponse { why };
    if !version_ok {
        return bad("jsonrpc must be \"2.0\"");
    }
    let Some(raw_id) = obj.id else {
        return bad("a response needs an id");
    };
    let result = match (obj.result, obj.error) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => match serde_json::from_str::<ErrorObject>(error.get()) {
            Ok(error) => Err(error),
            Err(_) => return bad("invalid error object"),
        },
        _ => return bad("a response has either result or error"),
    };
    Entry::Response {
        id: our_id(raw_id),
        result,
    }
}

/// Our ids are plain UUID strings; anything else is some other party's id.
fn our_id(raw: &RawValue) -> Option<RequestId> {
    if let Ok(text) = serde_json::from_str::<&str>(raw.get()) {
        return RequestId::parse(text);
    }
    // The same string with escapes in it.
    serde_json::from_str::<String>(raw.get())
        .ok()
        .and_then(|text| RequestId::parse(&text))
}

/// A request (with an id) or a notification (without), as the channel writes it
/// (through [`Request`](super::Request)); params must be structured.
#[cfg(test)]
pub(crate) fn encode_request(
    id: Option<RequestId>,
    method: &str,
    params: Option<&RawValue>,
) -> String {
    super::Request::new(method, params)
        .map(|request| request.finish(id))
        .unwrap_or_default()
}

/// The length of what [`encode_request`] writes for a request with an id (`with_id`) or
/// a notification, without building it: what a queue of unsent requests counts.
pub(crate) fn encoded_request_len(with_id: bool, method: &str, params: Option<&RawValue>) -> usize {
    // {"jsonrpc":"2.0",  "id":"<36>",  "method":  }
    let envelope = 17 + if with_id { 44 } else { 0 } + 9 + 1;
    let params = params.map_or(0, |p| 10 + p.get().len());
    envelope + string_len(method) + params
}

/// The length of `s` as [`push_string`] writes it, quotes included.
fn string_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// A response to the request that carried `id`.
///
/// Its buffer is sized to the byte, so the WebSocket layer takes it as a `Bytes` without
/// allocating again (a `Vec` with spare room would need a shared header).
pub(crate) fn encode_response(id: &Id, result: Result<&RawValue, &ErrorObject>) -> String {
    // `{"jsonrpc":"2.0",` (17), then `"result":` (9) and the value, or `"error":{"code":`
    // (16), the code, `,"message":` (11), the message, `,"data":` (8) and the data if
    // any, and `}`; then `,"id":` (6), the id and `}`.
    let body = match result {
        Ok(value) => 9 + value.get().len(),
        Err(error) => {
            16 + i64_len(error.code)
                + 11
                + string_len(&error.message)
                + error.data.as_ref().map_or(0, |d| 8 + d.get().len())
                + 1
        }
    };
    let id_len = match id {
        Id::Null => 4,
        Id::Number(n) => number_len(n),
        Id::String(s) => string_len(s),
    };
    let mut out = String::with_capacity(17 + body + 6 + id_len + 1);
    out.push_str("{\"jsonrpc\":\"2.0\",");
    match result {
        Ok(value) => {
            out.push_str("\"result\":");
            out.push_str(value.get());
        }
        Err(error) => {
            out.push_str("\"error\":{\"code\":");
            // Writing to a `String` cannot fail.
            let _ = write!(out, "{}", error.code);
            out.push_str(",\"message\":");
            push_string(&mut out, &error.message);
            if let Some(data) = &error.data {
                out.push_str(",\"data\":");
                out.push_str(data.get());
            }
            out.push('}');
        }
    }
    out.push_str(",\"id\":");
    match id {
        Id::Null => out.push_str("null"),
        Id::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Id::String(s) => push_string(&mut out, s),
    }
    out.push('}');
    out
}

/// The length of `n` in decimal.
fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// The length of `n` in decimal, sign included.
fn i64_len(n: i64) -> usize {
    usize::from(n < 0) + decimal_len(n.unsigned_abs())
}

/// The length of `n` as serde_json writes it.
fn number_len(n: &serde_json::Number) -> usize {
    match (n.as_u64(), n.as_i64()) {
        (Some(n), _) => decimal_len(n),
        (None, Some(n)) => i64_len(n),
        // A float id: rare enough to be measured by writing it.
        (None, None) => n.to_string().len(),
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn encoded_request_len_is_the_length_encode_request_writes() {
        let mut rng = crate::rng::Rng::from_seed([3; 32]);
        let params = raw(r#"{"a":[1,2,"x"]}"#);
        for method in ["", "sum", "a\"b\\c\nd\re\tf\u{1}g", "héllo ✓"] {
            for params in [None, Some(params.as_ref())] {
                let id = crate::rpc::RequestId::generate(&mut rng);
                let call = encode_request(Some(id), method, params);
                assert_eq!(
                    encoded_request_len(true, method, params),
                    call.len(),
                    "{call}"
                );
                let note = encode_request(None, method, params);
                assert_eq!(
                    encoded_request_len(false, method, params),
                    note.len(),
                    "{note}"
                );
            }
        }
    }

    fn one(text: &str) -> Entry<&RawValue> {
        match parse(text, 16) {
            Parsed::One(entry) => entry,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn requests_and_notifications_borrow_their_params() {
        let text = r#"{"jsonrpc":"2.0","method":"raft/vote","params":{"term":3},"id":7}"#;
        let Entry::Request { id, method, params } = one(text) else {
            panic!("not a request");
        };
        assert_eq!(id, Id::Number(7.into()));
        assert_eq!(method, "raft/vote");
        let params = params.unwrap().get();
        assert_eq!(params, r#"{"term":3}"#);
        // Borrowed: the slice lies inside the message text.
        let range = text.as_ptr() as usize..text.as_ptr() as usize + text.len();
        assert!(range.contains(&(params.as_ptr() as usize)));

        let Entry::Notification { method, params } = one(r#"{"jsonrpc":"2.0","method":"tick"}"#)
        else {
            panic!("not a notification");
        };
        assert_eq!((method.as_str(), params.is_none()), ("tick", true));
        // jsonrpsee sends `"params": null` for notifications without params.
        let text = r#"{"jsonrpc":"2.0","method":"tick","params" :  null }"#;
        let Entry::Notification { params, .. } = one(text) else {
            panic!("a null params notification is a notification");
        };
        assert!(params.is_none());
        // A null id is a request (answered with id null), not a notification.
        let entry = one(r#"{"jsonrpc":"2.0","method":"m","id":null}"#);
        assert!(matches!(entry, Entry::Request { id: Id::Null, .. }));
    }

    #[test]
    fn responses_match_only_our_ids() {
        let mut rng = crate::rng::Rng::from_seed([1; 32]);
        let ours = RequestId::generate(&mut rng);
        let text = format!(r#"{{"jsonrpc":"2.0","result":null,"id":"{ours}"}}"#);
        let Entry::Response { id, result } = one(&text) else {
            panic!("not a response");
        };
        assert_eq!(id, Some(ours));
        assert_eq!(result.unwrap().get(), "null");

        let text =
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#;
        let Entry::Response { id, result } = one(text) else {
            panic!("not a response");
        };
        assert_eq!(id, None);
        assert_eq!(result.unwrap_err(), ErrorObject::method_not_found());
    }

    #[test]
    fn malformed_input_is_classified_never_panics() {
        for text in ["", "{", "[1,", "nul", "{\"a\":}", "\u{0}", "]"] {
            assert!(matches!(parse(text, 16), Parsed::NotJson), "{text:?}");
        }
        for text in ["1", "\"x\"", "null", "[]", "true"] {
            assert!(matches!(parse(text, 16), Parsed::NotRpc(_)), "{text:?}");
        }
        let invalid_requests = [
            (r#"{"method":"m","id":1}"#, Id::Number(1.into())),
            (
                r#"{"jsonrpc":"1.0","method":"m","id":"a"}"#,
                Id::String("a".into()),
            ),
            (
                r#"{"jsonrpc":"2.0","method":5,"id":2}"#,
                Id::Number(2.into()),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"m","params":3,"id":3}"#,
                Id::Number(3.into()),
            ),
            (r#"{"jsonrpc":"2.0","method":"m","id":{}}"#, Id::Null),
            (r#"{"jsonrpc":"2.0","id":4}"#, Id::Number(4.into())),
            (
                r#"{"jsonrpc":"2.0","method":"m","method":"n","id":1}"#,
                Id::Null,
            ),
        ];
        for (text, want) in invalid_requests {
            match one(text) {
                Entry::InvalidRequest { id, .. } => assert_eq!(id, want, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        for text in [
            r#"{"result":1,"id":"x"}"#,
            r#"{"jsonrpc":"2.0","result":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":""},"id":1}"#,
            r#"{"jsonrpc":"2.0","error":{"code":"x"},"id":1}"#,
        ] {
            assert!(matches!(one(text), Entry::InvalidResponse { .. }), "{text}");
        }
    }

    #[test]
    fn a_batch_past_the_limit_is_refused_however_long_it_is() {
        let at_limit = format!("[{}]", ["0"; 4].join(","));
        assert!(matches!(parse(&at_limit, 4), Parsed::Batch(items) if items.len() == 4));
        let past = format!("[{}]", ["0"; 5].join(","));
        assert!(matches!(parse(&past, 4), Parsed::NotRpc("batch too long")));
        // A million entries: refused the same way, holding at most 4 of them.
        let huge = format!("[{}]", vec!["0"; 1_000_000].join(","));
        assert!(matches!(parse(&huge, 4), Parsed::NotRpc("batch too long")));
        // Broken JSON past the limit is still not JSON.
        assert!(matches!(parse("[0,0,0,0,0,", 4), Parsed::NotJson));
    }

    #[test]
    fn batches_keep_order_and_have_a_limit() {
        let text = r#"[{"jsonrpc":"2.0","method":"a","id":1}, 5, {"jsonrpc":"2.0","method":"b"}]"#;
        let Parsed::Batch(entries) = parse(text, 16) else {
            panic!("not a batch");
        };
        assert_eq!(entries.len(), 3);
        assert!(matches!(&entries[0], Entry::Request { method, .. } if method == "a"));
        assert!(matches!(
            &entries[1],
            Entry::InvalidRequest { id: Id::Null, .. }
        ));
        assert!(matches!(&entries[2], Entry::Notification { method, .. } if method == "b"));
        assert!(matches!(parse(text, 2), Parsed::NotRpc("batch too long")));
    }

    /// An array is not a request object, even one whose elements would fill a request's
    /// members in order.
    #[test]
    fn an_array_in_a_batch_is_an_invalid_request() {
        let text = r#"[["2.0","echo",[1],7], ["2.0","echo"]]"#;
        let Parsed::Batch(entries) = parse(text, 16) else {
            panic!("not a batch");
        };
        assert_eq!(entries.len(), 2);
        for entry in &entries {
            assert!(
                matches!(entry, Entry::InvalidRequest { id: Id::Null, .. }),
                "{entry:?}"
            );
        }
    }

    /// Answers come out exactly as long as their buffer, so handing one to the WebSocket
    /// layer as `Bytes` allocates nothing more.
    #[test]
    fn answers_fill_their_buffer_exactly() {
        let ids = [
            Id::Null,
            Id::Number(0.into()),
            Id::Number(9.into()),
            Id::Number(10.into()),
            Id::Number(u64::MAX.into()),
            Id::Number(i64::MIN.into()),
            Id::Number((-1).into()),
            Id::Number(serde_json::Number::from_f64(1.5).unwrap()),
            Id::String(String::new()),
            Id::String("a\"b\\c\u{1}é✓".into()),
        ];
        let mut with_data = ErrorObject::new(i64::MIN, "bad \"thing\"\n");
        with_data.data = Some(raw(r#"{"x":[1,2]}"#));
        let errors = [
            ErrorObject::method_not_found(),
            ErrorObject::new(0, ""),
            ErrorObject::new(i64::MAX, "\u{7}"),
            with_data,
        ];
        let value = raw(r#"{"term":7,"candidate":"node-3"}"#);
        for id in &ids {
            let results = std::iter::once(Ok(value.as_ref())).chain(errors.iter().map(Err));
            for result in results {
                let text = encode_response(id, result);
                assert_eq!(text.len(), text.capacity(), "{text}");
                serde_json::from_str::<serde_json::Value>(&text).unwrap();
            }
        }
    }

    #[test]
    fn encoded_messages_parse_back() {
        let params = raw(r#"[1,"two"]"#);
        let text = encode_request(None, "say \"hi\"\n\u{1}", Some(&params));
        assert_eq!(
            text,
            r#"{"jsonrpc":"2.0","method":"say \"hi\"\n\u0001","params":[1,"two"]}"#
        );
        let Entry::Notification { method, params } = one(&text) else {
            panic!("{text}");
        };
        assert_eq!(
            (method.as_str(), params.unwrap().get()),
            ("say \"hi\"\n\u{1}", r#"[1,"two"]"#)
        );

        let ok = encode_response(&Id::String("q".into()), Ok(&raw("{\"a\":1}")));
        assert_eq!(ok, r#"{"jsonrpc":"2.0","result":{"a":1},"id":"q"}"#);
        let mut error = ErrorObject::new(-32000, "busy");
        error.data = Some(raw("[1]"));
        let err = encode_response(&Id::Null, Err(&error));
        assert_eq!(
            err,
            r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"busy","data":[1]},"id":null}"#
        );
        let Entry::Response {
            id: None,
            result: Err(back),
        } = one(&err)
        else {
            panic!("{err}");
        };
        assert_eq!(back, error);
    }
}
