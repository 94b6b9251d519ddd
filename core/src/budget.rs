//! What one connection holds for its peer, counted against the connection's budget
//! ([`ws::Config::budget`](crate::ws::Config::budget)).
//!
//! A peer decides what we hold for it: the bytes it sends, the requests it makes us run,
//! the replies it leaves unread. Each connection counts them in a [`Held`], in three parts,
//! and is read only while the total stays below the budget:
//!
//! - `input`: bytes read and not yet handed over: unparsed input, a message being
//!   assembled (inflated, if compressed), a message parsed and not yet taken.
//! - `handling`: what the peer asked for and the owner is working on: requests waiting for
//!   a handler, requests whose handlers run (their size), messages waiting for the
//!   application to receive them.
//! - `unwritten`: what we owe the peer and have not written: replies and messages queued
//!   in the connection, answers of a batch waiting for the rest of it, bytes handed to the
//!   socket and not yet taken by it.
//!
//! The rules are the same everywhere:
//!
//! - A connection's owner reads its socket only while what it holds besides the message
//!   in progress (being assembled, or parsed and waiting to be taken) is under the budget
//!   ([`Held::reads`]). The message in progress is let in whole: a message larger than
//!   the budget would otherwise wait for ever.
//! - It takes its next message, the one that makes more work, only while the work already
//!   taken (`handling` and `unwritten`) is under the budget ([`Held::takes_next`]). Bytes
//!   already read wait raw, as they came.
//!
//! So a peer that stops reading, or that sends faster than handlers finish, finds itself
//! waiting in its own socket: nothing is dropped, nothing reordered. A connection holds
//! at most the budget, one socket read, and one message with what handling it adds (its
//! replies).
//!
//! The core counts what it holds itself (the connection, the [`rpc::Channel`](crate::rpc::Channel));
//! an owner tells it what it holds outside ([`rpc::Channel::set_outside`](crate::rpc::Channel::set_outside)).

use std::ops::Add;

/// Bytes one connection holds for its peer; see the module docs.
///
/// ```
/// use tether_core::budget::Held;
///
/// let held = Held { input: 10, handling: 20, unwritten: 30 };
/// assert_eq!(held.total(), 60);
/// assert!(held.within(61));
/// assert!(!held.within(60));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Read and not yet handed over.
    pub input: usize,
    /// Taken from the peer and being worked on.
    pub handling: usize,
    /// Owed to the peer and not yet written.
    pub unwritten: usize,
}

impl Held {
    /// All of it.
    pub fn total(&self) -> usize {
        self.input
            .saturating_add(self.handling)
            .saturating_add(self.unwritten)
    }

    /// Whether the total is under `budget`.
    pub fn within(&self, budget: usize) -> bool {
        self.total() < budget
    }

    /// Whether a connection holding this may read its socket under `budget`: what it
    /// holds besides `message`, the bytes of the message in progress (counted in
    /// `input`), is under the budget.
    ///
    /// ```
    /// use tether_core::budget::Held;
    ///
    /// // A 20-byte message under a budget of 16 is still read whole…
    /// let held = Held { input: 20, handling: 0, unwritten: 0 };
    /// assert!(held.reads(20, 16));
    /// // …but not while 16 bytes of replies wait for the peer to read them.
    /// let held = Held { unwritten: 16, ..held };
    /// assert!(!held.reads(20, 16));
    /// ```
    pub fn reads(&self, message: usize, budget: usize) -> bool {
        self.total().saturating_sub(message) < budget
    }

    /// Whether a connection holding this may take its next message under `budget`: the
    /// work already taken (`handling` plus `unwritten`) is under the budget.
    pub fn takes_next(&self, budget: usize) -> bool {
        self.handling.saturating_add(self.unwritten) < budget
    }
}

impl Add for Held {
    type Output = Held;

    fn add(self, other: Held) -> Held {
        Held {
            input: self.input.saturating_add(other.input),
            handling: self.handling.saturating_add(other.handling),
            unwritten: self.unwritten.saturating_add(other.unwritten),
        }
    }
}
