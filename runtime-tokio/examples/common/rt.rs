//! What the shared example bodies (`examples/shared/` at the repository root) need of an
//! executor, on tokio's.

use std::future::Future;
use std::time::Duration;

/// The agent name in Autobahn's reports.
pub const AGENT: &str = "tether-tokio";

/// Runs `body` on a multi-threaded tokio runtime.
pub fn block_on<F: Future>(body: F) -> F::Output {
    tokio::runtime::Runtime::new()
        .expect("a tokio runtime")
        .block_on(body)
}

/// Waits `duration`.
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}
