//! How bad the simulated network and machines are: the knobs, and the plan a run draws
//! from them. Every fault starts inside the fault window (`Faults::until` after the start),
//! so a run can check that everything recovers once the faults stop.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::node::NodeId;
use super::rng::SimRng;

/// The fault knobs of a run. Chances are in percent; ranges are inclusive, in
/// milliseconds unless named otherwise. [`Faults::none`] is a clean, fast network.
///
/// ```
/// use tether_tests::sim::Faults;
/// let faults = Faults { crash_percent: 0, ..Faults::default() };
/// assert!(faults.until > std::time::Duration::ZERO);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    /// No fault starts later than this after the start of the run.
    pub until: Duration,
    /// One-way latency of a connection, drawn per connection.
    pub latency_ms: (u64, u64),
    /// Largest extra delay of one piece, drawn per connection (pieces stay in order).
    pub max_jitter_ms: u64,
    /// Chance that a connection writes its bytes whole rather than cut in pieces of at
    /// most 1..1500 bytes.
    pub whole_writes_percent: u64,
    /// Bytes a direction of a connection holds in flight (socket buffers and wire) before
    /// the writer is no longer read from, drawn per connection (as likely a few hundred
    /// bytes as a few hundred KiB).
    pub window_bytes: (usize, usize),
    /// Chance that a connection is reset at some point of the fault window.
    pub reset_percent: u64,
    /// Chance that a pair of nodes is partitioned once: nothing between them is delivered
    /// for a while (then everything is), silently.
    pub partition_percent: u64,
    /// How long a partition lasts.
    pub partition_ms: (u64, u64),
    /// Chance that a node stops reading for a while (a slow reader): bytes to it pile up
    /// in the network, then its peers' own queues.
    pub stall_percent: u64,
    /// How long a node stops reading.
    pub stall_ms: (u64, u64),
    /// Chance that a node marked [`Sim::may_crash`](super::Sim::may_crash) crashes once
    /// (all its connections reset, dials to it refused) and restarts.
    pub crash_percent: u64,
    /// How long a crashed node stays down.
    pub down_ms: (u64, u64),
    /// Chance that virtual time jumps forward once, firing every node's timers.
    pub clock_jump_percent: u64,
    /// How far the clock jumps, in seconds.
    pub clock_jump_secs: (u64, u64),
    /// Chance that a connection dialed inside the fault window is a slow link: a narrow,
    /// far pipe whose bytes take `len / bandwidth` to go out, one after the other, so a
    /// large message keeps the link busy for seconds. It is congestion that clears: when
    /// the fault window ends, bytes still queued and bytes written later leave at once.
    pub slow_link_percent: u64,
    /// Bytes per second of a slow link, each direction.
    pub slow_bandwidth: (u64, u64),
    /// One-way latency of a slow link.
    pub slow_latency_ms: (u64, u64),
}

impl Default for Faults {
    /// The mix the test command runs: every fault possible, none guaranteed.
    fn default() -> Self {
        Faults {
            until: Duration::from_millis(2500),
            latency_ms: (1, 50),
            max_jitter_ms: 20,
            whole_writes_percent: 10,
            window_bytes: (256, 256 << 10),
            reset_percent: 10,
            partition_percent: 15,
            partition_ms: (100, 3000),
            stall_percent: 25,
            stall_ms: (50, 1500),
            crash_percent: 30,
            down_ms: (10, 2000),
            clock_jump_percent: 20,
            clock_jump_secs: (5, 120),
            slow_link_percent: 0,
            slow_bandwidth: (0, 0),
            slow_latency_ms: (0, 0),
        }
    }
}

impl Faults {
    /// A clean network: 1 ms latency, whole writes, no faults. Useful to see a user's
    /// logic work before turning faults on.
    pub fn none() -> Faults {
        Faults {
            until: Duration::ZERO,
            latency_ms: (1, 1),
            max_jitter_ms: 0,
            whole_writes_percent: 100,
            window_bytes: (1 << 20, 1 << 20),
            reset_percent: 0,
            partition_percent: 0,
            partition_ms: (0, 0),
            stall_percent: 0,
            stall_ms: (0, 0),
            crash_percent: 0,
            down_ms: (0, 0),
            clock_jump_percent: 0,
            clock_jump_secs: (0, 0),
            slow_link_percent: 0,
            slow_bandwidth: (0, 0),
            slow_latency_ms: (0, 0),
        }
    }

    /// A window `[start, end)` starting inside the fault window, lasting `ms`.
    pub(super) fn window(
        &self,
        rng: &mut SimRng,
        origin: Instant,
        ms: (u64, u64),
    ) -> (Instant, Instant) {
        let start = origin + Duration::from_millis(rng.range(0, self.until.as_millis() as u64));
        (start, start + Duration::from_millis(rng.range(ms.0, ms.1)))
    }
}

/// The faults a run drew, fixed before it starts: what nodes may consult to know what the
/// network did to them (a partition a heartbeat must notice, when faults are over), as
/// [`Ctx::plan`](super::Ctx::plan).
#[derive(Clone)]
pub struct Plan {
    origin: Instant,
    pub(super) partitions: BTreeMap<(NodeId, NodeId), Vec<(Instant, Instant)>>,
    pub(super) stalls: BTreeMap<NodeId, Vec<(Instant, Instant)>>,
    pub(super) crashes: BTreeMap<NodeId, (Instant, Instant)>,
    pub(super) jump: Option<(Instant, Duration)>,
    pub(super) quiet_at: Instant,
}

impl Plan {
    /// No faults at all, from `origin` on.
    pub(super) fn new(origin: Instant) -> Plan {
        Plan {
            origin,
            partitions: BTreeMap::new(),
            stalls: BTreeMap::new(),
            crashes: BTreeMap::new(),
            jump: None,
            quiet_at: origin,
        }
    }

    /// Draws the faults of a run over `nodes` nodes (those in `may_crash` may crash).
    pub(super) fn draw(
        faults: &Faults,
        origin: Instant,
        may_crash: &[bool],
        rng: &mut SimRng,
    ) -> Plan {
        let f = faults;
        let mut plan = Plan::new(origin);
        let mut quiet = origin + f.until;
        for (n, &crashable) in may_crash.iter().enumerate() {
            let node = NodeId(n);
            if rng.chance(f.stall_percent) {
                let window = f.window(rng, origin, f.stall_ms);
                quiet = quiet.max(window.1);
                plan.stalls.insert(node, vec![window]);
            }
            if crashable && rng.chance(f.crash_percent) {
                let window = f.window(rng, origin, f.down_ms);
                quiet = quiet.max(window.1);
                plan.crashes.insert(node, window);
            }
        }
        for a in 0..may_crash.len() {
            for b in a + 1..may_crash.len() {
                if rng.chance(f.partition_percent) {
                    let window = f.window(rng, origin, f.partition_ms);
                    quiet = quiet.max(window.1);
                    plan.partitions.insert((NodeId(a), NodeId(b)), vec![window]);
                }
            }
        }
        if rng.chance(f.clock_jump_percent) {
            let at = f.window(rng, origin, (0, 0)).0;
            let by = Duration::from_secs(rng.range(f.clock_jump_secs.0, f.clock_jump_secs.1));
            plan.jump = Some((at, by));
            // Time leaps to `at + by`: faults are over no earlier.
            quiet = quiet.max(at + by);
        }
        plan.quiet_at = quiet;
        plan
    }

    /// When nothing is delivered between `a` and `b`, as `[start, end)` windows.
    pub fn partitions(&self, a: NodeId, b: NodeId) -> &[(Instant, Instant)] {
        self.partitions
            .get(&(a.min(b), a.max(b)))
            .map_or(&[], Vec::as_slice)
    }

    /// When `node` does not read.
    pub fn stalls(&self, node: NodeId) -> &[(Instant, Instant)] {
        self.stalls.get(&node).map_or(&[], Vec::as_slice)
    }

    /// When `node` goes down and when it comes back, if it crashes.
    pub fn crash(&self, node: NodeId) -> Option<(Instant, Instant)> {
        self.crashes.get(&node).copied()
    }

    /// The clock jump, if any: when, and how far.
    pub fn jump(&self) -> Option<(Instant, Duration)> {
        self.jump
    }

    /// From this instant on no fault is active and none starts: every partition and stall
    /// is over, every crashed node is back, no reset is left to come, and the clock has
    /// made its jump (virtual time then is at least the jump's landing).
    pub fn quiet_at(&self) -> Instant {
        self.quiet_at
    }
}

/// Times since the start of the run, which read better than `Instant`s.
impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = |at: Instant| at.saturating_duration_since(self.origin);
        let windows = |list: &[(Instant, Instant)]| -> Vec<(Duration, Duration)> {
            list.iter().map(|&(a, b)| (t(a), t(b))).collect()
        };
        let partitions: Vec<_> = self
            .partitions
            .iter()
            .map(|((a, b), list)| (a.0, b.0, windows(list)))
            .collect();
        let stalls: Vec<_> = self
            .stalls
            .iter()
            .map(|(n, list)| (n.0, windows(list)))
            .collect();
        let crashes: Vec<_> = self
            .crashes
            .iter()
            .map(|(n, &(down, up))| (n.0, t(down), t(up)))
            .collect();
        f.debug_struct("Plan")
            .field("partitions (a, b, windows)", &partitions)
            .field("stalls (node, windows)", &stalls)
            .field("crashes (node, down, up)", &crashes)
            .field("jump (at, by)", &self.jump.map(|(at, by)| (t(at), by)))
            .field("quiet_at", &t(self.quiet_at))
            .finish()
    }
}

/// Returns the first instant at or after `at` outside every window in `windows`, which
/// may overlap or touch.
pub(super) fn outside(mut at: Instant, windows: &[&[(Instant, Instant)]]) -> Instant {
    loop {
        let before = at;
        for list in windows {
            for &(start, end) in *list {
                if start <= at && at < end {
                    at = end;
                }
            }
        }
        if at == before {
            return at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_skips_overlapping_windows() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let a = [(ms(10), ms(20))];
        let b = [(ms(15), ms(30)), (ms(30), ms(31))];
        assert_eq!(outside(ms(5), &[&a, &b]), ms(5));
        assert_eq!(outside(ms(10), &[&a, &b]), ms(31));
        assert_eq!(outside(ms(20), &[&a, &b]), ms(31));
        assert_eq!(outside(ms(31), &[&a, &b]), ms(31));
    }
}
