//! A [`Session`] wired to the simulated network: the plumbing every node that holds
//! sessions needs, written once. It dials when the session asks (`Event::Connect`),
//! feeds each transport's inputs under that transport's attempt, hands out its bytes,
//! and tells the network to close the transports the session abandoned.

use std::collections::BTreeMap;

use bytes::Bytes;
use tether_core::session::{Attempt, Event, Session};

use super::node::{Ctx, NodeId, Port};

/// A [`Session`] to the node `server`, its transports being simulated connections.
///
/// A node that owns some forwards its [`Node`](super::Node) methods to the one that
/// [`owns`](NetSession::owns) the port, and drains events with
/// [`poll_event`](NetSession::poll_event) (which dials on `Connect`):
///
/// ```
/// # use tether_tests::sim::{Ctx, NetSession, Port};
/// fn on_input(net: &mut NetSession, ctx: &mut Ctx, port: Port, data: &[u8]) {
///     net.handle_input(ctx, port, data);
///     while let Some(event) = net.poll_event(ctx) {
///         // Answers, endings, state changes: the application's business.
///         let _ = event;
///     }
/// }
/// ```
#[derive(Debug)]
pub struct NetSession {
    session: Session,
    server: NodeId,
    /// The attempt behind each port this session dialed and has not forgotten.
    ports: BTreeMap<Port, Attempt>,
}

impl NetSession {
    /// `session` (not started), whose transports go to `server`.
    pub fn new(session: Session, server: NodeId) -> NetSession {
        NetSession {
            session,
            server,
            ports: BTreeMap::new(),
        }
    }

    /// The session, for its getters.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, for commands (`call`, `notify`, `cancel`, `close`, `handle_timeout`).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The node the transports go to.
    pub fn server(&self) -> NodeId {
        self.server
    }

    /// The next event of the session. A `Connect` is acted on first: the server is
    /// dialed, and the port recorded for that attempt.
    pub fn poll_event(&mut self, ctx: &mut Ctx) -> Option<Event> {
        let event = self.session.poll_event()?;
        if let Event::Connect { attempt } = event {
            let port = ctx.connect(self.server);
            self.ports.insert(port, attempt);
        }
        Some(event)
    }

    /// The port of `attempt`'s transport, while it is remembered.
    pub fn port_of(&self, attempt: Attempt) -> Option<Port> {
        self.ports
            .iter()
            .find(|(_, a)| **a == attempt)
            .map(|(port, _)| *port)
    }

    /// Whether `port` is one of this session's transports.
    pub fn owns(&self, port: Port) -> bool {
        self.ports.contains_key(&port)
    }

    /// The simulated connection of `port` is established: the transport is open.
    pub fn handle_connected(&mut self, ctx: &Ctx, port: Port) {
        if let Some(&attempt) = self.ports.get(&port) {
            self.session.transport_open(ctx.now, attempt);
        }
    }

    /// Bytes arrived on `port`.
    pub fn handle_input(&mut self, ctx: &Ctx, port: Port, data: &[u8]) {
        if let Some(&attempt) = self.ports.get(&port) {
            self.session.handle_input(ctx.now, attempt, data);
        }
    }

    /// The server closed its side of `port`.
    pub fn handle_eof(&mut self, ctx: &Ctx, port: Port) {
        if let Some(&attempt) = self.ports.get(&port) {
            self.session.handle_eof(ctx.now, attempt);
        }
    }

    /// The connection of `port` was reset or refused: the transport failed.
    pub fn handle_reset(&mut self, ctx: &Ctx, port: Port) {
        if let Some(&attempt) = self.ports.get(&port) {
            self.session.transport_failed(ctx.now, attempt);
        }
    }

    /// The next bytes for `port`'s transport.
    pub fn poll_transmit(&mut self, port: Port) -> Option<Bytes> {
        let &attempt = self.ports.get(&port)?;
        self.session.poll_transmit_for(attempt)
    }

    /// The session abandoned `port`'s transport and everything for it was taken (true
    /// for ports it does not own).
    pub fn port_finished(&self, port: Port) -> bool {
        self.ports
            .get(&port)
            .is_none_or(|&attempt| self.session.is_abandoned(attempt))
    }

    /// Forgets the ports of abandoned transports. Their [`port_finished`] stays true, so
    /// this may run at any time; it keeps a long-lived session's table small.
    ///
    /// [`port_finished`]: NetSession::port_finished
    pub fn forget_abandoned(&mut self) {
        let session = &self.session;
        self.ports
            .retain(|_, attempt| !session.is_abandoned(*attempt));
    }
}
