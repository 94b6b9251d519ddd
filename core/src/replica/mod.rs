//! Replicated calls: a write to every replica decided by a majority, a read that fails
//! over from replica to replica, and retries, each under a budget.
//!
//! These types only decide; the adapter sends the calls (through the peer pool) and feeds
//! back how each ended as an [`Outcome`]. Like the rest of the core they never read a
//! clock (inputs that depend on time take `now`) and draw no randomness.

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
