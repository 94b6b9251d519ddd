//! What a pool can say about each peer and about itself.

use std::time::{Duration, Instant};

use super::{LinkId, NodeId};
use crate::histogram::Histogram;
use crate::ws::ProtocolError;

/// Where a node's link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerState {
    /// No link, and none failed since the last one closed (never used, or closed idle).
    #[default]
    Idle,
    /// A link is being opened.
    Connecting,
    /// A link is open.
    Up,
    /// The last link could not be opened, was lost, or went silent.
    Down,
}

/// Why a node's last link failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The connection or its upgrade failed, or took longer than the connect timeout.
    Unreachable,
    /// The peer answered the upgrade with this HTTP status.
    Refused(u16),
    /// The link stayed silent past the heartbeat's timeout.
    Silent,
    /// The transport ended before the closing handshake.
    Lost,
    /// The peer broke the WebSocket protocol.
    Protocol(ProtocolError),
}

/// One node as the pool sees it. `last_seen` is the time of the last byte from it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerStats {
    /// The node.
    pub node: NodeId,
    /// Its link's state.
    pub state: PeerState,
    /// Its current link, if any.
    pub link: Option<LinkId>,
    /// When a byte last came from it.
    pub last_seen: Option<Instant>,
    /// Calls made to it.
    pub calls: u64,
    /// Calls that ended without an answer (a remote error is an answer).
    pub failures: u64,
    /// Bytes read from its links.
    pub bytes_in: u64,
    /// Bytes handed out for its links.
    pub bytes_out: u64,
    /// Why its last link failed, if one did.
    pub last_error: Option<Fault>,
    /// Ping round trip, median and 99th percentile.
    pub rtt_p50: Option<Duration>,
    /// See `rtt_p50`.
    pub rtt_p99: Option<Duration>,
    /// Time from call to answer: median, 95th (when a hedged read asks another replica)
    /// and 99th percentile.
    pub latency_p50: Option<Duration>,
    /// See `latency_p50`.
    pub latency_p95: Option<Duration>,
    /// See `latency_p50`.
    pub latency_p99: Option<Duration>,
    /// Links opened to or from it after its first.
    pub reconnects: u64,
    /// Calls written and not answered yet.
    pub in_flight: usize,
    /// Calls waiting for its link.
    pub queued: usize,
}

/// The whole pool: every node it knows, in node order, and totals.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// Per node.
    pub peers: Vec<PeerStats>,
    /// Links held (dialed, accepted, and client links that named no node).
    pub links: usize,
    /// Calls made through the pool.
    pub calls: u64,
    /// Of those, ended without an answer.
    pub failures: u64,
}

/// What the pool counts for one node.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) state: PeerState,
    pub(crate) last_seen: Option<Instant>,
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) last_error: Option<Fault>,
    pub(crate) rtt: Histogram,
    pub(crate) latency: Histogram,
    pub(crate) links_opened: u64,
}

impl Counters {
    pub(crate) fn snapshot(
        &self,
        node: NodeId,
        link: Option<LinkId>,
        in_flight: usize,
        queued: usize,
    ) -> PeerStats {
        PeerStats {
            node,
            state: self.state,
            link,
            last_seen: self.last_seen,
            calls: self.calls,
            failures: self.failures,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            last_error: self.last_error.clone(),
            rtt_p50: self.rtt.quantile(1, 2),
            rtt_p99: self.rtt.quantile(99, 100),
            latency_p50: self.latency.quantile(1, 2),
            latency_p95: self.latency.quantile(95, 100),
            latency_p99: self.latency.quantile(99, 100),
            reconnects: self.links_opened.saturating_sub(1),
            in_flight,
            queued,
        }
    }
}
