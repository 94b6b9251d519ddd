//! What one replica's call came to, and what a replicated call decided.

/// How one call to one replica ended, as the adapter reports it.
///
/// The cluster layer's errors map onto it: `Unreachable` and `ConnectionLost { sent: false }`
/// are [`NotSent`](Outcome::NotSent) (the replica never saw the call), a lost link after
/// the call was written and `Remote(error)` are [`Failed`](Outcome::Failed), and the
/// call's own deadline is [`TimedOut`](Outcome::TimedOut). Only [`Ok`](Outcome::Ok)
/// counts towards a quorum: a replica that may or may not have applied a write is not a
/// success.
///
/// `E` is the caller's error type; the core only stores it for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<E> {
    /// The replica answered with a success.
    Ok,
    /// The replica answered with an error, or the link broke after the call was written.
    Failed(E),
    /// No answer came in time.
    TimedOut,
    /// The call was never written to the replica.
    NotSent,
}

impl<E> Outcome<E> {
    /// Whether this is [`Outcome::Ok`], the only outcome that counts as a success.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// Where a replicated call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not decided yet: more outcomes (or a deadline) are needed.
    Pending,
    /// Decided: the call succeeded. Final.
    Succeeded,
    /// Decided: the call failed. Final.
    Failed,
}

impl Verdict {
    /// Whether the verdict is final (not [`Verdict::Pending`]).
    pub fn is_decided(self) -> bool {
        self != Verdict::Pending
    }
}
