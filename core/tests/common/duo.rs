//! Two state machines wired together in memory with a virtual clock (after quinn-proto's
//! `Pair`): the carrying, stepping and timer firing shared by [`Pair`](super::Pair),
//! [`RpcPair`](super::RpcPair) and [`SessionNet`](super::SessionNet).

use std::time::{Duration, Instant};

use tether_core::{rpc, ws, Machine};

/// Rounds of `drive` after which the pair is declared livelocked.
const MAX_ROUNDS: usize = 10_000;

/// What the harness needs beyond the contract: answering a server's upgrade request.
pub trait Side: Machine {
    fn accept_upgrade(&mut self, now: Instant, event: &Self::Event);
}

impl Side for ws::Connection {
    fn accept_upgrade(&mut self, now: Instant, event: &ws::Event) {
        if let ws::Event::Upgrade(_) = event {
            self.accept(now, None, &[]).expect("pending upgrade");
        }
    }
}

impl Side for rpc::Channel {
    fn accept_upgrade(&mut self, now: Instant, event: &rpc::Event) {
        if let rpc::Event::Upgrade(_) = event {
            self.accept(now, None, &[]).expect("pending upgrade");
        }
    }
}

/// A client of type `C` and a server of type `S` (the same machine unless said otherwise).
pub struct Duo<C: Side, S: Side = C> {
    pub client: C,
    pub server: S,
    /// The virtual clock: moved only by `advance`.
    pub now: Instant,
    /// Bytes are delivered in pieces of at most this size.
    pub split: usize,
    /// Stop carrying bytes from the client to the server (a stalled link).
    pub hold_client: bool,
    pub client_events: Vec<C::Event>,
    pub server_events: Vec<S::Event>,
    /// Bytes written by each side and not delivered yet.
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    client_eof_sent: bool,
    server_eof_sent: bool,
}

impl<C: Side, S: Side> Duo<C, S> {
    pub fn from_parts(client: C, server: S, now: Instant) -> Duo<C, S> {
        Duo {
            client,
            server,
            now,
            split: usize::MAX,
            hold_client: false,
            client_events: Vec::new(),
            server_events: Vec::new(),
            to_server: Vec::new(),
            to_client: Vec::new(),
            client_eof_sent: false,
            server_eof_sent: false,
        }
    }

    /// A new transport between the same client and a new `server`: nothing in flight,
    /// nothing held, no EOF seen. Returns the old server.
    pub fn reconnect(&mut self, server: S) -> S {
        self.to_server.clear();
        self.to_client.clear();
        self.client_eof_sent = false;
        self.server_eof_sent = false;
        self.hold_client = false;
        std::mem::replace(&mut self.server, server)
    }

    /// Cuts the transport: bytes in flight are lost and nothing more is carried until
    /// `reconnect` (the owners are told by the caller, as their sockets would tell them).
    pub fn cut(&mut self) {
        self.to_server.clear();
        self.to_client.clear();
        self.hold_client = true;
        self.client_eof_sent = true;
        self.server_eof_sent = true;
    }

    /// Carries bytes both ways, answering upgrades, until nothing moves.
    pub fn drive(&mut self) {
        for _ in 0..MAX_ROUNDS {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle after {MAX_ROUNDS} rounds: livelock");
    }

    /// One round; returns whether anything happened.
    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(bytes) = self.client.poll_transmit() {
            self.to_server.extend_from_slice(&bytes);
        }
        while let Some(bytes) = self.server.poll_transmit() {
            self.to_client.extend_from_slice(&bytes);
        }
        if !self.hold_client && !self.to_server.is_empty() {
            let data = std::mem::take(&mut self.to_server);
            for piece in data.chunks(self.split.max(1)) {
                self.server.handle_input(self.now, piece);
            }
            moved = true;
        }
        if !self.to_client.is_empty() {
            let data = std::mem::take(&mut self.to_client);
            for piece in data.chunks(self.split.max(1)) {
                self.client.handle_input(self.now, piece);
            }
            moved = true;
        }
        while let Some(event) = self.server.poll_event() {
            self.server.accept_upgrade(self.now, &event);
            self.server_events.push(event);
            moved = true;
        }
        while let Some(event) = self.client.poll_event() {
            self.client_events.push(event);
            moved = true;
        }
        // A finished side drops its transport: the other side reads EOF.
        if self.server.is_finished() && !self.server_eof_sent && self.to_client.is_empty() {
            self.server_eof_sent = true;
            self.client.handle_eof(self.now);
            moved = true;
        }
        let client_done = self.client.is_finished() && !self.client_eof_sent;
        if client_done && self.to_server.is_empty() && !self.hold_client {
            self.client_eof_sent = true;
            self.server.handle_eof(self.now);
            moved = true;
        }
        moved
    }

    /// Moves the clock forward by `by`, fires timers (checking none is left due) and drives.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        for next in [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
        {
            assert!(
                next > self.now,
                "timer left due after handle_timeout: livelock"
            );
        }
        self.drive();
    }
}
