//! The WebSocket connection state machine.

use std::time::Instant;

use bytes::Bytes;

use super::{Config, Event, Message, Role, SendError, State};
use crate::frame::CloseCode;
use crate::handshake::{ClientRequest, HandshakeError};
use crate::rng::Seed;

/// One WebSocket connection, client or server role.
#[derive(Debug)]
pub struct Connection {}

impl Connection {
    /// A client connection; the upgrade request is queued for `poll_transmit` at once.
    pub fn client(
        _now: Instant,
        _config: Config,
        _request: ClientRequest,
        _seed: Seed,
    ) -> Result<Connection, HandshakeError> {
        todo!()
    }

    /// A server connection waiting for the client's upgrade request.
    pub fn server(_now: Instant, _config: Config, _seed: Seed) -> Connection {
        todo!()
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        todo!()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        todo!()
    }

    /// Feeds bytes read from the transport.
    pub fn handle_input(&mut self, _now: Instant, _data: &[u8]) {
        todo!()
    }

    /// The peer closed its write side.
    pub fn handle_eof(&mut self, _now: Instant) {
        todo!()
    }

    /// Fires every deadline at or before `now`.
    pub fn handle_timeout(&mut self, _now: Instant) {
        todo!()
    }

    /// Server role: accepts the pending upgrade with an optional subprotocol and extra headers.
    pub fn accept(
        &mut self,
        _now: Instant,
        _protocol: Option<&str>,
        _headers: &[(String, String)],
    ) -> Result<(), SendError> {
        todo!()
    }

    /// Server role: refuses the pending upgrade with an HTTP status.
    pub fn reject(&mut self, _now: Instant, _status: u16) -> Result<(), SendError> {
        todo!()
    }

    /// Queues a message.
    pub fn send(&mut self, _now: Instant, _message: Message) -> Result<(), SendError> {
        todo!()
    }

    /// Queues a ping.
    pub fn ping(&mut self, _now: Instant, _payload: Bytes) -> Result<(), SendError> {
        todo!()
    }

    /// Starts the closing handshake. Closing twice is a no-op.
    pub fn close(&mut self, _now: Instant, _code: CloseCode, _reason: &str) -> Result<(), SendError> {
        todo!()
    }

    /// The next bytes to write to the transport.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        todo!()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        todo!()
    }

    /// The next deadline; call `handle_timeout` then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// Bytes queued for the transport and not yet taken by `poll_transmit`.
    pub fn pending_transmit(&self) -> usize {
        todo!()
    }

    /// Closed and nothing left to write: the owner may drop the transport.
    pub fn is_finished(&self) -> bool {
        todo!()
    }
}
