//! A call or notification encoded ahead of time: a [`Request`].

use std::fmt::Write;

use serde_json::value::RawValue;

use super::{Refused, RequestId};

/// Room kept at the end of an encoded request for `,"id":"<uuid>"}`, so finishing it
/// never copies the text again.
const ID_ROOM: usize = 48;

/// A JSON-RPC request or notification, encoded but for its id.
///
/// Encoding copies the params, which takes time in proportion to their size; a
/// `Request` lets that copy happen where the caller likes (outside a lock that other
/// connections wait for, say), and [`Channel::call_request`](super::Channel::call_request)
/// only appends the id it picks. The id goes last on the wire
/// (`{"jsonrpc":"2.0","method":…,"params":…,"id":…}`): JSON objects have no order.
///
/// ```
/// use serde_json::value::to_raw_value;
/// use tether_core::rpc::Request;
///
/// let params = to_raw_value(&[1, 2])?;
/// let request = Request::new("add", Some(&params))?;
/// assert_eq!(request.len(), r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"00000000-0000-4000-8000-000000000000"}"#.len());
/// assert!(Request::new("add", Some(&to_raw_value(&7)?)).is_err(), "params must be structured");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `{"jsonrpc":"2.0","method":"…"` and `,"params":…` if any; not closed.
    text: String,
}

impl Request {
    /// Encodes a call of `method` with `params`, which must be a JSON object or array
    /// ([`Refused::InvalidParams`] otherwise).
    pub fn new(method: &str, params: Option<&RawValue>) -> Result<Request, Refused> {
        if !matches!(
            params.map(|p| p.get().as_bytes().first()),
            None | Some(Some(b'{' | b'['))
        ) {
            return Err(Refused::InvalidParams);
        }
        let params_len = params.map_or(0, |p| p.get().len() + 10);
        let mut text = String::with_capacity(32 + method.len() + params_len + ID_ROOM);
        text.push_str("{\"jsonrpc\":\"2.0\",\"method\":");
        super::message::push_string(&mut text, method);
        if let Some(params) = params {
            text.push_str(",\"params\":");
            text.push_str(params.get());
        }
        Ok(Request { text })
    }

    /// The size it will have on the wire as a call with an id (a notification is 44
    /// bytes shorter).
    pub fn len(&self) -> usize {
        self.text.len() + 45
    }

    /// Never empty: it holds at least its envelope. (For clippy's `len` rule.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The finished text: with `id` for a call, without for a notification.
    pub(crate) fn finish(mut self, id: Option<RequestId>) -> String {
        if let Some(id) = id {
            // Writing to a `String` cannot fail.
            let _ = write!(self.text, ",\"id\":\"{id}\"");
        }
        self.text.push('}');
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::to_raw_value;

    #[test]
    fn finishing_appends_the_id_without_copying_and_parses_back() {
        let params = to_raw_value(&serde_json::json!({"k": [1, 2]})).expect("json");
        let request = Request::new("a\"b", Some(&params)).expect("structured");
        let len = request.len();
        let capacity = request.text.capacity();
        let id = RequestId::generate(&mut crate::rng::Rng::from_seed([7; 32]));
        let text = request.finish(Some(id));
        assert_eq!(text.capacity(), capacity, "no reallocation");
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["method"], "a\"b");
        assert_eq!(value["params"]["k"][1], 2);
        assert_eq!(value["id"], id.to_string());
        assert_eq!(text.len(), len);
        let note = Request::new("n", None).expect("no params").finish(None);
        assert_eq!(note, r#"{"jsonrpc":"2.0","method":"n"}"#);
    }
}
