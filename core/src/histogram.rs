//! A small log-bucket histogram of durations: bounded memory, mean exact, quantiles within
//! 12.5 %.
//!
//! Values are nanoseconds. Below 8 each value has its own bucket; above, every power of
//! two is cut into 8 buckets, so a bucket is at most 1/8 of its values wide. 496 buckets
//! cover every `u64`; longer durations count as `u64::MAX` ns (584 years).

use std::time::Duration;

const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS + 1) * SUB as u32) as usize;

#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    /// Empty until the first value: an idle session holds nothing.
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Histogram {
    pub(crate) fn record(&mut self, value: Duration) {
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
            self.min = nanos;
        }
        if let Some(slot) = self.counts.get_mut(bucket(nanos)) {
            *slot = slot.saturating_add(1);
        }
        self.count = self.count.saturating_add(1);
        self.sum = self.sum.saturating_add(u128::from(nanos));
        self.min = self.min.min(nanos);
        self.max = self.max.max(nanos);
    }

    /// The exact mean of the recorded values.
    pub(crate) fn mean(&self) -> Option<Duration> {
        let mean = self.sum.checked_div(u128::from(self.count))?;
        Some(Duration::from_nanos(
            u64::try_from(mean).unwrap_or(u64::MAX),
        ))
    }

    /// The value at or below which `num / den` of the values lie (`num <= den`): the top of
    /// its bucket, kept within the values seen. Integer ranks, so `(99, 100)` is exact.
    pub(crate) fn quantile(&self, num: u64, den: u64) -> Option<Duration> {
        if self.count == 0 || den == 0 {
            return None;
        }
        // The 1-based rank ceil(count · num / den), within 1..=count.
        let scaled = u128::from(self.count) * u128::from(num.min(den));
        let rank = scaled.div_ceil(u128::from(den));
        let rank = u64::try_from(rank).unwrap_or(u64::MAX).clamp(1, self.count);
        let mut seen = 0u64;
        for (index, count) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(*count);
            if seen >= rank {
                let top = bucket_top(index).clamp(self.min, self.max);
                return Some(Duration::from_nanos(top));
            }
        }
        Some(Duration::from_nanos(self.max))
    }
}

fn bucket(nanos: u64) -> usize {
    if nanos < SUB {
        return nanos as usize;
    }
    let msb = 63 - nanos.leading_zeros();
    let group = msb - SUB_BITS + 1;
    let sub = (nanos >> (msb - SUB_BITS)) & (SUB - 1);
    (group as usize) * SUB as usize + sub as usize
}

/// The largest value that falls in bucket `index`.
fn bucket_top(index: usize) -> u64 {
    let (group, sub) = ((index as u64) / SUB, (index as u64) % SUB);
    if group == 0 {
        return sub;
    }
    let shift = group - 1;
    // ((SUB + sub + 1) << shift) - 1, which for the last bucket is u64::MAX.
    let width = 1u64 << shift;
    ((SUB + sub) << shift).saturating_add(width - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_and_tops_bound_them() {
        let mut values: Vec<u64> = (0..5000).collect();
        for shift in 0..64 {
            let p = 1u64 << shift;
            values.extend([p - 1, p, p + 1, p + p / 3]);
        }
        values.push(u64::MAX);
        values.sort_unstable();
        let mut last = 0;
        for v in values {
            let b = bucket(v);
            assert!(b < BUCKETS, "{v}");
            assert!(b >= last, "{v}: bucket order");
            last = b;
            let top = bucket_top(b);
            assert!(top >= v, "{v} above its bucket's top {top}");
            // A bucket spans at most 1/8 of its values.
            assert!(top - v <= v / 8 + 1, "{v}: top {top}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_top(BUCKETS - 1), u64::MAX);
    }

    #[test]
    fn p99_and_mean_of_a_known_spread() {
        let mut h = Histogram::default();
        assert_eq!((h.mean(), h.quantile(99, 100)), (None, None));
        // 990 fast values at 1 ms, 10 slow ones at 100 ms: p99 is the last fast one,
        // and anything above it is a slow one.
        for _ in 0..990 {
            h.record(Duration::from_millis(1));
        }
        for _ in 0..10 {
            h.record(Duration::from_millis(100));
        }
        let p99 = h.quantile(99, 100).expect("values");
        assert!(
            p99 >= Duration::from_millis(1) && p99 <= Duration::from_micros(1125),
            "{p99:?}"
        );
        let p995 = h.quantile(995, 1000).expect("values");
        assert_eq!(
            p995,
            Duration::from_millis(100),
            "clamped to the largest seen"
        );
        assert_eq!(h.mean(), Some(Duration::from_micros(1990)));
        let p0 = h.quantile(0, 1).expect("values");
        assert!(
            p0 >= Duration::from_millis(1) && p0 <= Duration::from_micros(1125),
            "{p0:?}"
        );
    }

    #[test]
    fn p99_of_uniform_values_is_within_an_eighth() {
        let mut h = Histogram::default();
        for ms in 1..=10_000u64 {
            h.record(Duration::from_micros(ms * 100));
        }
        let exact = Duration::from_micros(9_900 * 100);
        let p99 = h.quantile(99, 100).expect("values");
        assert!(p99 >= exact && p99 <= exact + exact / 8, "{p99:?}");
        assert_eq!(h.quantile(1, 1), Some(Duration::from_secs(1)));
    }

    #[test]
    fn huge_values_saturate() {
        let mut h = Histogram::default();
        h.record(Duration::MAX);
        h.record(Duration::MAX);
        h.record(Duration::ZERO);
        assert_eq!(h.quantile(99, 100), Some(Duration::from_nanos(u64::MAX)));
        assert!(h.mean().is_some());
    }
}
