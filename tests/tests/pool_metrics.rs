//! The pool's metrics (`tether_tests::pool_metrics`), read back through `metrics-util`'s
//! debugging recorder, on tokio, async-std and smol. One test runs the three runtimes one
//! after the other: the recorder is the process's, and its counters are read as
//! differences, so two pools of two runtimes at once would count in each other's reading.

use std::sync::Arc;

use metrics_util::debugging::DebuggingRecorder;
use tether_tests::runtime;

#[test]
fn per_peer_series_count_what_the_pool_did_on_every_runtime() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = Arc::new(recorder.snapshotter());
    recorder
        .install()
        .expect("the only recorder of this process");
    runtime::tokio::block_on(
        runtime::tokio::pool_metrics::per_peer_series_count_what_the_pool_did(snapshotter.clone()),
    );
    runtime::async_std::block_on(
        runtime::async_std::pool_metrics::per_peer_series_count_what_the_pool_did(
            snapshotter.clone(),
        ),
    );
    runtime::smol::block_on(
        runtime::smol::pool_metrics::per_peer_series_count_what_the_pool_did(snapshotter),
    );
}
