//! How many times and how soon a failed call is tried again.

use std::time::{Duration, Instant};

use super::RetryBudget;

/// When to try a failed call again. Whether a failure may be retried at all (was the call
/// sent? is it idempotent?) is the caller's judgement; the policy says how often and when,
/// and a shared [`RetryBudget`] says whether the cluster can take one more call now.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `retries` | 3 | tries after the first call, so at most 4 calls in all |
/// | `delay` | 500 ms | the k-th retry waits `k × delay`: 500 ms, 1 s, 1.5 s |
/// | `connect_timeout` | 5 s | how long the adapter waits for a link to a replica before that try counts as [`NotSent`](super::Outcome::NotSent) |
///
/// ```
/// use std::time::{Duration, Instant};
/// use tether_core::replica::{GiveUp, RetryBudget, RetryPolicy};
///
/// let policy = RetryPolicy::default();
/// assert_eq!(policy.delay(1), Some(Duration::from_millis(500)));
/// assert_eq!(policy.delay(3), Some(Duration::from_millis(1500)));
/// assert_eq!(policy.delay(4), None);
///
/// let now = Instant::now();
/// let mut budget = RetryBudget::default();
/// budget.record_request(now);
/// assert_eq!(policy.retry_after(1, now, &mut budget), Ok(Duration::from_millis(500)));
/// assert_eq!(policy.retry_after(4, now, &mut budget), Err(GiveUp::Exhausted));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries after the first call (default 3); 0 never retries.
    pub retries: u32,
    /// The step of the linear backoff: the k-th retry waits `k × delay` (default 500 ms).
    pub delay: Duration,
    /// How long a connection attempt to a replica may take (default 5 s). The core does
    /// not use it; the adapter's dialer does.
    pub connect_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            delay: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why [`RetryPolicy::retry_after`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Every try the policy allows was made.
    Exhausted,
    /// The [`RetryBudget`] is spent: the cluster is failing too much to take more retries.
    OverBudget,
}

impl RetryPolicy {
    /// The most calls one request can make: the first and every retry.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The wait after the `attempt`-th call failed (1 is the first call) before the next
    /// one: `attempt × delay`, saturating. `None` once no retry is left. `attempt` 0 is
    /// taken as 1.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        let attempt = attempt.max(1);
        (attempt <= self.retries).then(|| self.delay.saturating_mul(attempt))
    }

    /// Whether to retry after the `attempt`-th call failed at `now`, and after how long.
    /// A retry the policy allows spends one token of `budget`; none is spent otherwise.
    pub fn retry_after(
        &self,
        attempt: u32,
        now: Instant,
        budget: &mut RetryBudget,
    ) -> Result<Duration, GiveUp> {
        let delay = self.delay(attempt).ok_or(GiveUp::Exhausted)?;
        if budget.try_retry(now) {
            Ok(delay)
        } else {
            Err(GiveUp::OverBudget)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn defaults_wait_half_a_second_more_each_retry_and_stop_after_three() {
        let policy = RetryPolicy::default();
        let delays: Vec<_> = (0..=5).map(|a| policy.delay(a)).collect();
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(delays, [ms(500), ms(500), ms(1000), ms(1500), None, None]);
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(policy.connect_timeout, Duration::from_secs(5));
    }

    #[test]
    fn huge_settings_saturate_and_zero_retries_never_retry() {
        let huge = RetryPolicy {
            retries: u32::MAX,
            delay: Duration::MAX,
            ..Default::default()
        };
        assert_eq!(huge.delay(u32::MAX), Some(Duration::MAX));
        assert_eq!(huge.max_attempts(), u32::MAX);
        let never = RetryPolicy {
            retries: 0,
            ..Default::default()
        };
        assert_eq!(
            (never.delay(0), never.delay(1), never.max_attempts()),
            (None, None, 1)
        );
    }

    #[test]
    fn an_exhausted_policy_spends_no_token_and_an_empty_budget_refuses() {
        let t = t0();
        let policy = RetryPolicy::default();
        let mut budget = RetryBudget::new(0.0, 0, 1);
        assert_eq!(
            policy.retry_after(4, t, &mut budget),
            Err(GiveUp::Exhausted)
        );
        assert_eq!(budget.available(), 1);
        assert_eq!(
            policy.retry_after(1, t, &mut budget),
            Ok(Duration::from_millis(500))
        );
        assert_eq!(
            policy.retry_after(2, t, &mut budget),
            Err(GiveUp::OverBudget)
        );
    }
}
