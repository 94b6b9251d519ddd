//! The sans-IO contract as a trait, so one driver loop or test harness serves every state
//! machine of the core ([`ws::Connection`](crate::ws::Connection),
//! [`rpc::Channel`](crate::rpc::Channel)).

use std::time::Instant;

use bytes::Bytes;

use crate::rpc::{self, Channel};
use crate::ws::{self, Connection, State};

/// A state machine driven by the loop in the crate docs: inputs stamped with `now`,
/// outputs polled until empty. Each method means what the inherent method of the same
/// name on the implementing type says.
///
/// ```
/// use std::time::Instant;
/// use tether_core::{Config, Connection, Machine};
///
/// /// Everything `machine` wants written, in order.
/// fn drain(machine: &mut impl Machine) -> Vec<u8> {
///     let mut out = Vec::new();
///     while let Some(bytes) = machine.poll_transmit() {
///         out.extend_from_slice(&bytes);
///     }
///     out
/// }
///
/// let request = tether_core::handshake::ClientRequest {
///     host: "node-2".into(),
///     path: "/".into(),
///     ..Default::default()
/// };
/// let mut client = Connection::client(Instant::now(), Config::default(), request, [1; 32]).unwrap();
/// assert!(drain(&mut client).starts_with(b"GET / HTTP/1.1\r\n"));
/// ```
pub trait Machine {
    /// What `poll_event` returns.
    type Event;
    /// Bytes read from the transport.
    fn handle_input(&mut self, now: Instant, data: &[u8]);
    /// The peer closed its write side.
    fn handle_eof(&mut self, now: Instant);
    /// The transport failed or was given up (a write error, a write stall): nothing more
    /// can be read or written. Takes effect at once, unlike an EOF, which lets messages
    /// already read be taken first. By default the same as [`handle_eof`](Self::handle_eof).
    fn handle_transport_lost(&mut self, now: Instant) {
        self.handle_eof(now);
    }
    /// A deadline from `poll_timeout` was reached.
    fn handle_timeout(&mut self, now: Instant);
    /// The next bytes to write.
    fn poll_transmit(&mut self) -> Option<Bytes>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Bytes queued for the transport and not yet handed out (for back-pressure).
    fn pending_transmit(&self) -> usize;
    /// Whether the transport should be read now: false while the machine holds its budget
    /// for the peer (see [`crate::budget`]), so the peer waits in the transport. A machine
    /// that holds nothing for its peer reads always.
    fn wants_input(&self) -> bool {
        true
    }
    /// Frees the spare capacity of buffers and queues that are empty now (what a handshake
    /// or a burst grew them to), so a quiet connection holds none; the next input or
    /// message allocates again. Changes nothing the machine does or says. [`Flow`] calls
    /// it once the connection is open and its first bytes are written, and whenever a
    /// timer fires with nothing queued for the transport: seldom enough that a busy
    /// connection does not allocate again for every message. By default, nothing.
    ///
    /// [`Flow`]: crate::transmit::Flow
    fn release_idle(&mut self) {}
    /// Closed and flushed: the transport can go.
    fn is_finished(&self) -> bool;
    /// Where the underlying WebSocket is in its life.
    fn state(&self) -> State;
}

/// Forwards every [`Machine`] method to the inherent method of the same name.
macro_rules! forward_machine {
    ($ty:ty, $event:ty, $pending:expr) => {
        impl Machine for $ty {
            type Event = $event;
            fn handle_input(&mut self, now: Instant, data: &[u8]) {
                <$ty>::handle_input(self, now, data)
            }
            fn handle_eof(&mut self, now: Instant) {
                <$ty>::handle_eof(self, now)
            }
            fn handle_transport_lost(&mut self, now: Instant) {
                <$ty>::handle_transport_lost(self, now)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<Bytes> {
                <$ty>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<$event> {
                <$ty>::poll_event(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$ty>::poll_timeout(self)
            }
            fn pending_transmit(&self) -> usize {
                let pending: fn(&$ty) -> usize = $pending;
                pending(self)
            }
            fn wants_input(&self) -> bool {
                <$ty>::wants_input(self)
            }
            fn is_finished(&self) -> bool {
                <$ty>::is_finished(self)
            }
            fn release_idle(&mut self) {
                <$ty>::release_idle(self)
            }
            fn state(&self) -> State {
                <$ty>::state(self)
            }
        }
    };
}

forward_machine!(Connection, ws::Event, Connection::pending_transmit);
forward_machine!(Channel, rpc::Event, |e| e.connection().pending_transmit());
