//! What the store's scenarios share: waiting on any runtime, and running a scenario on
//! tokio or on smol.

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

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

/// Runs `scenario` on a two-thread tokio runtime.
pub fn on_tokio<F: Future<Output = ()>>(scenario: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(scenario);
}

/// Runs `scenario` on smol's executor (async-global-executor, where tether-async-std and
/// `SmolRuntime` spawn).
pub fn on_smol<F: Future<Output = ()>>(scenario: F) {
    async_global_executor::block_on(scenario);
}
