//! What a pool measured, one sample at a time: the stream a driver turns into metrics and
//! log events.
//!
//! [`Stats`](super::Stats) says where every node is now; an [`Observation`] says what
//! happened once: one round trip, one call's end and its latency, one link opened or
//! closed, one heartbeat gone unanswered. Histograms and counters by kind are built from
//! these. The pool keeps them only when [`Config::observe`](super::Config::observe) is on,
//! so a driver that exports nothing pays nothing.

use std::time::Duration;

use super::{Fault, Lane, LinkId, NodeId};
use crate::rpc::EndReason;

/// One thing the pool measured, drained with
/// [`Pool::poll_observation`](super::Pool::poll_observation) after every input (as events
/// are).
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A link's WebSocket opened.
    LinkOpened {
        /// The link.
        link: LinkId,
        /// The node at the other end; `None` for a client that named none.
        node: Option<NodeId>,
        /// Its lane.
        lane: Lane,
        /// We dialed it (else we accepted it).
        dialed: bool,
        /// The node had a link before this one: a reconnection.
        reconnect: bool,
    },
    /// A link ended.
    LinkClosed {
        /// The link.
        link: LinkId,
        /// The node at the other end, if it named one.
        node: Option<NodeId>,
        /// Its lane.
        lane: Lane,
        /// Why, if it failed; `None` for a clean close (idle, shutdown, the peer's close).
        fault: Option<Fault>,
    },
    /// A pong answered one of our pings.
    RoundTrip {
        /// The node that answered.
        node: NodeId,
        /// The lane of the link it came on.
        lane: Lane,
        /// From ping to pong.
        rtt: Duration,
    },
    /// A heartbeat's ping went out while the one before was still unanswered.
    HeartbeatMissed {
        /// The link.
        link: LinkId,
        /// Its node, if it named one.
        node: Option<NodeId>,
        /// Pings unanswered, the new one not counted.
        unanswered: usize,
    },
    /// One of our calls ended.
    CallEnded {
        /// The node it was for.
        node: NodeId,
        /// Its lane.
        lane: Lane,
        /// From the call to its end.
        latency: Duration,
        /// How it ended.
        outcome: CallOutcome,
    },
}

/// How a call ended, for counting by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// With a result.
    Answered,
    /// With the node's error object: an answer, not a failure of the link.
    Error,
    /// Without an answer ([`EndReason::Cancelled`] when its owner dropped it).
    Ended(EndReason),
}

impl CallOutcome {
    /// A short name for a metric label or a log field: `ok`, `error`, `timeout`,
    /// `cancelled`, `connection_lost`, `failed`, `closed`, `unreachable`.
    pub fn kind(self) -> &'static str {
        match self {
            CallOutcome::Answered => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Ended(reason) => match reason {
                EndReason::TimedOut => "timeout",
                EndReason::Cancelled => "cancelled",
                EndReason::ConnectionLost { .. } => "connection_lost",
                EndReason::Failed => "failed",
                EndReason::Closed => "closed",
                EndReason::Unreachable => "unreachable",
            },
        }
    }
}

impl Fault {
    /// A short name for a metric label or a log field: `unreachable`, `refused`,
    /// `silent`, `lost`, `protocol`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Unreachable => "unreachable",
            Fault::Refused(_) => "refused",
            Fault::Silent => "silent",
            Fault::Lost => "lost",
            Fault::Protocol(_) => "protocol",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_kind() {
        let outcomes = [
            CallOutcome::Answered,
            CallOutcome::Error,
            CallOutcome::Ended(EndReason::TimedOut),
            CallOutcome::Ended(EndReason::Cancelled),
            CallOutcome::Ended(EndReason::ConnectionLost { sent: true }),
            CallOutcome::Ended(EndReason::Failed),
            CallOutcome::Ended(EndReason::Closed),
            CallOutcome::Ended(EndReason::Unreachable),
        ];
        let mut kinds: Vec<_> = outcomes.iter().map(|o| o.kind()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), outcomes.len());
    }
}
