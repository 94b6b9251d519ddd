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
///
/// Its ChaCha state (over 300 bytes) is made from the seed on the first draw and boxed, and
/// [`release_idle`](Self::release_idle) frees it again, keeping only where in the stream
/// it was: a machine that never draws (a server connection masks nothing; a server's
/// JSON-RPC channel mints no request ids), or that is idle, holds the seed and a counter.
/// The draws are the same either way.
#[derive(Debug, Clone)]
pub struct Rng {
    seed: Seed,
    /// Words of the stream drawn before the state was last freed.
    word_pos: u128,
    state: Option<Box<ChaCha12Rng>>,
}

impl Rng {
    /// Builds the generator from a caller-chosen seed.
    pub fn from_seed(seed: Seed) -> Self {
        Rng {
            seed,
            word_pos: 0,
            state: None,
        }
    }

    fn state(&mut self) -> &mut ChaCha12Rng {
        let (seed, word_pos) = (self.seed, self.word_pos);
        self.state.get_or_insert_with(|| {
            let mut state = ChaCha12Rng::from_seed(seed);
            state.set_word_pos(word_pos);
            Box::new(state)
        })
    }

    /// Frees the ChaCha state, remembering where in the stream it was; the next draw makes
    /// it again and goes on from there.
    pub fn release_idle(&mut self) {
        if let Some(state) = self.state.take() {
            self.word_pos = state.get_word_pos();
        }
    }

    /// Fills `dest` with random bytes.
    pub fn fill(&mut self, dest: &mut [u8]) {
        self.state().fill_bytes(dest);
    }

    /// A random 32-bit value.
    pub fn next_u32(&mut self) -> u32 {
        self.state().next_u32()
    }

    /// A random 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.state().next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_the_chacha_stream_of_the_seed_however_late_the_first() {
        let mut direct = ChaCha12Rng::from_seed([7; 32]);
        let mut rng = Rng::from_seed([7; 32]);
        let copy = rng.clone();
        assert_eq!(rng.next_u64(), direct.next_u64());
        assert_eq!(rng.next_u32(), direct.next_u32());
        let (mut a, mut b) = ([0; 40], [0; 40]);
        rng.fill(&mut a);
        direct.fill_bytes(&mut b);
        assert_eq!(a, b);
        // A clone taken before any draw starts from the seed too.
        let mut copy = copy;
        assert_eq!(copy.next_u64(), ChaCha12Rng::from_seed([7; 32]).next_u64());
    }

    #[test]
    fn releasing_the_state_between_draws_keeps_the_stream() {
        let mut direct = ChaCha12Rng::from_seed([9; 32]);
        let mut rng = Rng::from_seed([9; 32]);
        rng.release_idle();
        // Odd sizes leave part of a word, and of a 64-word block, behind at each release.
        for len in [1usize, 3, 4, 7, 64, 250, 1] {
            let (mut a, mut b) = (vec![0; len], vec![0; len]);
            rng.fill(&mut a);
            direct.fill_bytes(&mut b);
            assert_eq!(a, b, "{len} bytes");
            rng.release_idle();
            assert_eq!(rng.next_u32(), direct.next_u32());
            rng.release_idle();
            assert_eq!(rng.next_u64(), direct.next_u64());
        }
    }
}
