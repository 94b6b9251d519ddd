//! A connection's wait for its server's shutdown: [`StopSignal`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::sync::watch;

use crate::gated::Gated;

type Wait = Pin<Box<dyn Future<Output = Instant> + Send>>;

/// Completes with the shutdown's deadline once the server that accepted the connection
/// shuts down; never if the server goes without one.
///
/// Made once per connection and kept across its driver's turns: a wait made afresh each
/// turn would join and leave the waiters of the watch that every connection of the server
/// shares, twice per message. And gated (see [`Gated`]): polling a registered wait again
/// takes that list's lock, so it is polled only when the watch woke it.
pub(crate) struct StopSignal(Gated<Wait>);

impl std::fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopSignal")
    }
}

impl StopSignal {
    /// A wait on `stop`, the server's [`Edge::stop_signal`](super::Edge::stop_signal).
    pub(crate) fn new(mut stop: watch::Receiver<Option<Instant>>) -> StopSignal {
        let wait: Wait = Box::pin(async move {
            // The watch's read guard goes at the end of this statement, before any wait.
            let deadline = stop.wait_for(Option::is_some).await.ok().and_then(|d| *d);
            match deadline {
                Some(deadline) => deadline,
                // A server gone without a shutdown stops nobody.
                None => std::future::pending().await,
            }
        });
        StopSignal(Gated::new(wait))
    }

    /// Ready with the deadline once the server shuts down.
    pub(crate) fn poll_stopped(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        self.0.poll_gated(cx)
    }
}
