//! The simulated network: connections made on demand, each two ordered byte streams with
//! latency, jitter, random cuts and a bounded window, like TCP seen from a socket.
//!
//! A dial sends a `Syn` to the target; the target accepts (its end opens, and an `Open`
//! travels back ahead of anything it writes) or the dialer gets a `Reset` (refused).
//! Closing an end sends `Eof` after the bytes already written; bytes that reach an end
//! its node closed are answered with a `Reset`, as a kernel would. A reset (a fault, or
//! the crash of a node) drops the bytes in flight and sends `Reset` to the ends still
//! open.
//!
//! A slow link ([`Faults::slow_link_percent`]) also has a bandwidth: each direction sends
//! its bytes one after the other, `len / bandwidth` each, in pieces of at most an MTU, so
//! a large message arrives bit by bit over seconds, and its window is what one second at
//! that bandwidth carries. The congestion clears when the fault window ends: from then on
//! bytes, those still queued included, leave at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::faults::Faults;
use super::node::{NodeId, Port};
use super::rng::SimRng;

/// What travels on one direction of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// A dial reaching the accepting end (dialer → acceptor only).
    Syn,
    /// The dial was accepted (acceptor → dialer only, ahead of any byte).
    Open,
    Data(Vec<u8>),
    Eof,
    Reset,
}

#[derive(Debug)]
pub(super) struct Piece {
    pub(super) at: Instant,
    pub(super) kind: Kind,
}

/// Where one end of a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Dialed, not yet told `Open` (dialer), or `Syn` not yet arrived (acceptor).
    Waiting,
    /// The node may write and reads what arrives.
    Open,
    /// Its node closed it: `Eof` queued; what arrives is answered with `Reset`.
    Closed,
    /// Reset or refused, or its node crashed: nothing more reaches it.
    Gone,
}

/// One direction: an ordered queue, like one half of a TCP connection.
#[derive(Debug, Default)]
pub(super) struct Direction {
    pub(super) queue: VecDeque<Piece>,
    /// Data bytes in `queue`: the writer is not read from while this is at the window.
    pub(super) bytes: usize,
    /// On a slow link: when the bytes queued so far are all on the wire.
    busy_until: Option<Instant>,
}

/// The largest piece a slow link delivers at once: bytes trickle in, as from a socket.
const MTU: usize = 1460;

/// A slow link's bandwidth, and until when it is slow.
#[derive(Debug, Clone, Copy)]
struct Slow {
    bytes_per_sec: u64,
    until: Instant,
}

/// A connection: `nodes[0]` dialed `nodes[1]`; `dirs[d]` carries bytes written by end `d`.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) id: u64,
    pub(super) nodes: [NodeId; 2],
    pub(super) ends: [End; 2],
    pub(super) dirs: [Direction; 2],
    latency: Duration,
    jitter_ms: u64,
    /// Largest piece delivered at once; random boundaries below it.
    max_piece: usize,
    pub(super) window: usize,
    /// When the network resets this connection, if it does.
    pub(super) reset_at: Option<Instant>,
    /// Something was delivered since the last flush: a writer may have room again.
    pub(super) dirty: bool,
    /// Set for a slow link.
    slow: Option<Slow>,
}

impl Conn {
    /// A dial from `from` to `to` at `now`, its properties drawn from `rng`.
    pub(super) fn dial(
        id: u64,
        from: NodeId,
        to: NodeId,
        now: Instant,
        origin: Instant,
        faults: &Faults,
        rng: &mut SimRng,
    ) -> Conn {
        let max_piece = if rng.chance(faults.whole_writes_percent) {
            usize::MAX
        } else {
            rng.range(1, 1500) as usize
        };
        let window =
            rng.log_range(faults.window_bytes.0 as u64, faults.window_bytes.1 as u64) as usize;
        let fault_end = origin + faults.until;
        let reset_at = (rng.chance(faults.reset_percent) && now < fault_end).then(|| {
            now + Duration::from_millis(rng.range(0, (fault_end - now).as_millis() as u64))
        });
        let mut conn = Conn {
            id,
            nodes: [from, to],
            ends: [End::Waiting, End::Waiting],
            dirs: [Direction::default(), Direction::default()],
            latency: Duration::from_millis(rng.range(faults.latency_ms.0, faults.latency_ms.1)),
            jitter_ms: faults.max_jitter_ms,
            max_piece,
            window,
            reset_at,
            dirty: true,
            slow: None,
        };
        // Drawn last, and only when slow links are on, so runs without them draw as before.
        if faults.slow_link_percent > 0 && now < fault_end && rng.chance(faults.slow_link_percent) {
            let bytes_per_sec = rng.log_range(faults.slow_bandwidth.0, faults.slow_bandwidth.1);
            conn.latency = Duration::from_millis(
                rng.range(faults.slow_latency_ms.0, faults.slow_latency_ms.1),
            );
            conn.window = conn.window.min(bytes_per_sec as usize).max(MTU);
            conn.slow = Some(Slow {
                bytes_per_sec,
                until: fault_end,
            });
        }
        conn.push(0, Kind::Syn, now, rng);
        conn
    }

    /// Whether this is a slow link (see [`Faults::slow_link_percent`]).
    pub(super) fn is_slow(&self) -> bool {
        self.slow.is_some()
    }

    /// The port of end `side`.
    pub(super) fn port(&self, side: usize) -> Port {
        Port(self.id * 2 + side as u64)
    }

    /// Queues `kind` on the direction written by `side`, due after the latency plus
    /// jitter, never before the piece ahead of it.
    pub(super) fn push(&mut self, side: usize, kind: Kind, now: Instant, rng: &mut SimRng) {
        let dir = &mut self.dirs[side];
        let mut sent = now;
        if let (Kind::Data(data), Some(slow)) = (&kind, self.slow) {
            // On a slow link the bytes leave one after the other while it is slow; when
            // the congestion clears, what is still queued leaves at once.
            let start = dir.busy_until.map_or(now, |busy| busy.max(now));
            let took = Duration::from_nanos(data.len() as u64 * 1_000_000_000 / slow.bytes_per_sec);
            sent = (start + took).min(start.max(slow.until));
            dir.busy_until = Some(sent);
        }
        let at = sent + self.latency + Duration::from_millis(rng.range(0, self.jitter_ms));
        let at = dir.queue.back().map_or(at, |last| at.max(last.at));
        if let Kind::Data(data) = &kind {
            dir.bytes += data.len();
        }
        dir.queue.push_back(Piece { at, kind });
    }

    /// Queues bytes written by `side`, cut at random boundaries.
    pub(super) fn write(&mut self, side: usize, mut data: &[u8], now: Instant, rng: &mut SimRng) {
        while !data.is_empty() {
            let len = if self.slow.is_some() {
                MTU.min(data.len())
            } else if self.max_piece == usize::MAX {
                data.len()
            } else {
                (rng.range(1, self.max_piece as u64) as usize).min(data.len())
            };
            let (piece, rest) = data.split_at(len);
            data = rest;
            self.push(side, Kind::Data(piece.to_vec()), now, rng);
        }
    }

    /// Takes the next piece of the direction written by `side`.
    pub(super) fn pop(&mut self, side: usize) -> Option<Piece> {
        self.dirty = true;
        let dir = &mut self.dirs[side];
        let piece = dir.queue.pop_front()?;
        if let Kind::Data(data) = &piece.kind {
            dir.bytes -= data.len();
        }
        Some(piece)
    }

    /// The network resets the connection: what is in flight is lost and both ends learn
    /// it is gone.
    pub(super) fn reset(&mut self, now: Instant, rng: &mut SimRng) {
        self.reset_at = None;
        self.dirs = Default::default();
        for end in 0..2 {
            self.tell_gone(end, now, rng);
        }
    }

    /// The node of end `side` crashed: what is in flight is lost, the other end gets a
    /// reset. A dial not yet arrived travels on and is refused by the down node.
    pub(super) fn kill(&mut self, side: usize, now: Instant, rng: &mut SimRng) {
        if self.ends[side] == End::Gone || (side == 1 && self.ends[side] == End::Waiting) {
            return;
        }
        self.ends[side] = End::Gone;
        self.reset_at = None;
        self.dirs = Default::default();
        self.tell_gone(1 - side, now, rng);
    }

    /// Something reached end `to`, which its node closed: like a kernel, answer with a
    /// reset; what the peer still has in flight toward `to` is dropped.
    pub(super) fn refuse(&mut self, to: usize, now: Instant, rng: &mut SimRng) {
        self.ends[to] = End::Gone;
        self.dirs[1 - to] = Direction::default();
        self.tell_gone(1 - to, now, rng);
    }

    /// End `end` learns the connection is gone: a reset after what is queued toward it if
    /// its node still uses it; an acceptor the dial never reached just never hears of it.
    fn tell_gone(&mut self, end: usize, now: Instant, rng: &mut SimRng) {
        match self.ends[end] {
            End::Open => self.push(1 - end, Kind::Reset, now, rng),
            End::Waiting if end == 0 => self.push(1, Kind::Reset, now, rng),
            End::Waiting | End::Closed => self.ends[end] = End::Gone,
            End::Gone => {}
        }
    }

    /// Both ends are done and nothing is left to deliver: the connection can go.
    pub(super) fn is_over(&self) -> bool {
        self.ends
            .iter()
            .all(|e| matches!(e, End::Gone | End::Closed))
            && self.dirs.iter().all(|d| d.queue.is_empty())
    }

    /// The writer of `side` may be read from: its end is open and the window has room.
    pub(super) fn writable(&self, side: usize) -> bool {
        self.ends[side] == End::Open && self.dirs[side].bytes < self.window
    }
}
