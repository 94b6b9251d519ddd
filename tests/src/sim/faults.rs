//! How bad the simulated network and machines are: the knobs, and the plan a run draws
//! from them. Every fault starts inside the fault window (`Faults::until` after the start),
//! so a run can check that everything recovers once the faults stop.

use std::time::{Duration, Instant};

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
