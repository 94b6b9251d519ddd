//! What a pool tells `tracing`, as a subscriber sees it ([`TraceRecorder`]): a span per link
//! (id, generation, node, address; on both ends) and per call (node, method, id), and the
//! events of a node going up, and down when its peer dies. Written once, run on every
//! runtime by `tests/tests/pool_tracing.rs`, one runtime after the other (the subscriber is
//! the process's).

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use super::adapter::pool::{NodeId, Peers, PeersConfig};
use super::adapter::rpc::{ErrorObject, Router};
use super::rt;
use crate::runtime::timeout;
use crate::trace_recorder::TraceRecorder;

const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

async fn node(id: u64) -> Peers {
    let mut router = Router::default();
    router.insert("echo", |params: Value| async move {
        Ok::<_, ErrorObject>(params)
    });
    Peers::bind("127.0.0.1:0", PeersConfig::new(NodeId(id)), router)
        .await
        .expect("bind")
}

/// Node 1 calls node 2: a `link` span on each end, a `call` span naming the method and the
/// call's id, `peer` events for node 2 going up; node 2 shut down: node 2 goes idle, not
/// down (a clean close is no failure); node 1 calls it again: it is down.
pub async fn links_and_calls_have_spans_and_state_changes_events(recorded: TraceRecorder) {
    let one = node(1).await;
    let two = node(2).await;
    let addr = two.local_addr().expect("bound");
    one.add_peer(NodeId(2), &format!("ws://{addr}/"))
        .expect("url");
    recorded.clear();

    let answer: Value = bounded("a call", one.call(NodeId(2), "echo", &[7]))
        .await
        .expect("answer");
    assert_eq!(answer, serde_json::json!([7]));
    let calls = recorded.spans("call");
    assert!(
        calls
            .iter()
            .any(|f| f.get("method").map(String::as_str) == Some("echo")
                && f.get("node").map(String::as_str) == Some("2")
                && f.get("id").is_some_and(|id| id.parse::<u64>().is_ok())),
        "no call span: {calls:?}"
    );
    let links = recorded.spans("link");
    let dialed = links
        .iter()
        .find(|f| f.get("dialed").map(String::as_str) == Some("true"))
        .unwrap_or_else(|| panic!("no dialed link span: {links:?}"));
    assert_eq!(dialed.get("node").map(String::as_str), Some("2"));
    assert_eq!(dialed.get("addr"), Some(&addr.to_string()));
    assert!(dialed.get("link").is_some_and(|l| l.starts_with("link ")));
    assert!(dialed.contains_key("generation"));
    // Node 2's end names the link once the pool took it.
    let accepted = links
        .iter()
        .find(|f| f.get("dialed").map(String::as_str) == Some("false"))
        .unwrap_or_else(|| panic!("no accepted link span: {links:?}"));
    assert!(
        accepted.get("link").is_some_and(|l| l.starts_with("link ")),
        "{accepted:?}"
    );
    assert!(accepted.contains_key("addr"));
    let up = recorded.events("peer");
    assert!(
        up.iter()
            .any(|f| f.get("node").map(String::as_str) == Some("2")
                && f.get("state").map(String::as_str) == Some("Up")),
        "no event of node 2 up: {up:?}"
    );

    // Node 2 is gone; a call to it finds it down.
    bounded("shutdown", two.shutdown(Duration::from_secs(1))).await;
    drop(two);
    let failed = bounded("a call to a node shut down", async {
        loop {
            if one.call::<_, Value>(NodeId(2), "echo", &[8]).await.is_err() {
                break;
            }
            rt::sleep(Duration::from_millis(20)).await;
        }
    });
    failed.await;
    let states = recorded.events("peer");
    assert!(
        states
            .iter()
            .any(|f| f.get("node").map(String::as_str) == Some("2")
                && f.get("state").map(String::as_str) == Some("Down")),
        "no event of node 2 down: {states:?}"
    );
    bounded("shutdown", one.shutdown(Duration::from_secs(1))).await;
}
