//! What the shared example bodies (`examples/shared/` at the repository root) need of an
//! executor, on smol's: a spawn that detaches, and a sleep.

#![allow(dead_code)] // each example uses what it needs

use std::future::Future;
use std::time::Duration;

/// Runs `task` in the background.
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    smol::spawn(task).detach();
}

/// Waits `duration`.
pub async fn sleep(duration: Duration) {
    smol::Timer::after(duration).await;
}
