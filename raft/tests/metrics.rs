//! `/metrics` and `/health` of the `node` example, scraped over plain HTTP on its own port:
//! the text parses as Prometheus' exposition format (strictly, `common::prometheus`), and
//! the per-peer series move as the nodes call each other: calls, bytes and latencies grow,
//! a killed peer's `tether_peer_up` drops to 0 and its failures are counted by kind.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::processes::{http_get, init_cluster, NodeProcess};
use common::prometheus::{self, Exposition};

/// How long a series may take to show what happened (the pool's counts are read at each
/// scrape; Raft's heartbeats go every 100 ms, the pool's pings every second).
const WAIT: Duration = Duration::from_secs(20);

fn scrape(addr: &str) -> Exposition {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    prometheus::parse(&body).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{body}"))
}

/// Scrapes `addr` until `check` holds, for [`WAIT`] at most.
fn until(addr: &str, what: &str, check: impl Fn(&Exposition) -> bool) -> Exposition {
    let end = Instant::now() + WAIT;
    loop {
        let metrics = scrape(addr);
        if check(&metrics) {
            return metrics;
        }
        assert!(Instant::now() < end, "{what}: not after {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn value(metrics: &Exposition, name: &str, peer: &str) -> f64 {
    metrics.value(name, &[("peer", peer)]).unwrap_or(0.0)
}

#[test]
fn per_peer_series_move_as_the_nodes_call_each_other() {
    let mut nodes: BTreeMap<u64, NodeProcess> = (1..=3)
        .map(|id| (id, NodeProcess::start(id, "127.0.0.1:0", &[])))
        .collect();
    let addr = nodes[&1].addr.clone();

    // Before the cluster: a node with no peer called yet still serves valid text.
    scrape(&addr);
    let (status, health) = http_get(&addr, "/health");
    assert_eq!(status, 200, "{health}");
    let health: serde_json::Value = serde_json::from_str(&health).expect("/health is JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["id"], 1);

    // The leader calls both followers all the time (appends, heartbeats): its pool is the
    // one to watch.
    let leader = common::on_tokio_with(async {
        let clients = init_cluster(&nodes).await;
        let leader = common::agreed_leader(&clients).await;
        for i in 0..20 {
            common::write(&clients[&1], &format!("key{i}"), "value").await;
        }
        leader
    });
    let addr = nodes[&leader].addr.clone();
    let followers: Vec<String> = nodes
        .keys()
        .filter(|id| **id != leader)
        .map(u64::to_string)
        .collect();
    let (live, victim) = (followers[0].as_str(), followers[1].as_str());

    // The leader has called both followers, timed the calls and the pings.
    let first = until(&addr, "calls to both followers", |m| {
        followers.iter().all(|p| {
            value(m, "tether_peer_calls_total", p) > 0.0
                && value(m, "tether_peer_call_seconds_count", p) > 0.0
                && value(m, "tether_peer_rtt_seconds_count", p) > 0.0
                && value(m, "tether_peer_up", p) == 1.0
        })
    });
    for family in [
        "tether_peer_calls_total",
        "tether_peer_bytes_sent_total",
        "tether_peer_bytes_received_total",
    ] {
        assert_eq!(
            first.types.get(family).map(String::as_str),
            Some("counter"),
            "{family}"
        );
    }
    for family in ["tether_peer_call_seconds", "tether_peer_rtt_seconds"] {
        assert_eq!(
            first.types.get(family).map(String::as_str),
            Some("histogram"),
            "{family}"
        );
    }
    assert_eq!(
        first.value("tether_pool_peers", &[("state", "up")]),
        Some(2.0)
    );

    // And goes on calling them: every per-peer series of traffic grows.
    let later = until(&addr, "the series to grow", |m| {
        followers.iter().all(|p| {
            [
                "tether_peer_calls_total",
                "tether_peer_bytes_sent_total",
                "tether_peer_bytes_received_total",
                "tether_peer_call_seconds_count",
            ]
            .iter()
            .all(|name| value(m, name, p) > value(&first, name, p))
        })
    });
    assert!(value(&later, "tether_peer_call_seconds_sum", live) > 0.0);

    // A follower dies: its series say so, the other's do not.
    let victim_id: u64 = victim.parse().expect("an id");
    drop(nodes.remove(&victim_id));
    let failures = |m: &Exposition, peer: &str| -> f64 {
        m.samples
            .iter()
            .filter(|s| {
                s.name == "tether_peer_link_failures_total"
                    && s.labels.get("peer").map(String::as_str) == Some(peer)
            })
            .map(|s| s.value)
            .sum()
    };
    let after = until(&addr, "the killed follower down", |m| {
        value(m, "tether_peer_up", victim) == 0.0 && failures(m, victim) > 0.0
    });
    assert_eq!(value(&after, "tether_peer_up", live), 1.0);
    assert_eq!(
        after.value("tether_pool_peers", &[("state", "up")]),
        Some(1.0)
    );
    assert_eq!(
        failures(&after, live),
        0.0,
        "the live follower's link never failed"
    );
}

/// The reader is strict: each of these breaks one rule and is refused.
#[test]
fn the_reader_refuses_what_prometheus_would() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{peer=\"2\"} 3\n\
                # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n";
    let parsed = prometheus::parse(good).expect("valid text");
    assert_eq!(parsed.value("a_total", &[("peer", "2")]), Some(3.0));
    for bad in [
        "a_total 3\n",                                    // no TYPE
        "# TYPE a_total counter\na_total 3\na_total 4\n", // a series twice
        "# TYPE a_total counter\na_total{peer=2} 3\n",    // unquoted value
        "# TYPE a_total counter\na_total{peer=\"2\" 3\n", // unterminated labels
        "# TYPE a_total counter\na_total -1\n",           // a counter below 0
        "# TYPE a_total counter\na_total three\n",        // not a number
        "# TYPE a_total bogus\na_total 3\n",              // unknown type
        "# TYPE h histogram\nh_bucket{le=\"0.1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", // not cumulative
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", // +Inf is not count
    ] {
        assert!(prometheus::parse(bad).is_err(), "accepted {bad:?}");
    }
}
