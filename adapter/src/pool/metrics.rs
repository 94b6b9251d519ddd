//! A pool's series in the `metrics` facade (the `metrics` feature): what
//! [`MetricsConfig::NAMES`] lists, from the core's [`Observation`]s and [`Stats`].
//!
//! Handles to the series are taken once per peer (or once for the pool, without per-peer
//! labels) and kept, so a sample costs what the recorder's handle costs: nothing beyond an
//! atomic or two with no recorder installed. Counters read from [`Stats`] move by the
//! difference since the last sample, so they only go up, even when the pool forgets a peer
//! and counts it again from zero.

use std::collections::BTreeMap;
use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram, Label};
use tether_core::pool::{CallOutcome, NodeId, Observation, PeerState, Stats};

use super::MetricsConfig;

/// The series of one pool.
#[derive(Debug)]
pub(crate) struct Recorder {
    per_peer: bool,
    /// Per peer, or one entry (`None`) for the whole pool without per-peer labels.
    series: BTreeMap<Option<NodeId>, Series>,
    /// Each peer's counts at the last sample.
    last: BTreeMap<NodeId, Counts>,
    links: Gauge,
    peers: [Gauge; 4],
}

/// The handles of one peer's series (or the pool's, unlabelled).
#[derive(Debug)]
struct Series {
    labels: Vec<Label>,
    up: Gauge,
    calls: Counter,
    call_seconds: Histogram,
    rtt_seconds: Histogram,
    bytes_received: Counter,
    bytes_sent: Counter,
    reconnects: Counter,
    heartbeats_missed: Counter,
    budget_waits: Counter,
    in_flight: Gauge,
    queued: Gauge,
    /// By kind, taken as each kind first happens.
    call_failures: BTreeMap<&'static str, Counter>,
    link_failures: BTreeMap<&'static str, Counter>,
}

/// What a sample reads of one peer.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    calls: u64,
    bytes_in: u64,
    bytes_out: u64,
}

const STATES: [(PeerState, &str); 4] = [
    (PeerState::Idle, "idle"),
    (PeerState::Connecting, "connecting"),
    (PeerState::Up, "up"),
    (PeerState::Down, "down"),
];

impl Recorder {
    pub(crate) fn new(config: &MetricsConfig) -> Recorder {
        Recorder {
            per_peer: config.per_peer,
            series: BTreeMap::new(),
            last: BTreeMap::new(),
            links: gauge!("tether_pool_links"),
            peers: STATES.map(|(_, name)| gauge!("tether_pool_peers", "state" => name)),
        }
    }

    /// Records one observation: the histograms and the counters by kind.
    pub(crate) fn observed(&mut self, observation: &Observation) {
        match observation {
            Observation::RoundTrip { node, rtt, .. } => {
                self.series(*node).rtt_seconds.record(seconds(*rtt));
            }
            Observation::CallEnded {
                node,
                latency,
                outcome,
                ..
            } => {
                let series = self.series(*node);
                match outcome {
                    CallOutcome::Answered | CallOutcome::Error => {
                        series.call_seconds.record(seconds(*latency));
                    }
                    // Its owner dropped it: not a failure, and no answer to time.
                    CallOutcome::Ended(tether_core::rpc::EndReason::Cancelled) => {}
                    CallOutcome::Ended(_) => {
                        let kind = outcome.kind();
                        series.failure(Failure::Call, kind).increment(1);
                    }
                }
            }
            Observation::LinkOpened {
                node: Some(node),
                reconnect: true,
                ..
            } => self.series(*node).reconnects.increment(1),
            Observation::LinkClosed {
                node: Some(node),
                fault: Some(fault),
                ..
            } => self
                .series(*node)
                .failure(Failure::Link, fault.kind())
                .increment(1),
            Observation::HeartbeatMissed {
                node: Some(node), ..
            } => self.series(*node).heartbeats_missed.increment(1),
            // Clients that named no node are not peers: logged, not counted.
            Observation::LinkOpened { .. }
            | Observation::LinkClosed { .. }
            | Observation::HeartbeatMissed { .. } => {}
        }
    }

    /// A link of `node` stopped reading for its handler budget.
    pub(crate) fn budget_wait(&mut self, node: NodeId) {
        self.series(node).budget_waits.increment(1);
    }

    /// Reads the pool's counts and states into their series.
    pub(crate) fn sample(&mut self, stats: &Stats) {
        self.links.set(stats.links as f64);
        for ((state, _), gauge) in STATES.iter().zip(&self.peers) {
            let count = stats.peers.iter().filter(|p| p.state == *state).count();
            gauge.set(count as f64);
        }
        let mut totals = (0usize, 0usize);
        let per_peer = self.per_peer;
        for peer in &stats.peers {
            let now = Counts {
                calls: peer.calls,
                bytes_in: peer.bytes_in,
                bytes_out: peer.bytes_out,
            };
            let before = self.last.insert(peer.node, now).unwrap_or_default();
            let series = self.series(peer.node);
            series.calls.increment(grown(before.calls, now.calls));
            series
                .bytes_received
                .increment(grown(before.bytes_in, now.bytes_in));
            series
                .bytes_sent
                .increment(grown(before.bytes_out, now.bytes_out));
            totals.0 += peer.in_flight;
            totals.1 += peer.queued;
            if per_peer {
                series
                    .up
                    .set(f64::from(u8::from(peer.state == PeerState::Up)));
                series.in_flight.set(peer.in_flight as f64);
                series.queued.set(peer.queued as f64);
            }
        }
        // Peers the pool forgot: their gauges say so, and their handles go. Series made by
        // observations alone (a node forgotten before any sample saw it) go too, or peers
        // naming ever new node ids would grow the map for good.
        let mut known: Vec<NodeId> = self.last.keys().copied().collect();
        known.extend(self.series.keys().filter_map(|key| *key));
        for node in known {
            if stats.peers.iter().all(|p| p.node != node) {
                self.last.remove(&node);
                if let Some(series) = self.series.remove(&Some(node)) {
                    series.up.set(0.0);
                    series.in_flight.set(0.0);
                    series.queued.set(0.0);
                }
            }
        }
        if !self.per_peer {
            let pool = self.series_for(None);
            pool.in_flight.set(totals.0 as f64);
            pool.queued.set(totals.1 as f64);
        }
    }

    /// The series `node`'s samples go to.
    fn series(&mut self, node: NodeId) -> &mut Series {
        let key = self.per_peer.then_some(node);
        self.series_for(key)
    }

    fn series_for(&mut self, key: Option<NodeId>) -> &mut Series {
        self.series.entry(key).or_insert_with(|| Series::new(key))
    }
}

/// Which failures a counter counts.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Call,
    Link,
}

impl Series {
    fn new(node: Option<NodeId>) -> Series {
        let labels: Vec<Label> = node
            .map(|node| Label::new("peer", node.0.to_string()))
            .into_iter()
            .collect();
        Series {
            up: gauge!("tether_peer_up", labels.iter()),
            calls: counter!("tether_peer_calls_total", labels.iter()),
            call_seconds: histogram!("tether_peer_call_seconds", labels.iter()),
            rtt_seconds: histogram!("tether_peer_rtt_seconds", labels.iter()),
            bytes_received: counter!("tether_peer_bytes_received_total", labels.iter()),
            bytes_sent: counter!("tether_peer_bytes_sent_total", labels.iter()),
            reconnects: counter!("tether_peer_reconnects_total", labels.iter()),
            heartbeats_missed: counter!("tether_peer_heartbeats_missed_total", labels.iter()),
            budget_waits: counter!("tether_peer_budget_waits_total", labels.iter()),
            in_flight: gauge!("tether_peer_calls_in_flight", labels.iter()),
            queued: gauge!("tether_peer_calls_queued", labels.iter()),
            call_failures: BTreeMap::new(),
            link_failures: BTreeMap::new(),
            labels,
        }
    }

    /// The counter of `kind` failures.
    fn failure(&mut self, which: Failure, kind: &'static str) -> &Counter {
        let (map, name) = match which {
            Failure::Call => (&mut self.call_failures, "tether_peer_call_failures_total"),
            Failure::Link => (&mut self.link_failures, "tether_peer_link_failures_total"),
        };
        let labels = &self.labels;
        map.entry(kind).or_insert_with(|| {
            let mut labels = labels.clone();
            labels.push(Label::new("kind", kind));
            counter!(name, labels)
        })
    }
}

/// How much a count grew since `before`; all of it if the pool started it again.
fn grown(before: u64, now: u64) -> u64 {
    now.checked_sub(before).unwrap_or(now)
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_started_again_grows_by_all_of_it() {
        assert_eq!(grown(5, 9), 4);
        assert_eq!(grown(9, 9), 0);
        assert_eq!(grown(9, 3), 3);
    }
}
