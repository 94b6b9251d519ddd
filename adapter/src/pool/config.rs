//! How a node's [`Peers`](super::Peers) links to the others: [`PeersConfig`].

use std::time::Duration;

use tether_core::pool::{Config, NodeId};
use tether_tls::{ClientTls, ServerTls};

use crate::Admission;

/// How a node links to its peers: the core pool's settings ([`Config`]: node id,
/// timeouts, heartbeat, bounds) and what the adapter adds.
///
/// ```
/// use tether_adapter::pool::{NodeId, PeersConfig};
///
/// let config = PeersConfig::new(NodeId(1));
/// assert_eq!(config.pool.node, NodeId(1));
/// assert_eq!(config.max_handlers_per_link, 256);
/// ```
#[derive(Debug, Clone)]
pub struct PeersConfig {
    /// The core pool's settings.
    pub pool: Config,
    /// Requests of one link being handled at once; past it the link is not read, so the
    /// peer waits rather than our memory filling (default 256).
    pub max_handlers_per_link: usize,
    /// Extra headers for the upgrade requests of the links we dial (the node id header is
    /// added by the pool).
    pub headers: Vec<(String, String)>,
    /// TLS for `wss://` peers; `None` trusts the `webpki-roots` CAs.
    pub client_tls: Option<ClientTls>,
    /// Serve `wss://` on the bound port; `None` serves `ws://`.
    pub server_tls: Option<ServerTls>,
    /// Who may connect to the bound port: the upgrade hook decides each peer's and
    /// client's upgrade before the pool does (which still refuses a bad node id or a
    /// crossing dial); handlers see its identity in their [`Context`](crate::Context).
    pub admission: Admission,
}

impl PeersConfig {
    /// The defaults for node `node`.
    pub fn new(node: NodeId) -> PeersConfig {
        PeersConfig {
            pool: Config::new(node),
            max_handlers_per_link: 256,
            headers: Vec::new(),
            client_tls: None,
            server_tls: None,
            admission: Admission::default(),
        }
    }

    /// How long a socket's last bytes may take to go out.
    pub(crate) fn linger(&self) -> Duration {
        self.pool.ws.close_timeout
    }
}
