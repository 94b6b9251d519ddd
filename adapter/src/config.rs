//! How connections are opened and accepted: [`ClientConfig`], [`ServerConfig`].

use std::time::Duration;

use tether_core::ws::Config;

/// How `connect` opens a connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits and timeouts of the connection itself.
    pub ws: Config,
    /// Extra headers for the upgrade request, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer, most preferred first.
    pub protocols: Vec<String>,
    /// How long the TCP connect and the opening handshake may take together (default 5 s).
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ws: Config::default(),
            headers: Vec::new(),
            protocols: Vec::new(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// How a `Server` answers upgrade requests.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Limits and timeouts of each connection.
    pub ws: Config,
    /// Subprotocols we support. Of those a client offers, the first (in the client's order
    /// of preference) that is in this list is chosen; none is chosen if there is no match.
    pub protocols: Vec<String>,
}

impl ServerConfig {
    /// How long one accepted connection may take from TCP accept to open: the core times
    /// the handshake out itself, and the rest bounds writing its error response.
    pub fn open_limit(&self) -> Duration {
        self.ws.handshake_timeout + self.ws.close_timeout
    }
}
