//! What the pool tells `tracing` (`tether_tests::pool_tracing`), recorded by a layer of
//! the process's subscriber, on tokio, async-std and smol, one after the other.

use tether_tests::runtime;
use tether_tests::trace_recorder::TraceRecorder;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn links_and_calls_have_spans_and_state_changes_events_on_every_runtime() {
    let recorded = TraceRecorder::default();
    let subscriber = tracing_subscriber::registry().with(recorded.clone());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    runtime::tokio::block_on(
        runtime::tokio::pool_tracing::links_and_calls_have_spans_and_state_changes_events(
            recorded.clone(),
        ),
    );
    runtime::async_std::block_on(
        runtime::async_std::pool_tracing::links_and_calls_have_spans_and_state_changes_events(
            recorded.clone(),
        ),
    );
    runtime::smol::block_on(
        runtime::smol::pool_tracing::links_and_calls_have_spans_and_state_changes_events(recorded),
    );
}
