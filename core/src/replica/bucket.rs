//! The token bucket behind the hedge and retry budgets, counted in thousandths of a token.
//!
//! Whole-token counts would lose a 5 % deposit entirely and floats would let a NaN ratio
//! in; thousandths keep every deposit the docs promise exact and the arithmetic total.

/// Thousandths in one token.
pub(crate) const MILLI: u64 = 1000;

/// A ratio (`0.05` = 5 %) as thousandths of a token per deposit: rounded to the nearest
/// thousandth, clamped to `[0, 1]`; NaN is 0.
pub(crate) fn ratio_to_milli(ratio: f64) -> u64 {
    // `as` saturates and maps NaN to 0, so no input panics or wraps.
    (ratio * MILLI as f64).round().clamp(0.0, MILLI as f64) as u64
}

/// Tokens between 0 and a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    milli: u64,
    cap: u64,
}

impl Bucket {
    /// A bucket holding `tokens` of at most `max` whole tokens.
    pub(crate) fn new(tokens: u32, max: u32) -> Self {
        let cap = u64::from(max) * MILLI;
        Bucket {
            milli: (u64::from(tokens) * MILLI).min(cap),
            cap,
        }
    }

    /// Adds `milli` thousandths; what would pass the cap is dropped.
    pub(crate) fn deposit(&mut self, milli: u64) {
        self.milli = self.milli.saturating_add(milli).min(self.cap);
    }

    /// Takes one whole token if there is one.
    pub(crate) fn withdraw(&mut self) -> bool {
        match self.milli.checked_sub(MILLI) {
            Some(left) => {
                self.milli = left;
                true
            }
            None => false,
        }
    }

    /// Whole tokens held.
    pub(crate) fn tokens(&self) -> u32 {
        u32::try_from(self.milli / MILLI).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_become_thousandths_and_odd_ones_are_clamped() {
        assert_eq!(ratio_to_milli(0.05), 50);
        assert_eq!(ratio_to_milli(0.2), 200);
        assert_eq!(ratio_to_milli(1.0), 1000);
        assert_eq!(ratio_to_milli(7.0), 1000);
        assert_eq!(ratio_to_milli(-1.0), 0);
        assert_eq!(ratio_to_milli(f64::NAN), 0);
        assert_eq!(ratio_to_milli(f64::INFINITY), 1000);
    }

    #[test]
    fn twenty_deposits_of_five_percent_buy_one_token_and_the_cap_holds() {
        let mut b = Bucket::new(0, 2);
        for _ in 0..3 {
            b.deposit(ratio_to_milli(0.05));
        }
        assert!(!b.withdraw());
        for _ in 0..17 {
            b.deposit(ratio_to_milli(0.05));
        }
        assert!(b.withdraw());
        assert!(!b.withdraw());
        b.deposit(u64::MAX);
        assert_eq!(b, Bucket::new(2, 2));
        assert_eq!(Bucket::new(9, 2).tokens(), 2);
        assert_eq!(Bucket::new(u32::MAX, u32::MAX).tokens(), u32::MAX);
    }
}
