//! The JSON-RPC error object, sent in place of a result.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A JSON-RPC 2.0 error object: `{"code": …, "message": …, "data": …}`.
///
/// Codes from -32768 to -32000 are reserved by the spec; the ones it defines are the
/// constants below. Applications use any other integer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorObject {
    /// What kind of error (see the constants).
    pub code: i64,
    /// A short description for humans.
    pub message: String,
    /// Anything the server adds, as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

impl ErrorObject {
    /// The message was not valid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON was not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The parameters do not suit the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server failed while handling the call.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The server gave up on the call's handler: it ran past the server's handler timeout
    /// and was cancelled. A server error, in the range the spec reserves for them.
    pub const HANDLER_TIMED_OUT: i64 = -32000;

    /// An error object without data.
    pub fn new(code: i64, message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// `-32601 Method not found`, the answer to a method the application does not serve.
    pub fn method_not_found() -> ErrorObject {
        ErrorObject::new(Self::METHOD_NOT_FOUND, "Method not found")
    }

    /// `-32602 Invalid params`.
    pub fn invalid_params(message: impl Into<String>) -> ErrorObject {
        ErrorObject::new(Self::INVALID_PARAMS, message)
    }

    /// `-32603 Internal error`.
    pub fn internal(message: impl Into<String>) -> ErrorObject {
        ErrorObject::new(Self::INTERNAL_ERROR, message)
    }

    /// `-32000 Handler timed out`: the answer to a call whose handler the server cancelled
    /// at its deadline.
    pub fn handler_timed_out() -> ErrorObject {
        ErrorObject::new(Self::HANDLER_TIMED_OUT, "Handler timed out")
    }
}

/// Raw JSON compares by its text; two error objects are equal when they would encode alike.
impl PartialEq for ErrorObject {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.message == other.message
            && self.data.as_ref().map(|d| d.get()) == other.data.as_ref().map(|d| d.get())
    }
}

impl Eq for ErrorObject {}
