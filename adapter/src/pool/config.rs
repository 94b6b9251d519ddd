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
    /// What the pool reports through the `metrics` facade (with this crate's `metrics`
    /// feature; without it nothing is measured for metrics, whatever this says).
    pub metrics: MetricsConfig,
}

/// What a pool reports through the `metrics` facade; read only with the crate's `metrics`
/// feature. The series are listed in [`MetricsConfig::NAMES`].
///
/// Install the recorder (an exporter) before the pool starts: the pool takes its handles
/// to the series as it first meets each peer, and with no recorder installed they are
/// no-ops, so an unexported pool pays an atomic load or two per sample.
///
/// ```
/// use tether_adapter::pool::{MetricsConfig, NodeId, PeersConfig};
///
/// // Thousands of peers: one series per metric for the whole pool, no `peer` label.
/// let config = PeersConfig {
///     metrics: MetricsConfig { per_peer: false, ..MetricsConfig::default() },
///     ..PeersConfig::new(NodeId(1))
/// };
/// assert!(config.metrics.enabled);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Report at all (default true).
    pub enabled: bool,
    /// A `peer` label (the node id) on every series of a peer, so as many series per
    /// metric as peers; false: the pool's totals only, one series per metric (and
    /// `kind`), for pools of thousands of peers (default true).
    pub per_peer: bool,
    /// How often the pool's counts (calls, bytes, link states, calls in flight and
    /// queued) are read into the recorder; `None`: only when
    /// [`Peers::record_metrics`](super::Peers::record_metrics) is called, say just before
    /// an exporter renders (default 1 s). Round trips, call latencies, failures,
    /// reconnections, missed heartbeats and budget waits (a link that stops reading
    /// because its peer's requests fill `max_handlers_per_link`) are recorded as they
    /// happen either way.
    pub interval: Option<Duration>,
}

impl MetricsConfig {
    /// Every series a pool reports, with its labels besides `peer`: counters end in
    /// `_total`, histograms in `_seconds`, the rest are gauges.
    pub const NAMES: &'static [&'static str] = &[
        "tether_pool_links",
        "tether_pool_peers{state}",
        "tether_peer_up",
        "tether_peer_calls_total",
        "tether_peer_call_failures_total{kind}",
        "tether_peer_call_seconds",
        "tether_peer_rtt_seconds",
        "tether_peer_bytes_received_total",
        "tether_peer_bytes_sent_total",
        "tether_peer_reconnects_total",
        "tether_peer_link_failures_total{kind}",
        "tether_peer_heartbeats_missed_total",
        "tether_peer_budget_waits_total",
        "tether_peer_calls_in_flight",
        "tether_peer_calls_queued",
    ];
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            per_peer: true,
            interval: Some(Duration::from_secs(1)),
        }
    }
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
            metrics: MetricsConfig::default(),
        }
    }

    /// How long a socket's last bytes may take to go out.
    pub(crate) fn linger(&self) -> Duration {
        self.pool.ws.close_timeout
    }
}
