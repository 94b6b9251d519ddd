//! Where a WebSocket driver sends the core's events and how it carries out commands:
//! [`Dispatch`], the part of a driver that is about the protocol, not the socket.
//!
//! A driver owns a [`Connection`], a socket and some channels. What it does with the
//! core's events and its handles' commands is the same on every runtime, and subtle
//! enough to keep in one place:
//!
//! - During the handshake, events are the handshake's: an upgrade is answered (choosing a
//!   subprotocol), `Open` ends it, a protocol error is kept to report if it fails.
//! - Once open, events go to the receiver ([`Inbox`]); the core's `Closed` comes last.
//! - A protocol error is held back in the core until the receiver has taken every earlier
//!   event (it says so with a demand, sent behind its own sends), or for at most
//!   [`ERROR_HOLD`]: taking the error fails the connection, and the answers to the messages
//!   before it must go out first (Autobahn 3.2, 4.1.3, 5.15 …).
//! - A close is recorded in the [`Status`] before it is answered, so a `send` after `close`
//!   returns is refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tether_core::frame::CloseCode;
use tether_core::ws::{Connection, Event, Message, ProtocolError, SendError};

use super::status::Status;
use crate::edge::{Gate, Verdict};
use crate::{ConnectionId, Context, Identity, OpenError};

/// How long a protocol error is held back for the receiver to catch up when it does not.
pub const ERROR_HOLD: Duration = Duration::from_secs(1);

/// The receiver's channel, as the driver sees it.
pub trait Inbox {
    /// Hands `event` over, or keeps it (in order) until there is room.
    fn deliver(&mut self, event: Event);
    /// Nobody will ever read again.
    fn is_closed(&self) -> bool;
    /// Every event handed over has been taken.
    fn all_taken(&self) -> bool;
    /// Tells the receiver that a protocol error waits for its demand.
    fn ask_for_demand(&self);
}

/// Where a command's outcome goes.
pub trait Reply {
    /// Hands over the core's answer; a caller that stopped waiting just does not get it.
    fn answer(self, result: Result<(), SendError>);
}

/// What a handle asks its driver to do.
#[derive(Debug)]
pub enum Command<R> {
    /// No reply: `send` learns of a closed connection from the [`Status`], and a message
    /// refused because closing began meanwhile is dropped like any message in flight
    /// when a connection ends.
    Send(Message),
    /// A ping with this payload.
    Ping(Bytes, R),
    /// Start the closing handshake.
    Close(CloseCode, String, R),
    /// The receiver has taken every event it was given. Sent on the data channel, so it
    /// arrives after whatever the receiving task sent before.
    Demand,
}

/// Where the driver is in the connection's life, as far as routing events goes.
#[derive(Debug)]
enum Phase {
    /// Events are the handshake's business (answer an upgrade, wait for `Open`).
    Handshaking,
    /// `Open` arrived with this subprotocol; `open()` has not returned yet.
    Opened(Option<String>),
    /// Events go to the receiver.
    Running,
}

/// The routing of one connection's events and commands; see the module docs.
#[derive(Debug)]
pub struct Dispatch {
    phase: Phase,
    /// Server role: the subprotocols we support (empty for a client).
    supported: Arc<[String]>,
    /// Server role: how the upgrade is decided (every valid one accepted without it).
    /// Boxed, as it is gone once it decided: an open connection keeps only the slot.
    gate: Option<Box<Gate>>,
    /// Server role, once accepted: who the peer is, for the handles.
    /// Boxed, as it is taken at the open: an open connection keeps only the slot.
    context: Option<Box<Context>>,
    /// The last protocol error seen during the handshake, reported if it fails.
    failure: Option<ProtocolError>,
    /// A protocol error is held back until this deadline or the receiver's demand.
    error_hold: Option<Instant>,
    /// The held error may be taken from the core.
    error_released: bool,
    /// Every handle is gone and we started closing on their behalf.
    abandoned: bool,
}

impl Dispatch {
    /// Routing for a new connection; `supported` are the subprotocols a server accepts,
    /// and `gate` decides its upgrade.
    pub fn new(supported: Arc<[String]>, gate: Option<Gate>) -> Dispatch {
        Dispatch {
            phase: Phase::Handshaking,
            supported,
            gate: gate.map(Box::new),
            context: None,
            failure: None,
            error_hold: None,
            error_released: false,
            abandoned: false,
        }
    }

    /// Takes the core's events (all but a held error) and routes them. Call before
    /// draining the core's bytes: answering an upgrade queues some.
    /// Past the connection's budget ([`Connection::takes_next`]) the next message waits in
    /// the connection, and so does the peer.
    pub fn drain(&mut self, now: Instant, conn: &mut Connection, inbox: &mut impl Inbox) {
        while !self.holds_error(now, conn, inbox) && conn.takes_next() {
            let Some(event) = conn.poll_event() else {
                break;
            };
            match self.phase {
                Phase::Handshaking => self.handshake_event(now, conn, event),
                Phase::Opened(_) | Phase::Running => inbox.deliver(event),
            }
        }
    }

    /// Once the handshake has opened the connection: the agreed subprotocol, and events
    /// go to the receiver from now on. `None` while still handshaking.
    pub fn opened(&mut self) -> Option<Option<String>> {
        let Phase::Opened(protocol) = &mut self.phase else {
            return None;
        };
        let protocol = protocol.take();
        self.phase = Phase::Running;
        Some(protocol)
    }

    /// Server role, once the upgrade is accepted: who the peer is. Taken, not cloned: it
    /// goes to the connection's handle, and the driver has no use for it after.
    pub fn take_context(&mut self) -> Option<Context> {
        self.context.take().map(|context| *context)
    }

    /// Why a handshake that ended without opening failed.
    pub fn open_error(&mut self) -> OpenError {
        self.failure
            .take()
            .map_or(OpenError::Closed, OpenError::Protocol)
    }

    /// The connection is open and its handles exist: commands may be taken.
    pub fn running(&self) -> bool {
        matches!(self.phase, Phase::Running)
    }

    /// When a held error is released even without the receiver's demand: a deadline for
    /// the driver's timer besides the core's.
    pub fn deadline(&self) -> Option<Instant> {
        self.error_hold
    }

    /// Releases a held error whose time is up (call after the driver's timer fired).
    pub fn expire(&mut self, now: Instant) {
        if self.error_hold.is_some_and(|until| until <= now) {
            self.release_error();
        }
    }

    /// A held error waits for the receiver's demand.
    pub fn wants_demand(&self) -> bool {
        self.error_hold.is_some()
    }

    /// Carries out a handle's command.
    pub fn command<R: Reply>(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        command: Command<R>,
        inbox: &impl Inbox,
        status: &Status,
    ) {
        match command {
            Command::Send(message) => {
                // Closing began meanwhile: dropped like any message in flight at the end.
                let _ = conn.send(now, message);
            }
            Command::Ping(payload, reply) => reply.answer(conn.ping(now, payload)),
            Command::Close(code, reason, reply) => {
                let result = conn.close(now, code, &reason);
                // Before the answer: once `close` returns, `send` must see the closing state.
                status.set_state(conn.state());
                reply.answer(result);
            }
            Command::Demand if self.error_hold.is_some() => {
                if inbox.all_taken() {
                    self.release_error();
                } else {
                    // Still events on their way to the receiver: ask again once it has them.
                    inbox.ask_for_demand();
                }
            }
            Command::Demand => {}
        }
    }

    /// Every handle was dropped: nobody can send or read, so close the connection as the
    /// user would have (once). Returns whether it did so now.
    pub fn abandon(&mut self, now: Instant, conn: &mut Connection) -> bool {
        if self.abandoned {
            return false;
        }
        self.abandoned = true;
        // Already closing or closed is fine: that is where we want to be.
        let _ = conn.close(now, CloseCode::NORMAL, "");
        true
    }

    /// Hands every event the core has to the receiver, held error included: once the
    /// driver is done (its last events, `Closed` among them: the core says it for every
    /// ending, a failed or stalled socket included, since both reach it as an end of
    /// stream), or after a socket failure.
    pub fn flush(&mut self, conn: &mut Connection, inbox: &mut impl Inbox) {
        while let Some(event) = conn.poll_event() {
            inbox.deliver(event);
        }
    }

    fn handshake_event(&mut self, now: Instant, conn: &mut Connection, event: Event) {
        match event {
            Event::Upgrade(request) => {
                // Taken: the gate decides once, and an open connection keeps no copy.
                let (request, verdict) = match self.gate.take() {
                    Some(mut gate) => gate.decide(request),
                    None => {
                        let context =
                            Context::new(Identity::anonymous(), None, ConnectionId::next());
                        (request, Verdict::Accept(context))
                    }
                };
                let protocol = request.choose_protocol(&self.supported);
                self.context = verdict.apply(now, conn, protocol).map(Box::new);
            }
            Event::Open { protocol } => self.phase = Phase::Opened(protocol),
            Event::Error(e) => self.failure = Some(e),
            // The handshake failed (or the peer left): `open()` reports it once flushed.
            Event::Closed(_) => {}
            // Nothing else can happen before `Open`.
            Event::Message(_) | Event::Ping(_) | Event::Pong(_) => {}
        }
    }

    /// Whether the next event is a protocol error to keep in the core for now: taking it
    /// fails the connection, and the receiver may still be answering earlier messages.
    fn holds_error(&mut self, now: Instant, conn: &Connection, inbox: &impl Inbox) -> bool {
        let error_next = matches!(conn.peek_event(), Some(Event::Error(_)));
        // `Opened` too: frames that came in the same read as the 101 are parsed before
        // `open()` even returns the handle.
        let delivering = matches!(self.phase, Phase::Opened(_) | Phase::Running);
        if !error_next || self.error_released || !delivering || inbox.is_closed() {
            return false;
        }
        if self.error_hold.is_none() {
            self.error_hold = Some(now + ERROR_HOLD);
            inbox.ask_for_demand();
        }
        true
    }

    fn release_error(&mut self) {
        self.error_released = true;
        self.error_hold = None;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use tether_core::handshake::ClientRequest;
    use tether_core::ws::{Config, Initiator};

    use super::*;

    /// An inbox that takes everything and counts what the receiver has not read.
    #[derive(Default)]
    struct Mailbox {
        events: Vec<Event>,
        read: usize,
        asked: Cell<usize>,
    }

    impl Inbox for Mailbox {
        fn deliver(&mut self, event: Event) {
            self.events.push(event);
        }
        fn is_closed(&self) -> bool {
            false
        }
        fn all_taken(&self) -> bool {
            self.read == self.events.len()
        }
        fn ask_for_demand(&self) {
            self.asked.set(self.asked.get() + 1);
        }
    }

    struct NoReply;

    impl Reply for NoReply {
        fn answer(self, _: Result<(), SendError>) {}
    }

    /// A server connection opened by a client's upgrade request, routed by `dispatch`.
    fn open_server(now: Instant, dispatch: &mut Dispatch, inbox: &mut Mailbox) -> Connection {
        let request = ClientRequest {
            host: "h".into(),
            path: "/".into(),
            protocols: vec!["b".into(), "a".into()],
            ..Default::default()
        };
        let mut client = match Connection::client(now, Config::default(), request, [1; 32]) {
            Ok(client) => client,
            Err(e) => panic!("client: {e}"),
        };
        let mut server = Connection::server(now, Config::default(), [2; 32]);
        while let Some(bytes) = client.poll_transmit() {
            server.handle_input(now, &bytes);
        }
        dispatch.drain(now, &mut server, inbox);
        dispatch.drain(now, &mut server, inbox);
        server
    }

    #[test]
    fn the_handshake_picks_the_clients_first_supported_protocol() {
        let now = Instant::now();
        let mut dispatch = Dispatch::new(Arc::from(["a".to_owned(), "b".to_owned()]), None);
        let mut inbox = Mailbox::default();
        open_server(now, &mut dispatch, &mut inbox);
        assert_eq!(dispatch.opened(), Some(Some("b".to_owned())));
        assert!(dispatch.running());
        assert!(
            inbox.events.is_empty(),
            "handshake events stay with the handshake"
        );
    }

    #[test]
    fn a_protocol_error_waits_for_the_receiver_to_take_what_came_before() {
        let now = Instant::now();
        let mut dispatch = Dispatch::new(Arc::from([]), None);
        let mut inbox = Mailbox::default();
        let mut server = open_server(now, &mut dispatch, &mut inbox);
        assert!(dispatch.opened().is_some());
        // A masked text frame "hi", then a frame with a reserved opcode, in one read.
        let mut input = vec![0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];
        input.extend_from_slice(&[0x83, 0x80, 0, 0, 0, 0]);
        server.handle_input(now, &input);
        dispatch.drain(now, &mut server, &mut inbox);
        assert_eq!(inbox.events, [Event::Message(Message::Text("hi".into()))]);
        assert_eq!(inbox.asked.get(), 1);
        assert_eq!(dispatch.deadline(), Some(now + ERROR_HOLD));

        // A demand while the message is unread: ask again, keep holding.
        let status = Status::default();
        dispatch.command(
            now,
            &mut server,
            Command::<NoReply>::Demand,
            &inbox,
            &status,
        );
        dispatch.drain(now, &mut server, &mut inbox);
        assert_eq!(inbox.events.len(), 1);
        assert_eq!(inbox.asked.get(), 2);

        // Read, then demand: the error goes out and the connection fails with 1002.
        inbox.read = 1;
        dispatch.command(
            now,
            &mut server,
            Command::<NoReply>::Demand,
            &inbox,
            &status,
        );
        dispatch.drain(now, &mut server, &mut inbox);
        assert!(
            matches!(inbox.events.get(1), Some(Event::Error(_))),
            "{:?}",
            inbox.events
        );
        dispatch.flush(&mut server, &mut inbox);
        match inbox.events.last() {
            Some(Event::Closed(info)) => assert_eq!(info.code, CloseCode::PROTOCOL_ERROR),
            other => panic!("expected Closed last, got {other:?}"),
        }
    }

    #[test]
    fn a_held_error_is_released_when_its_time_is_up() {
        let now = Instant::now();
        let mut dispatch = Dispatch::new(Arc::from([]), None);
        let mut inbox = Mailbox::default();
        let mut server = open_server(now, &mut dispatch, &mut inbox);
        assert!(dispatch.opened().is_some());
        server.handle_input(now, &[0x83, 0x80, 0, 0, 0, 0]);
        dispatch.drain(now, &mut server, &mut inbox);
        assert!(inbox.events.is_empty());
        dispatch.expire(now + ERROR_HOLD);
        dispatch.drain(now + ERROR_HOLD, &mut server, &mut inbox);
        assert!(matches!(inbox.events.first(), Some(Event::Error(_))));
    }

    #[test]
    fn a_socket_that_ends_without_a_close_ends_with_the_cores_own_closed() {
        let now = Instant::now();
        let mut dispatch = Dispatch::new(Arc::from([]), None);
        let mut inbox = Mailbox::default();
        let mut server = open_server(now, &mut dispatch, &mut inbox);
        assert!(dispatch.opened().is_some());
        // What a driver does when its socket fails or it stalls.
        server.handle_eof(now);
        dispatch.flush(&mut server, &mut inbox);
        match inbox.events.as_slice() {
            [Event::Closed(info)] => {
                assert_eq!(info.initiator, Initiator::Transport);
                assert_eq!(info.code, CloseCode::ABNORMAL);
            }
            other => panic!("expected the core's Closed, got {other:?}"),
        }
    }
}
