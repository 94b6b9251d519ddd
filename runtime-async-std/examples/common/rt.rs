//! What the shared example bodies (`examples/shared/` at the repository root) need of an
//! executor: smol's `block_on` for `main`, and the drivers' executor for every task, so a
//! connection's task and its driver hand messages over without crossing executors.

use std::future::Future;
use std::time::Duration;

/// The agent name in Autobahn's reports.
pub const AGENT: &str = "tether-async-std";

/// Runs `body` on smol's executor for the current thread (the drivers run on the global
/// executor; see the crate docs).
pub fn block_on<F: Future>(body: F) -> F::Output {
    smol::block_on(body)
}

/// Runs `task` in the background, on the executor the drivers run on (see "Tasks" in
/// tether-async-std's docs).
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    <tether_async_std::AsyncStd as tether_async_std::Runtime>::spawn(task);
}

/// Waits `duration`.
pub async fn sleep(duration: Duration) {
    smol::Timer::after(duration).await;
}
