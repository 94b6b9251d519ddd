//! What the shared example bodies (`examples/shared/` at the repository root) need of an
//! executor: smol's `block_on` for `main`. Every task (drivers, connection handlers) runs on
//! the drivers' executor; see the crate docs.

use std::future::Future;
use std::time::Duration;

/// The agent name in Autobahn's reports.
pub const AGENT: &str = "tether-async-std";

/// Runs `body` on smol's executor for the current thread (the drivers run on the global
/// executor; see the crate docs).
pub fn block_on<F: Future>(body: F) -> F::Output {
    smol::block_on(body)
}

/// Waits `duration`.
pub async fn sleep(duration: Duration) {
    smol::Timer::after(duration).await;
}
