//! What the store's scenarios share: waiting on any runtime, running a scenario on tokio or
//! on smol, the store's calls as a client makes them, and a network that can be cut
//! ([`partition`]).

#![allow(dead_code)]

pub mod partition;
pub mod processes;
pub mod prometheus;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use tether_adapter::rpc::{CallError, Client};
use tether_adapter::Runtime;
use tether_raft::kv::{self, Kv, KvNode, Metrics, Read, Request, Value, Write, Written};
use tether_raft::openraft::async_runtime::WatchReceiver;
use tether_raft::openraft::{AsyncRuntime, RaftMetrics};

/// Sleeps on `async-io`'s timer, which runs under any executor.
pub async fn sleep(duration: Duration) {
    async_io::Timer::after(duration).await;
}

/// Waits up to `limit` for `check` to give something.
pub async fn eventually<T>(limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < end, "gave up after {limit:?}");
        sleep(Duration::from_millis(50)).await;
    }
}

/// `work`'s output, or a panic naming `what` if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, what: &str, work: impl Future<Output = T>) -> T {
    let timer = async {
        sleep(limit).await;
        None
    };
    futures_lite::future::or(async { Some(work.await) }, timer)
        .await
        .unwrap_or_else(|| panic!("{what}: not done after {limit:?}"))
}

/// Waits up to `limit` until `node`'s Raft metrics satisfy `done` (woken by each change,
/// not polled), and gives them; panics with `what` and the metrics past `limit`.
pub async fn until<R: Runtime, Rt: AsyncRuntime>(
    node: &KvNode<R, Rt>,
    limit: Duration,
    what: &str,
    done: impl Fn(&RaftMetrics<Kv<Rt>>) -> bool + Send,
) -> RaftMetrics<Kv<Rt>> {
    match node.raft().wait(Some(limit)).metrics(done, what).await {
        Ok(metrics) => metrics,
        Err(e) => panic!(
            "node {}: {e}; metrics: {}",
            node.id(),
            node.raft().metrics().borrow_watched().clone()
        ),
    }
}

/// Runs `scenario` on a two-thread tokio runtime.
pub fn on_tokio<F: Future<Output = ()>>(scenario: F) {
    on_tokio_with(scenario);
}

/// Runs `scenario` on a two-thread tokio runtime and gives its output.
pub fn on_tokio_with<T, F: Future<Output = T>>(scenario: F) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(scenario)
}

/// Runs `scenario` on smol's executor (async-global-executor, where tether-async-std and
/// `SmolRuntime` spawn).
pub fn on_smol<F: Future<Output = ()>>(scenario: F) {
    async_global_executor::block_on(scenario);
}

/// The leader every client's node agrees on, once they agree.
pub async fn agreed_leader<R: Runtime>(clients: &BTreeMap<u64, Client<R>>) -> u64 {
    eventually(Duration::from_secs(15), async || {
        let mut leaders = Vec::new();
        for client in clients.values() {
            let metrics: Metrics = client.call(kv::METRICS, &()).await.ok()?;
            leaders.push(metrics.leader?);
        }
        leaders.dedup();
        (leaders.len() == 1 && clients.contains_key(&leaders[0])).then(|| leaders[0])
    })
    .await
}

/// `key=value` as `kv/write`'s params.
pub fn set(key: &str, value: &str) -> Write {
    Write {
        request: Request::Set {
            key: key.into(),
            value: value.into(),
        },
        forwarded: false,
    }
}

/// Writes `key=value` through `client`'s node until one attempt is acknowledged.
pub async fn write<R: Runtime>(client: &Client<R>, key: &str, value: &str) -> Written {
    let params = set(key, value);
    eventually(Duration::from_secs(15), async || {
        match client.call::<_, Written>(kv::WRITE, &params).await {
            Ok(written) => Some(written),
            Err(CallError::Rpc(e)) => {
                eprintln!("write {key}: {} {}", e.code, e.message);
                None
            }
            Err(e) => {
                eprintln!("write {key}: {e}");
                None
            }
        }
    })
    .await
}

/// `key`'s value by a linearizable read through `client`'s node, retried until one
/// attempt answers.
pub async fn read<R: Runtime>(client: &Client<R>, key: &str) -> Option<String> {
    let params = Read { key: key.into() };
    eventually(Duration::from_secs(15), async || {
        client.call::<_, Value>(kv::READ, &params).await.ok()
    })
    .await
    .value
}
