//! Replicated calls: a write to every replica decided by a majority.
//!
//! These types only decide; the adapter sends the calls (through the peer pool) and feeds
//! back how each ended as an [`Outcome`]. Like the rest of the core they never read a
//! clock (inputs that depend on time take `now`) and draw no randomness.

mod nodes;
mod outcome;
mod quorum;
mod tally;

pub use outcome::{Outcome, Verdict};
pub use quorum::Quorum;
