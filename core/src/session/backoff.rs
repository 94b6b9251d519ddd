//! How long to wait before the next connection attempt: exponential, capped, jittered.

use std::time::Duration;

use crate::rng::Rng;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The wait between connection attempts. After the k-th consecutive failed attempt
/// (k = 1, 2, …) the ceiling is `d_k = min(max, base · 2^(k-1))`; the actual wait is drawn
/// uniformly from `[d_k / 2, d_k]` with the session's seeded RNG, so sessions restarted
/// together do not all come back at once, and a seed replays the same waits.
///
/// ```
/// use std::time::Duration;
/// use tether_core::session::Backoff;
///
/// let backoff = Backoff::default();
/// assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
/// assert_eq!(backoff.ceiling(4), Duration::from_millis(800));
/// assert_eq!(backoff.ceiling(1000), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling after the first failure (default 100 ms).
    pub base: Duration,
    /// The largest ceiling (default 10 s).
    pub max: Duration,
    /// Give up ([`State::Failed`](super::State::Failed)) after this many consecutive failed
    /// attempts; `None` (the default) never gives up. `Some(0)` makes one attempt and never
    /// reconnects: a lost link fails the session.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// `d_k = min(max, base · 2^(k-1))`, the longest wait after the k-th consecutive failed
    /// attempt. `k = 0` is taken as 1. Never overflows: a product too large is `max`.
    pub fn ceiling(&self, k: u32) -> Duration {
        let doublings = k.saturating_sub(1);
        let max = self.max.as_nanos();
        let ceiling = 1u128
            .checked_shl(doublings)
            .and_then(|factor| self.base.as_nanos().checked_mul(factor))
            .map_or(max, |d| d.min(max));
        from_nanos(ceiling)
    }

    /// The wait after the k-th consecutive failed attempt: uniform in
    /// `[ceiling(k) / 2, ceiling(k)]`, drawn from `rng`.
    pub(crate) fn delay(&self, k: u32, rng: &mut Rng) -> Duration {
        let ceiling = self.ceiling(k).as_nanos();
        let low = ceiling / 2;
        let span = ceiling - low + 1;
        let draw = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        from_nanos(low + draw % span)
    }
}

/// A count of nanoseconds no larger than some `Duration::as_nanos()`, back as a `Duration`.
fn from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits.
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn huge() -> Backoff {
        Backoff {
            base: Duration::MAX,
            max: Duration::MAX,
            max_attempts: None,
        }
    }

    #[test]
    fn ceilings_double_from_base_up_to_max_for_every_k() {
        let backoff = Backoff::default();
        let mut rng = Rng::from_seed([5; 32]);
        let mut last = Duration::ZERO;
        for k in 1..=64 {
            let ceiling = backoff.ceiling(k);
            let expected = if k <= 7 {
                Duration::from_millis(100 << (k - 1))
            } else {
                Duration::from_secs(10)
            };
            assert_eq!(ceiling, expected, "k = {k}");
            assert!(ceiling >= last);
            last = ceiling;
            for _ in 0..20 {
                let d = backoff.delay(k, &mut rng);
                assert!(d >= ceiling / 2 && d <= ceiling, "k = {k}: {d:?}");
            }
        }
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn huge_durations_and_k_saturate_instead_of_overflowing() {
        let mut rng = Rng::from_seed([6; 32]);
        let odd = Backoff {
            base: Duration::new(u64::MAX / 3, 999_999_999),
            max: Duration::new(u64::MAX - 1, 5),
            max_attempts: Some(u32::MAX),
        };
        for backoff in [huge(), odd] {
            for k in (1..=64).chain([100, 1000, u32::MAX]) {
                let ceiling = backoff.ceiling(k);
                assert!(ceiling <= backoff.max);
                let d = backoff.delay(k, &mut rng);
                assert!(d >= ceiling / 2 && d <= ceiling, "k = {k}: {d:?}");
            }
        }
        assert_eq!(huge().ceiling(64), Duration::MAX);
        let zero = Backoff {
            base: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(zero.delay(9, &mut rng), Duration::ZERO);
        let tiny_max = Backoff {
            max: Duration::from_nanos(1),
            ..Default::default()
        };
        assert!(tiny_max.delay(30, &mut rng) <= Duration::from_nanos(1));
    }

    #[test]
    fn jitter_is_fixed_by_the_seed_and_differs_across_seeds() {
        let backoff = Backoff::default();
        let draws = |seed: u8| -> Vec<Duration> {
            let mut rng = Rng::from_seed([seed; 32]);
            (1..=16).map(|k| backoff.delay(k, &mut rng)).collect()
        };
        assert_eq!(draws(1), draws(1));
        assert_ne!(draws(1), draws(2));
        // The draws spread over the window rather than sitting on one edge.
        let mut rng = Rng::from_seed([3; 32]);
        let ceiling = backoff.ceiling(8);
        let (mut low_half, mut high_half) = (0, 0);
        for _ in 0..400 {
            if backoff.delay(8, &mut rng) < ceiling * 3 / 4 {
                low_half += 1;
            } else {
                high_half += 1;
            }
        }
        assert!(
            low_half > 100 && high_half > 100,
            "{low_half} / {high_half}"
        );
    }
}
