//! JSON-RPC 2.0 over WebSocket text messages, as a sans-IO state machine.
//!
//! A [`Channel`] owns one [`ws::Connection`](crate::ws::Connection) and multiplexes
//! JSON-RPC calls on it: one object or batch array per text message (PROTOCOL.md at the
//! repository root shows the wire format). It keeps the connection's contract: inputs with
//! `now`, commands, and outputs drained with `poll_transmit`, `poll_event`, `poll_timeout`.
//!
//! - Calling: [`Channel::call`] returns a [`RequestId`], a UUID v4 drawn from the seeded
//!   RNG. Every call ends exactly once: [`Event::Response`] (a result or the peer's
//!   [`ErrorObject`]) or [`Event::Ended`] (timed out, cancelled, connection lost). At most
//!   [`Config::max_in_flight`] calls wait at once; past it `call` fails with
//!   [`Refused::Busy`].
//! - Serving: requests arrive as [`Event::Request`] with a [`ReplyTo`]; answer with
//!   [`Channel::respond`] in any order. Batches are answered as one array. The channel
//!   does not know methods: the application answers unknown ones with
//!   [`ErrorObject::method_not_found`].
//! - Bad input never panics and never closes the connection: non-JSON is answered `-32700`,
//!   an invalid request `-32600`, an answer with an unknown id is dropped and counted in
//!   [`Stats`], a binary message is dropped and counted. Only a message over the
//!   WebSocket's `max_message_size` closes the connection (1009).
//! - Params and results stay raw JSON ([`RawValue`](serde_json::value::RawValue)): the
//!   channel never builds a JSON tree; the application deserializes them into its types.

mod batch;
mod channel;
mod config;
mod error;
mod event;
mod id;
pub(crate) mod message;
mod object;
pub(crate) mod pending;
mod request;
mod serving;

pub use channel::Channel;
pub use config::Config;
pub use error::{PeerError, Refused, RespondError};
pub use event::{EndReason, Event, Parsed, ReplyTo, Stats, Unparsed};
pub use id::{Id, RequestId};
pub use object::ErrorObject;
pub use request::Request;
pub use serving::{Expired, JobId, Serving};
