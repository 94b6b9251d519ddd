//! How connections are opened and accepted: [`ClientConfig`], [`ServerConfig`].

use std::time::Duration;

use tether_core::ws::Config;
use tether_tls::{ClientTls, ServerTls};

use crate::Admission;

/// How `connect` opens a connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits and timeouts of the connection itself.
    pub ws: Config,
    /// Extra headers for the upgrade request, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer, most preferred first.
    pub protocols: Vec<String>,
    /// How long the TCP connect, the TLS handshake (`wss://`) and the opening handshake may
    /// take together (default 5 s).
    pub connect_timeout: Duration,
    /// TLS for `wss://` URLs: the roots to trust and, for mutual TLS, the certificate to
    /// present. `None` trusts the `webpki-roots` CAs ([`ClientTls::default`]). Unused for
    /// `ws://`.
    pub tls: Option<ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ws: Config::default(),
            headers: Vec::new(),
            protocols: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            tls: None,
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
    /// Serve `wss://`: every accepted connection starts with a TLS handshake, within
    /// [`open_limit`](Self::open_limit). `None` serves plain `ws://`.
    pub tls: Option<ServerTls>,
    /// Who may connect: the upgrade hook (see [`Admission`]).
    pub admission: Admission,
}

impl ServerConfig {
    /// How long an accepted connection's TLS handshake may take (`wss://` only). The
    /// WebSocket handshake after it is timed by the core ([`Config::handshake_timeout`]),
    /// and writing its error response by [`Config::close_timeout`].
    ///
    /// [`Config::handshake_timeout`]: tether_core::ws::Config::handshake_timeout
    /// [`Config::close_timeout`]: tether_core::ws::Config::close_timeout
    pub fn open_limit(&self) -> Duration {
        crate::stream::open_limit(&self.ws)
    }
}
