//! How many hedged requests reads may send: a share of the reads, banked up to a cap.

use super::bucket::{ratio_to_milli, Bucket};

/// The allowance for hedges, shared by every read of one client: each read's first
/// request deposits `ratio` of a token, each hedge spends a whole one, and at most `max`
/// tokens are banked. It starts empty, so over any run hedges never exceed
/// `ratio × reads`: a slow replica costs a few percent more calls, never a doubling.
///
/// | setting | default |
/// |---|---|
/// | `ratio` | 0.05 (one hedge per 20 reads), to a thousandth |
/// | `max` | 10 tokens |
///
/// ```
/// use tether_core::replica::HedgeBudget;
///
/// let mut budget = HedgeBudget::default();
/// for _ in 0..19 {
///     budget.record_request();
/// }
/// assert!(!budget.try_hedge());
/// budget.record_request();
/// assert!(budget.try_hedge());
/// assert!(!budget.try_hedge());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HedgeBudget {
    bucket: Bucket,
    /// Thousandths of a token per request.
    deposit: u64,
}

impl Default for HedgeBudget {
    fn default() -> Self {
        HedgeBudget::new(0.05, 10)
    }
}

impl HedgeBudget {
    /// A budget earning `ratio` of a hedge per read (clamped to `[0, 1]`, NaN is 0) and
    /// banking at most `max` hedges. `ratio` 0 or `max` 0 never hedges.
    pub fn new(ratio: f64, max: u32) -> Self {
        HedgeBudget {
            bucket: Bucket::new(0, max),
            deposit: ratio_to_milli(ratio),
        }
    }

    /// A read sent its first request: earn `ratio` of a hedge.
    pub fn record_request(&mut self) {
        self.bucket.deposit(self.deposit);
    }

    /// Spends one hedge if the budget holds one; `false` means do not hedge.
    pub fn try_hedge(&mut self) -> bool {
        self.bucket.withdraw()
    }

    /// Whole hedges available now.
    pub fn available(&self) -> u32 {
        self.bucket.tokens()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hedges_never_exceed_the_ratio_of_requests() {
        for (ratio, per_hedge) in [(0.05, 20), (0.1, 10), (0.5, 2), (1.0, 1)] {
            let mut budget = HedgeBudget::new(ratio, 10);
            let mut hedges = 0u32;
            for request in 1..=1000u32 {
                budget.record_request();
                // A greedy caller that hedges every read it can.
                if budget.try_hedge() {
                    hedges += 1;
                }
                assert!(hedges <= request / per_hedge, "ratio {ratio} at {request}");
            }
            assert_eq!(hedges, 1000 / per_hedge, "ratio {ratio}");
        }
    }

    #[test]
    fn a_quiet_stretch_banks_at_most_max_hedges() {
        let mut budget = HedgeBudget::new(0.05, 3);
        for _ in 0..10_000 {
            budget.record_request();
        }
        assert_eq!(budget.available(), 3);
        let spent = (0..10).filter(|_| budget.try_hedge()).count();
        assert_eq!(spent, 3);
    }

    #[test]
    fn a_zero_ratio_or_cap_never_hedges() {
        for mut budget in [
            HedgeBudget::new(0.0, 10),
            HedgeBudget::new(0.5, 0),
            HedgeBudget::new(f64::NAN, 10),
        ] {
            for _ in 0..100 {
                budget.record_request();
                assert!(!budget.try_hedge());
            }
        }
    }
}
