//! A client and a server [`Connection`] wired together in memory with a virtual clock: the
//! harness of the connection tests (after quinn-proto's `Pair`).

use std::time::{Duration, Instant};

use tether_core::handshake::ClientRequest;
use tether_core::{Config, Connection, Event};

/// Rounds of `drive` after which the pair is declared livelocked.
const MAX_ROUNDS: usize = 10_000;

pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    /// The virtual clock: moved only by `advance`.
    pub now: Instant,
    /// Bytes are delivered in pieces of at most this size.
    pub split: usize,
    /// Stop carrying bytes from the client to the server (a stalled link).
    pub hold_client: bool,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Bytes written by each side and not delivered yet.
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    client_eof_sent: bool,
    server_eof_sent: bool,
}

impl Pair {
    pub fn new(client_config: Config, server_config: Config) -> Pair {
        // The virtual clock needs one real instant as its origin; it never reads the clock again.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let request = ClientRequest {
            host: "node-1:7000".into(),
            path: "/raft".into(),
            ..Default::default()
        };
        let client =
            Connection::client(now, client_config, request, [7; 32]).expect("valid request");
        let server = Connection::server(now, server_config, [9; 32]);
        Pair {
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

    /// A pair that finished its handshake, with the `Open` events taken.
    pub fn open(client_config: Config, server_config: Config) -> Pair {
        let mut pair = Pair::new(client_config, server_config);
        pair.drive();
        assert!(pair
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Open { .. })));
        pair.client_events.clear();
        pair.server_events.clear();
        pair
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
            if let Event::Upgrade(_) = event {
                self.server
                    .accept(self.now, None, &[])
                    .expect("pending upgrade");
            }
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
        if self.client.is_finished()
            && !self.client_eof_sent
            && self.to_server.is_empty()
            && !self.hold_client
        {
            self.client_eof_sent = true;
            self.server.handle_eof(self.now);
            moved = true;
        }
        moved
    }

    /// Moves the clock forward by `by`, fires timers and drives.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        for conn in [&self.client, &self.server] {
            if let Some(next) = conn.poll_timeout() {
                assert!(
                    next > self.now,
                    "timer left due after handle_timeout: livelock"
                );
            }
        }
        self.drive();
    }

    /// Raw bytes into the server, as if the client had written them.
    pub fn inject_to_server(&mut self, bytes: &[u8]) {
        for piece in bytes.chunks(self.split.max(1)) {
            self.server.handle_input(self.now, piece);
        }
        self.drive();
    }
}
