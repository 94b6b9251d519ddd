//! How many retries a client may send: a share of its requests plus a small floor per
//! second, so a dead cluster is not flooded and a quiet client can still retry.

use std::time::{Duration, Instant};

use super::bucket::{ratio_to_milli, Bucket, MILLI};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The allowance for retries, shared by every call of one client (Finagle's retry budget,
/// gRPC's retry throttling): each first attempt deposits `ratio` of a token, each retry
/// withdraws one, and `min_per_sec` tokens trickle in every second whatever the traffic.
/// At most `max` tokens are banked; the budget starts full. Over any stretch of `t`
/// seconds with `r` first attempts, retries never exceed `max + ratio × r + min_per_sec × t`.
///
/// | setting | default |
/// |---|---|
/// | `ratio` | 0.2 (retries add at most 20 % to the calls), to a thousandth |
/// | `min_per_sec` | 10 |
/// | `max` | 100 tokens (ten seconds of the floor) |
///
/// ```
/// use std::time::{Duration, Instant};
/// use tether_core::replica::RetryBudget;
///
/// let now = Instant::now();
/// let mut budget = RetryBudget::new(0.2, 1, 1);
/// assert!(budget.try_retry(now));
/// assert!(!budget.try_retry(now)); // spent
/// assert!(budget.try_retry(now + Duration::from_secs(1))); // the floor came back
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryBudget {
    bucket: Bucket,
    /// Thousandths of a token per first attempt.
    deposit: u64,
    min_per_sec: u32,
    /// Time up to which the floor has been paid in; `None` before the first input.
    paid_until: Option<Instant>,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(0.2, 10, 100)
    }
}

impl RetryBudget {
    /// A full budget of `max` tokens, earning `ratio` of a token per first attempt
    /// (clamped to `[0, 1]`, NaN is 0) and `min_per_sec` tokens a second.
    pub fn new(ratio: f64, min_per_sec: u32, max: u32) -> Self {
        RetryBudget {
            bucket: Bucket::new(max, max),
            deposit: ratio_to_milli(ratio),
            min_per_sec,
            paid_until: None,
        }
    }

    /// A first attempt was sent at `now`: earn `ratio` of a retry.
    pub fn record_request(&mut self, now: Instant) {
        self.refill(now);
        self.bucket.deposit(self.deposit);
    }

    /// Spends one retry at `now` if the budget holds one; `false` means do not retry.
    pub fn try_retry(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.bucket.withdraw()
    }

    /// Whole retries available as of the last input.
    pub fn available(&self) -> u32 {
        self.bucket.tokens()
    }

    /// Pays in the floor for the time since the last input. What the cap turns away is
    /// lost, not banked; only time too short to buy a thousandth of a token is carried
    /// over, so frequent calls earn as much as rare ones. Time that stands still or runs
    /// backwards earns nothing.
    fn refill(&mut self, now: Instant) {
        let rate = u128::from(self.min_per_sec) * u128::from(MILLI);
        let from = match self.paid_until {
            Some(from) if from < now && rate > 0 => from,
            Some(_) => return,
            None => {
                self.paid_until = Some(now);
                return;
            }
        };
        let elapsed = now.saturating_duration_since(from).as_nanos();
        // Saturates only for spans of ages; the cap takes it from there.
        let earned = elapsed.saturating_mul(rate) / NANOS_PER_SEC;
        self.bucket
            .deposit(u64::try_from(earned).unwrap_or(u64::MAX));
        let paid = earned.saturating_mul(NANOS_PER_SEC) / rate;
        self.paid_until = u64::try_from(paid)
            .ok()
            .and_then(|nanos| from.checked_add(Duration::from_nanos(nanos)))
            .or(Some(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn t0() -> Instant {
        Instant::now()
    }

    fn drain(budget: &mut RetryBudget, now: Instant) -> u32 {
        let mut spent = 0;
        while budget.try_retry(now) {
            spent += 1;
        }
        spent
    }

    #[test]
    fn a_dead_cluster_gets_the_ratio_plus_the_floor_and_no_more() {
        let t = t0();
        let mut budget = RetryBudget::default();
        assert_eq!(drain(&mut budget, t), 100);
        // 100 requests a second for 10 s, each failing and retried while the budget lets it.
        let mut retries = 0u32;
        for ms in 1..=10_000u32 {
            let now = t + Duration::from_millis(u64::from(ms));
            if ms % 10 == 0 {
                budget.record_request(now);
            }
            if budget.try_retry(now) {
                retries += 1;
            }
        }
        // 1000 first attempts at 20 % plus 10 s of 10 a second.
        assert_eq!(retries, 200 + 100);
    }

    #[test]
    fn a_quiet_client_earns_the_floor_in_small_steps_as_in_one_big_one() {
        let t = t0();
        let (mut stepwise, mut at_once) = (
            RetryBudget::new(0.0, 10, 100),
            RetryBudget::new(0.0, 10, 100),
        );
        drain(&mut stepwise, t);
        drain(&mut at_once, t);
        for step in 1..=7_000u32 {
            // 7 µs steps: each buys less than a thousandth of a token.
            stepwise.record_request(t + Duration::from_micros(u64::from(step) * 7));
        }
        at_once.record_request(t + Duration::from_micros(49_000));
        assert_eq!(stepwise, at_once);
        let later = t + 3 * SEC;
        assert_eq!(
            (drain(&mut stepwise, later), drain(&mut at_once, later)),
            (30, 30)
        );
    }

    #[test]
    fn a_full_bucket_banks_no_time_and_backward_time_mints_nothing() {
        let t = t0();
        let mut budget = RetryBudget::new(0.0, 10, 5);
        budget.record_request(t);
        // Full for an hour: the hour buys nothing beyond the cap.
        assert_eq!(drain(&mut budget, t + 3600 * SEC), 5);
        assert_eq!(drain(&mut budget, t), 0);
        assert_eq!(drain(&mut budget, t + 3600 * SEC), 0);
        assert_eq!(drain(&mut budget, t + 3600 * SEC + SEC / 2), 5);
        let mut none = RetryBudget::new(f64::NAN, 0, 0);
        none.record_request(t);
        assert!(!none.try_retry(t + 1000 * SEC));
    }
}
