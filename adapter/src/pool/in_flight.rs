//! Calls to several nodes at once, taken as they end: [`InFlight`].

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use futures_lite::future;

use serde_json::value::RawValue;
use tether_core::pool::NodeId;

use super::NodeError;
use crate::runtime::{sleep_until, Timer};

type Ending = Pin<Box<dyn Future<Output = Result<Box<RawValue>, NodeError>> + Send>>;

/// A handful of calls (one per replica) polled together. Dropping it drops the calls
/// still in flight, which cancels them.
#[derive(Default)]
pub(crate) struct InFlight {
    calls: Vec<(NodeId, Ending)>,
}

impl InFlight {
    pub(crate) fn push(
        &mut self,
        node: NodeId,
        call: impl Future<Output = Result<Box<RawValue>, NodeError>> + Send + 'static,
    ) {
        self.calls.push((node, Box::pin(call)));
    }

    /// Stops waiting for `node`'s call (cancelling it).
    pub(crate) fn drop_node(&mut self, node: NodeId) {
        self.calls.retain(|(n, _)| *n != node);
    }

    /// The next call to end and how, or `None` once `at` passes (on `timer`, re-armed);
    /// with no call and no `at`, never.
    pub(crate) async fn next_until(
        &mut self,
        timer: &mut impl Timer,
        at: Option<Instant>,
    ) -> Option<(NodeId, Result<Box<RawValue>, NodeError>)> {
        let ended = async {
            if self.calls.is_empty() {
                future::pending().await
            } else {
                Some(self.next().await)
            }
        };
        future::or(ended, async {
            sleep_until(timer, at).await;
            None
        })
        .await
    }

    /// The next call to end, and how; never completes while empty. Polls every call each
    /// time: there are as many as replicas, a few.
    async fn next(&mut self) -> (NodeId, Result<Box<RawValue>, NodeError>) {
        poll_fn(|cx| {
            for i in 0..self.calls.len() {
                if let Some((node, call)) = self.calls.get_mut(i) {
                    if let Poll::Ready(result) = call.as_mut().poll(cx) {
                        let node = *node;
                        // Done with: dropping it is all that is left.
                        drop(self.calls.swap_remove(i));
                        return Poll::Ready((node, result));
                    }
                }
            }
            Poll::Pending
        })
        .await
    }
}
