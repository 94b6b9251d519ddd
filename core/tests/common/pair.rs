//! The WebSocket pair: a client and a server [`Connection`] in memory (see [`Duo`]).

use std::time::Instant;

use tether_core::handshake::ClientRequest;
use tether_core::{Config, Connection, Event};

use super::duo::Duo;

pub type Pair = Duo<Connection>;

impl Duo<Connection> {
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
        Duo::from_parts(client, server, now)
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

    /// Raw bytes into the server, as if the client had written them.
    pub fn inject_to_server(&mut self, bytes: &[u8]) {
        for piece in bytes.chunks(self.split.max(1)) {
            self.server.handle_input(self.now, piece);
        }
        self.drive();
    }
}
