//! A client and a server [`Channel`] wired together in memory with a virtual clock: the
//! harness of the rpc scenario tests (the RPC twin of [`Pair`](super::Pair)).

use std::time::Instant;

use bytes::BytesMut;
use tether_core::frame::{encode_frame, OpCode};
use tether_core::handshake::ClientRequest;
use tether_core::rpc::{self, Channel, Event};
use tether_core::ws;

use super::duo::Duo;

pub type RpcPair = Duo<Channel>;

impl Duo<Channel> {
    /// A pair whose handshake has not run yet.
    pub fn new(ws_config: ws::Config, client: rpc::Config, server: rpc::Config) -> RpcPair {
        // The virtual clock needs one real instant as its origin; it never reads the clock again.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let request = ClientRequest {
            host: "node-1:7000".into(),
            path: "/rpc".into(),
            ..Default::default()
        };
        let client = Channel::client(now, ws_config.clone(), client, request, [7; 32])
            .expect("valid request");
        let server = Channel::server(now, ws_config, server, [9; 32]);
        Duo::from_parts(client, server, now)
    }

    /// A pair that finished its handshake, with the `Open` events taken.
    pub fn open(client: rpc::Config, server: rpc::Config) -> RpcPair {
        // Without the server heartbeat: these pairs test calls, and a pair left idle for
        // hours of virtual time would otherwise ping all along.
        let ws_config = ws::Config {
            heartbeat: None,
            ..ws::Config::default()
        };
        let mut pair = RpcPair::new(ws_config, client, server);
        pair.drive();
        assert!(pair
            .client_events
            .iter()
            .any(|e| matches!(e, Event::Open { .. })));
        assert!(pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::Open { .. })));
        pair.client_events.clear();
        pair.server_events.clear();
        pair
    }

    /// A text message into the server, as if the client had sent it (masked frame).
    pub fn text_to_server(&mut self, text: &str) {
        self.frame_to_server(OpCode::Text, text.as_bytes());
    }

    /// Any data frame into the server, as if the client had sent it; the server's answer
    /// is left unsent (see `take_server_texts`).
    pub fn frame_to_server(&mut self, opcode: OpCode, payload: &[u8]) {
        self.drive();
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, true, opcode, Some([1, 2, 3, 4]), payload);
        for piece in frame.chunks(self.split.max(1)) {
            self.server.handle_input(self.now, piece);
        }
        // Events only: what the server answered stays for `take_server_texts`.
        while let Some(event) = self.server.poll_event() {
            self.server_events.push(event);
        }
    }

    /// A text message into the client, as if the server had sent it (unmasked frame).
    pub fn text_to_client(&mut self, text: &str) {
        self.drive();
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, true, OpCode::Text, None, text.as_bytes());
        for piece in frame.chunks(self.split.max(1)) {
            self.client.handle_input(self.now, piece);
        }
        self.drive();
    }

    /// Takes the server's events.
    pub fn take_server_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.server_events)
    }

    /// Takes the client's events.
    pub fn take_client_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.client_events)
    }

    /// The text messages the server wrote and nobody carried yet, read off the wire (server
    /// frames are unmasked and unfragmented at these sizes). Call before `drive`.
    pub fn take_server_texts(&mut self) -> Vec<String> {
        let mut wire = Vec::new();
        while let Some(bytes) = self.server.poll_transmit() {
            wire.extend_from_slice(&bytes);
        }
        let mut texts = Vec::new();
        let mut rest = wire.as_slice();
        while let [first, second, tail @ ..] = rest {
            assert_eq!(first & 0x0f, 1, "a text frame");
            let (len, tail) = match second & 0x7f {
                126 => (u16::from_be_bytes([tail[0], tail[1]]) as usize, &tail[2..]),
                127 => (
                    u64::from_be_bytes(tail[..8].try_into().unwrap()) as usize,
                    &tail[8..],
                ),
                n => (n as usize, tail),
            };
            texts.push(String::from_utf8(tail[..len].to_vec()).unwrap());
            rest = &tail[len..];
        }
        texts
    }
}
