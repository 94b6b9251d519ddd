//! The node's plain HTTP pages, answered on its own port beside the WebSocket upgrades:
//! `/` the dashboard, `/metrics` Prometheus text, `/health` where its Raft is.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tether_raft::kv::KvNode;
use tether_raft::openraft::TokioRuntime;
use tether_tokio::{Decision, Hook, HttpResponse, Identity, Tokio, UpgradeRequest};

/// The dashboard: static, and live over JSON-RPC on the browser's WebSocket.
const DASHBOARD: &str = include_str!("dashboard.html");

/// Histogram buckets of the pool's latencies, in seconds: 50 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder for the whole process (before the node starts, so the
/// pool's series go to it) and renders it on demand, without a listener of its own.
pub fn install_recorder() -> Result<PrometheusHandle, Box<dyn std::error::Error>> {
    Ok(PrometheusBuilder::new()
        .set_buckets(BUCKETS)?
        .install_recorder()?)
}

/// The node the pages are about: set once it has started (until then they answer 503).
pub type NodeCell = Arc<OnceLock<Arc<KvNode<Tokio, TokioRuntime>>>>;

/// The upgrade hook of the node's port: WebSocket upgrades go through as before (to the
/// pool: peers, clients, the dashboard's JavaScript); plain `GET`s of the pages are
/// answered here; anything else is refused.
pub fn hook(node: NodeCell, prometheus: PrometheusHandle) -> Hook {
    Hook::new(move |request: &UpgradeRequest| {
        if request.is_upgrade() {
            return Decision::Accept(Identity::anonymous());
        }
        if !matches!(request.method(), "GET" | "HEAD") {
            return Decision::Respond(HttpResponse::new(405).with_header("Allow", "GET, HEAD"));
        }
        let Some(node) = node.get() else {
            return Decision::Refuse(503);
        };
        match answer(request.path(), node, &prometheus) {
            Some((status, content_type, body)) => Decision::Respond(
                HttpResponse::new(status)
                    .with_header("Content-Type", content_type)
                    .with_header("Cache-Control", "no-store")
                    .with_body(body),
            ),
            None => Decision::Refuse(404),
        }
    })
}

/// The page at `path` (query ignored): status, content type and body; `None`: not one
/// of ours.
fn answer(
    path: &str,
    node: &KvNode<Tokio, TokioRuntime>,
    prometheus: &PrometheusHandle,
) -> Option<(u16, &'static str, Vec<u8>)> {
    let path = path.split('?').next().unwrap_or(path);
    match path {
        "/" | "/dashboard" => Some((
            200,
            "text/html; charset=utf-8",
            DASHBOARD.as_bytes().to_vec(),
        )),
        "/metrics" => {
            // The pool's counts as of now, then everything recorded.
            node.peers().record_metrics();
            Some((
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                prometheus.render().into_bytes(),
            ))
        }
        "/health" => {
            let m = node.metrics();
            let healthy = m.state != "Shutdown";
            let body = serde_json::json!({
                "status": if healthy { "ok" } else { "stopping" },
                "id": m.id,
                "state": m.state,
                "term": m.term,
                "leader": m.leader,
            });
            Some((
                if healthy { 200 } else { 503 },
                "application/json",
                body.to_string().into_bytes(),
            ))
        }
        _ => None,
    }
}
