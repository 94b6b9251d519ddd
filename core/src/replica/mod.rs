//! Replicated calls: a write to every replica decided by a majority, a read that fails
//! over from replica to replica, and retries, each under a budget.
//!
//! These types only decide; the adapter sends the calls (through the peer pool) and feeds
//! back how each ended as an [`Outcome`]. Like the rest of the core they never read a
//! clock (inputs that depend on time take `now`) and draw no randomness: the same
//! outcomes in the same order give the same decisions.
//!
//! | type | decides |
//! |---|---|
//! | [`Quorum`] | whether a write sent to all replicas succeeded: a majority of successes, failing as soon as that is out of reach, with a report of every replica |
//! | [`Failover`] | which replica a read asks next: one at a time in the given or [latency](Order::Latency) order, hedged after a slow replica's [`hedge_after`](Candidate::hedge_after) |
//! | [`HedgeBudget`] | whether a read may send a hedge: a share of all reads (5 %) |
//! | [`RetryPolicy`] | whether and when a failed call is tried again: attempts and delays |
//! | [`RetryBudget`] | whether the cluster can take that retry: a share of requests plus a floor per second |
//!
//! One client keeps one [`HedgeBudget`] and one [`RetryBudget`] for all its calls; a
//! [`Quorum`] or a [`Failover`] lives for one call.
//!
//! # Run loop
//!
//! The adapter drives a write like this:
//!
//! 1. Build the [`Quorum`] with the replicas and the deadline; send the call to each of
//!    [`Quorum::replicas`].
//! 2. Wait for the next call to end or for [`Quorum::poll_timeout`]; feed it with the
//!    time: [`Quorum::record`] or [`Quorum::handle_timeout`].
//! 3. Once [`Quorum::is_decided`], answer the caller with the [`Verdict`]; once
//!    [`Quorum::is_finished`], cancel the calls still [`unanswered`](Quorum::unanswered),
//!    keep the [`report`](Quorum::report) for the logs, and stop. Else go to 2.
//!
//! And a read:
//!
//! 1. Build the [`Failover`] with the [`Candidate`]s and their measured latencies.
//! 2. Send a call to every node [`Failover::next`] gives, until it gives `None`.
//! 3. Once [`Failover::verdict`] is decided, cancel the calls still
//!    [`in_flight`](Failover::in_flight) and answer with the [`winner`](Failover::winner)'s
//!    response or, on failure, the [`attempts`](Failover::attempts).
//! 4. Wait for a call to end ([`Failover::record`]) or for [`Failover::poll_timeout`]
//!    ([`Failover::handle_timeout`]); go to 2.
//!
//! After `handle_timeout(now)`, `poll_timeout()` is `None` or later than `now`.
//!
//! A failed call (to one peer, or a whole replicated read or write) asks
//! [`RetryPolicy::retry_after`] whether to try again, sleeps the delay it gives, and calls
//! again; every first attempt is recorded with [`RetryBudget::record_request`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tether_core::pool::NodeId;
//! use tether_core::replica::{Outcome, Quorum, Verdict};
//!
//! let start = Instant::now();
//! let mut write: Quorum<String> =
//!     Quorum::new([1, 2, 3].map(NodeId), start + Duration::from_secs(2))
//!         .with_grace(Duration::from_millis(50));
//! // ... the adapter sends the write to nodes 1, 2 and 3; two answer ...
//! let t = start + Duration::from_millis(8);
//! write.record(t, NodeId(3), Outcome::Ok);
//! write.record(t, NodeId(1), Outcome::Ok);
//! assert_eq!(write.verdict(), Verdict::Succeeded); // answer the caller now
//! assert_eq!(write.poll_timeout(), Some(t + Duration::from_millis(50)));
//! write.handle_timeout(t + Duration::from_millis(50));
//! assert!(write.is_finished());
//! assert_eq!(write.unanswered().collect::<Vec<_>>(), [NodeId(2)]); // cancel it
//! ```

mod bucket;
mod candidate;
mod failover;
mod hedge;
mod nodes;
mod outcome;
mod quorum;
mod retry;
mod retry_budget;
mod tally;

pub use candidate::{Candidate, Order};
pub use failover::Failover;
pub use hedge::HedgeBudget;
pub use outcome::{Outcome, Verdict};
pub use quorum::Quorum;
pub use retry::{GiveUp, RetryPolicy};
pub use retry_budget::RetryBudget;
