//! The simulator's own randomness and trace hash: small, written here, and fully
//! determined by the seed, so a run can be replayed from one number.

/// SplitMix64: a 64-bit generator with good mixing for its size. Not cryptographic; it
/// only has to spread one seed over every choice the simulator makes.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..=hi` (`lo` if the range is empty). The modulo bias is irrelevant
    /// for a test schedule.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A value in `lo..=hi` spread over orders of magnitude: each power of two between
    /// them is about as likely, so small values come up as often as large ones.
    pub fn log_range(&mut self, lo: u64, hi: u64) -> u64 {
        let lo = lo.max(1);
        if hi <= lo {
            return lo;
        }
        let bits = 64 - (hi / lo).leading_zeros() as u64;
        let scale = 1u64 << self.range(0, bits - 1);
        self.range(
            lo.saturating_mul(scale),
            lo.saturating_mul(scale).saturating_mul(2),
        )
        .min(hi)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// A 32-byte seed for a state machine, drawn from this generator.
    pub fn seed32(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        seed
    }
}

/// FNV-1a over everything a run delivers and reports. Written here rather than taken from
/// `std` because `DefaultHasher` promises no stable output across Rust releases, and a
/// trace printed today must mean the same tomorrow.
#[derive(Debug, Clone)]
pub struct Trace(u64);

impl Default for Trace {
    fn default() -> Self {
        Trace(0xCBF2_9CE4_8422_2325)
    }
}

impl Trace {
    /// Mixes `bytes` into the trace.
    pub fn add(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }

    /// Mixes a number into the trace.
    pub fn add_u64(&mut self, value: u64) {
        self.add(&value.to_le_bytes());
    }

    /// The hash so far.
    pub fn hash(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_spreads_close_seeds() {
        let a: Vec<u64> = (0..4)
            .scan(SimRng::new(1), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .scan(SimRng::new(1), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .scan(SimRng::new(2), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn range_stays_in_bounds() {
        let mut rng = SimRng::new(7);
        for _ in 0..1000 {
            let v = rng.range(3, 9);
            assert!((3..=9).contains(&v));
        }
        assert_eq!(rng.range(5, 5), 5);
        for _ in 0..1000 {
            let v = rng.log_range(256, 256 << 10);
            assert!((256..=256 << 10).contains(&v));
        }
        assert_eq!(rng.range(6, 2), 6);
    }
}
