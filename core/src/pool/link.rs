//! One link of the pool: a [`Channel`] to a peer, or the connect that will make one, with
//! what the pool keeps beside it (heartbeat, idle clock, our calls on it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Fault, Lane, NodeId};
use crate::handshake::Request;
use crate::heartbeat::Beat;
use crate::rpc::{Channel, RequestId};
use crate::session::CallId;
use crate::ws::State;

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for its transport (dialed links only).
    Dialing,
    /// The upgrade is under way.
    Handshaking,
    /// The WebSocket is open.
    Open,
    /// Its channel said `Closed`: waiting for its last bytes to be taken.
    Ended,
}

#[derive(Debug)]
pub(crate) struct Link {
    /// The node at the other end; `None` for a client that named none, or an accepted
    /// link before its upgrade.
    pub(crate) node: Option<NodeId>,
    /// We dialed it (else we accepted it).
    pub(crate) dialed: bool,
    /// Its lane (an accepted link's is known at its upgrade).
    pub(crate) lane: Lane,
    /// `None` until the transport of a dialed link opens.
    pub(crate) channel: Option<Channel>,
    pub(crate) phase: Phase,
    /// The link must be open by then.
    pub(crate) connect_by: Option<Instant>,
    /// Set while open.
    pub(crate) beat: Option<Beat>,
    /// The last call, request or answer on it: the idle clock.
    pub(crate) last_used: Instant,
    /// Our calls written on it.
    pub(crate) calls: BTreeMap<RequestId, CallId>,
    /// The peer's requests not answered yet.
    pub(crate) serving: usize,
    /// The deadline it has in the pool's heap.
    pub(crate) deadline: Option<Instant>,
    /// In the pool's ready queue.
    pub(crate) in_ready: bool,
    /// The upgrade was refused with this status.
    pub(crate) refused: Option<u16>,
    /// Why it failed, if it did.
    pub(crate) fault: Option<Fault>,
    /// An accepted link's request head, while the owner decides it
    /// ([`Config::hold_upgrades`](super::Config::hold_upgrades)).
    pub(crate) upgrade: Option<Box<Request>>,
    /// We gave up on it (silent past the heartbeat's timeout, or not open in time): when it
    /// closes, what it still had to write is dropped, not sent.
    pub(crate) abandoned: bool,
}

impl Link {
    pub(crate) fn new(
        now: Instant,
        node: Option<NodeId>,
        lane: Lane,
        dialed: bool,
        connect: Duration,
    ) -> Link {
        Link {
            node,
            dialed,
            lane,
            channel: None,
            phase: if dialed {
                Phase::Dialing
            } else {
                Phase::Handshaking
            },
            connect_by: now.checked_add(connect),
            beat: None,
            last_used: now,
            calls: BTreeMap::new(),
            serving: 0,
            deadline: None,
            in_ready: false,
            refused: None,
            fault: None,
            upgrade: None,
            abandoned: false,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.phase == Phase::Open
            && self
                .channel
                .as_ref()
                .is_some_and(|c| c.state() == State::Open)
    }

    /// Nothing of ours or the peer's is under way on it.
    pub(crate) fn is_quiet(&self) -> bool {
        self.calls.is_empty() && self.serving == 0
    }

    /// When it closes for idleness, if it is open and quiet.
    pub(crate) fn idle_at(&self, idle: Option<Duration>) -> Option<Instant> {
        if self.is_open() && self.is_quiet() {
            self.last_used.checked_add(idle?)
        } else {
            None
        }
    }

    /// Its soonest deadline: connect, channel, heartbeat, idle.
    pub(crate) fn next_deadline(&self, idle: Option<Duration>) -> Option<Instant> {
        let connect = match self.phase {
            Phase::Dialing | Phase::Handshaking => self.connect_by,
            Phase::Open | Phase::Ended => None,
        };
        let channel = self.channel.as_ref().and_then(Channel::poll_timeout);
        let beat = self.beat.as_ref().and_then(Beat::next);
        [connect, channel, beat, self.idle_at(idle)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Bytes waiting to be taken.
    pub(crate) fn pending_transmit(&self) -> usize {
        self.channel
            .as_ref()
            .map_or(0, |c| c.connection().pending_transmit())
    }
}
