//! Where driver tasks run: see "Tasks" in the crate docs.

use std::future::Future;
use std::time::Duration;

use async_io::Timer;
use futures_lite::FutureExt;

/// Runs `task` to completion in the background, on the global executor.
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    async_global_executor::spawn(task).detach();
}

/// `task`'s output, or `None` if it took longer than `limit`.
pub(crate) async fn timeout<T>(limit: Duration, task: impl Future<Output = T>) -> Option<T> {
    async { Some(task.await) }
        .or(async {
            Timer::after(limit).await;
            None
        })
        .await
}
