//! What a pool reports as it runs: `tracing` events for what changes (a node's state, a
//! link opened, failed or reconnected, a heartbeat missed, a link waiting for its handler
//! budget) and, with the `metrics`
//! feature, the `metrics` facade's series (see [`MetricsConfig`](super::MetricsConfig)).
//!
//! The core measures ([`Observation`]s, [`Stats`]); this only reports, after the pool's
//! lock is released.

use tether_core::pool::{Fault, LinkId, NodeId, Observation, PeerState, Stats};
use tracing::{debug, info, trace};

use super::PeersConfig;

/// Nodes whose last state [`Observer`] remembers, at most.
const SETTLED_MAX: usize = 4096;

/// The reporter of one pool.
#[derive(Debug)]
pub(crate) struct Observer {
    /// Each node's last state that was `Up` or `Down`: a node that stays unreachable goes
    /// `Connecting`, `Down` at every dial, and only the first `Down` is news.
    settled: std::sync::Mutex<std::collections::BTreeMap<NodeId, PeerState>>,
    #[cfg(feature = "metrics")]
    metrics: Option<std::sync::Mutex<super::metrics::Recorder>>,
}

impl Observer {
    pub(crate) fn new(config: &PeersConfig) -> Observer {
        #[cfg(not(feature = "metrics"))]
        let _ = config;
        Observer {
            settled: std::sync::Mutex::default(),
            #[cfg(feature = "metrics")]
            metrics: config
                .metrics
                .enabled
                .then(|| std::sync::Mutex::new(super::metrics::Recorder::new(&config.metrics))),
        }
    }

    /// Whether the pool must keep [`Observation`]s for it: for metrics, or for the events
    /// of a subscriber that listens at `info` or finer.
    pub(crate) fn wants_observations(&self) -> bool {
        #[cfg(feature = "metrics")]
        if self.metrics.is_some() {
            return true;
        }
        tracing::enabled!(tracing::Level::INFO)
    }

    /// A node's link came up or went down: news at `info` when it changes between up and
    /// down, the steps between at `debug`.
    pub(crate) fn peer_state(&self, node: NodeId, state: PeerState) {
        let news = match state {
            PeerState::Up | PeerState::Down => {
                let mut settled = self
                    .settled
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // Peers choose their node ids: the table is bounded, and forgetting only
                // makes a repeated `Down` news once more.
                if settled.len() >= SETTLED_MAX && !settled.contains_key(&node) {
                    settled.clear();
                }
                settled.insert(node, state) != Some(state)
            }
            PeerState::Idle | PeerState::Connecting => false,
        };
        if news {
            info!(node = node.0, ?state, "peer");
        } else {
            debug!(node = node.0, ?state, "peer");
        }
    }

    /// One thing the pool measured.
    pub(crate) fn observed(&self, observation: &Observation) {
        log(observation);
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            lock(metrics).observed(observation);
        }
    }

    /// `link` stopped reading: its peer's requests being handled reached
    /// `max_handlers_per_link` (`budget`), so the peer waits until one ends.
    pub(crate) fn budget_wait(&self, link: LinkId, node: Option<NodeId>, budget: usize) {
        debug!(%link, node = node.map(|n| n.0), budget, "handler budget full: not reading");
        #[cfg(feature = "metrics")]
        if let (Some(metrics), Some(node)) = (&self.metrics, node) {
            lock(metrics).budget_wait(node);
        }
    }

    /// The pool's counts now, into the recorder.
    pub(crate) fn sample(&self, stats: &Stats) {
        #[cfg(not(feature = "metrics"))]
        let _ = stats;
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            lock(metrics).sample(stats);
        }
    }

    /// Whether [`sample`](Self::sample) does anything.
    pub(crate) fn samples(&self) -> bool {
        #[cfg(feature = "metrics")]
        return self.metrics.is_some();
        #[cfg(not(feature = "metrics"))]
        false
    }
}

#[cfg(feature = "metrics")]
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `tracing` event of one observation. Events name the link and node themselves: they
/// are reported by whichever task fed the pool, inside that task's span.
fn log(observation: &Observation) {
    match observation {
        Observation::LinkOpened {
            link,
            node,
            lane,
            dialed,
            reconnect,
        } => {
            let node = node.map(|n| n.0);
            if *reconnect {
                info!(%link, generation = link.generation(), node, ?lane, dialed, "reconnected");
            } else {
                debug!(%link, generation = link.generation(), node, ?lane, dialed, "link open");
            }
        }
        Observation::LinkClosed {
            link,
            node,
            lane,
            fault,
        } => {
            let node = node.map(|n| n.0);
            match fault {
                // An open link lost: news.
                Some(fault @ (Fault::Lost | Fault::Silent | Fault::Protocol(_))) => {
                    info!(%link, node, ?lane, kind = fault.kind(), ?fault, "link failed");
                }
                // A dial that failed: a node that stays down fails one at every retry.
                Some(fault) => {
                    debug!(%link, node, ?lane, kind = fault.kind(), ?fault, "link failed");
                }
                None => debug!(%link, node, ?lane, "link closed"),
            }
        }
        Observation::HeartbeatMissed {
            link,
            node,
            unanswered,
        } => {
            let node = node.map(|n| n.0);
            info!(%link, node, unanswered, "heartbeat missed");
        }
        Observation::RoundTrip { node, lane, rtt } => {
            trace!(node = node.0, ?lane, ?rtt, "round trip");
        }
        Observation::CallEnded {
            node,
            lane,
            latency,
            outcome,
        } => trace!(
            node = node.0,
            ?lane,
            ?latency,
            outcome = outcome.kind(),
            "call ended"
        ),
    }
}
