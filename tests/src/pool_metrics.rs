//! The pool's series in the `metrics` facade (the `metrics` feature), read back through
//! `metrics-util`'s debugging recorder: per-peer counts, latencies and gauges after a known
//! number of calls, a budget wait when a peer's requests fill the handler budget, and one
//! unlabelled series per metric when per-peer labels are off. Written once, run on every
//! runtime by `tests/tests/pool_metrics.rs`, one runtime after the other: the recorder is
//! the process's, and its counters are read as differences.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, Snapshotter};
use metrics_util::MetricKind;
use serde_json::{json, Value};

use super::adapter::pool::{MetricsConfig, NodeId, Peers, PeersConfig};
use super::adapter::rpc::{ErrorObject, Router};
use super::rt;
use crate::runtime::timeout;

const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

/// What a snapshot holds, by name and sorted labels.
#[derive(Debug, Default)]
pub struct Seen {
    counters: BTreeMap<(String, Vec<(String, String)>), u64>,
    gauges: BTreeMap<(String, Vec<(String, String)>), f64>,
    histograms: BTreeMap<(String, Vec<(String, String)>), usize>,
}

impl Seen {
    /// What the recorder got since the last snapshot (counters and histograms), and the
    /// gauges as they are.
    pub fn take(snapshotter: &Snapshotter) -> Seen {
        let mut seen = Seen::default();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let id = (key.name().to_owned(), labels);
            match (kind, value) {
                (MetricKind::Counter, DebugValue::Counter(n)) => {
                    seen.counters.insert(id, n);
                }
                (MetricKind::Gauge, DebugValue::Gauge(g)) => {
                    seen.gauges.insert(id, g.into_inner());
                }
                (MetricKind::Histogram, DebugValue::Histogram(values)) => {
                    seen.histograms.insert(id, values.len());
                }
                other => panic!("a {other:?}"),
            }
        }
        seen
    }

    fn id(name: &str, labels: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        (name.to_owned(), labels)
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .get(&Self::id(name, labels))
            .copied()
            .unwrap_or(0)
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.gauges.get(&Self::id(name, labels)).copied()
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.histograms
            .get(&Self::id(name, labels))
            .copied()
            .unwrap_or(0)
    }
}

fn router() -> Router {
    let mut router = Router::default();
    router.insert("echo", |params: Value| async move {
        Ok::<_, ErrorObject>(params)
    });
    router.insert("slow", |params: Value| async move {
        rt::sleep(Duration::from_millis(200)).await;
        Ok::<_, ErrorObject>(params)
    });
    router
}

async fn node(id: u64, per_peer: bool, max_handlers: usize) -> Peers {
    let config = PeersConfig {
        metrics: MetricsConfig {
            per_peer,
            // Read when the scenario says, so the counts are exactly the calls made.
            interval: None,
            ..MetricsConfig::default()
        },
        max_handlers_per_link: max_handlers,
        ..PeersConfig::new(NodeId(id))
    };
    Peers::bind("127.0.0.1:0", config, router())
        .await
        .expect("bind")
}

fn url(peers: &Peers) -> String {
    format!("ws://{}/", peers.local_addr().expect("bound"))
}

/// Ten calls from node 1 to node 2 are ten in `tether_peer_calls_total{peer="2"}` and ten
/// latencies; node 2 with a budget of one handler, sent three slow calls at once, stops
/// reading once and counts it; node 3 without per-peer labels counts its calls in one
/// unlabelled series.
pub async fn per_peer_series_count_what_the_pool_did(snapshotter: Arc<Snapshotter>) {
    let one = node(1, true, 256).await;
    let two = node(2, true, 1).await;
    let three = node(3, false, 256).await;
    one.add_peer(NodeId(2), &url(&two)).expect("url");
    three.add_peer(NodeId(2), &url(&two)).expect("url");
    Seen::take(&snapshotter);

    for n in 0..10 {
        let answer: Value = bounded("a call", one.call(NodeId(2), "echo", &[n]))
            .await
            .expect("answer");
        assert_eq!(answer, json!([n]));
    }
    one.record_metrics();
    let seen = Seen::take(&snapshotter);
    let peer = [("peer", "2")];
    assert_eq!(
        seen.counter("tether_peer_calls_total", &peer),
        10,
        "{seen:?}"
    );
    assert_eq!(seen.histogram("tether_peer_call_seconds", &peer), 10);
    assert!(seen.counter("tether_peer_bytes_sent_total", &peer) > 0);
    assert!(seen.counter("tether_peer_bytes_received_total", &peer) > 0);
    assert_eq!(seen.gauge("tether_peer_up", &peer), Some(1.0));
    assert_eq!(seen.gauge("tether_peer_calls_in_flight", &peer), Some(0.0));
    assert_eq!(
        seen.gauge("tether_pool_peers", &[("state", "up")]),
        Some(1.0)
    );

    // Three slow calls at once to a node that handles one at a time.
    let calls: Vec<_> = (0..3)
        .map(|n| {
            let one = one.clone();
            rt::spawn_task(async move { one.call::<_, Value>(NodeId(2), "slow", &[n]).await })
        })
        .collect();
    for call in calls {
        bounded("a slow call", call.join()).await.expect("answer");
    }
    let seen = Seen::take(&snapshotter);
    assert!(
        seen.counter("tether_peer_budget_waits_total", &[("peer", "1")]) >= 1,
        "node 2 never waited for its handler budget: {seen:?}"
    );

    // Without per-peer labels: one series, no `peer`.
    for n in 0..5 {
        let _: Value = bounded("a call", three.call(NodeId(2), "echo", &[n]))
            .await
            .expect("answer");
    }
    three.record_metrics();
    let seen = Seen::take(&snapshotter);
    assert_eq!(seen.counter("tether_peer_calls_total", &[]), 5, "{seen:?}");
    assert_eq!(seen.histogram("tether_peer_call_seconds", &[]), 5);
    assert_eq!(
        seen.counter("tether_peer_calls_total", &peer),
        0,
        "{seen:?}"
    );

    for pool in [one, two, three] {
        bounded("shutdown", pool.shutdown(Duration::from_secs(1))).await;
    }
}
