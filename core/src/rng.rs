//! The one source of randomness in the core: a ChaCha stream seeded by the caller.
//!
//! Masks and handshake keys must be unpredictable to the peer (RFC 6455 §5.3), so the
//! generator is a CSPRNG; it is seeded by the adapter from the OS and by simulations from
//! a fixed seed, which makes every run replayable.

use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};

/// 32 bytes that fully determine every random choice a state machine makes.
pub type Seed = [u8; 32];

/// A deterministic cryptographic RNG owned by one state machine.
#[derive(Debug, Clone)]
pub struct Rng(ChaCha12Rng);

impl Rng {
    /// Builds the generator from a caller-chosen seed.
    pub fn from_seed(seed: Seed) -> Self {
        Rng(ChaCha12Rng::from_seed(seed))
    }

    /// Fills `dest` with random bytes.
    pub fn fill(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }

    /// A random 32-bit value.
    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// A random 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}
