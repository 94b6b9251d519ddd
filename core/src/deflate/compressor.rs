//! The sending half: a whole message in, its compressed payload out.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

use super::{Deflate, DeflateParams, TRAILER};
use crate::ws::Role;

/// Compresses the messages one side sends, as agreed in the handshake.
#[derive(Debug)]
pub(crate) struct Compressor {
    /// Made for the first message that is compressed, so a connection that only ever sends
    /// short messages holds no zlib state.
    inner: Option<Compress>,
    level: u32,
    /// The agreed window, or `None` when it is 8 bits: zlib cannot compress within 256
    /// bytes, so every message then goes out uncompressed, which RFC 7692 always allows.
    window_bits: Option<u8>,
    no_context_takeover: bool,
    threshold: usize,
}

impl Compressor {
    /// The compressor of the side that sends as `role`.
    pub(crate) fn new(params: &DeflateParams, role: Role, settings: &Deflate) -> Compressor {
        let (bits, no_context_takeover) = params.sender(role);
        Compressor {
            inner: None,
            level: settings.level.min(9),
            window_bits: (9..=15).contains(&bits).then_some(bits),
            no_context_takeover,
            threshold: settings.threshold,
        }
    }

    /// The compressed payload of `payload`, or `None` to send it as it is: it is shorter
    /// than the threshold, or cannot be compressed within the agreed window.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Option<Bytes> {
        if payload.len() < self.threshold {
            return None;
        }
        let bits = self.window_bits?;
        let level = Compression::new(self.level);
        let compress = self
            .inner
            .get_or_insert_with(|| Compress::new_with_window_bits(level, false, bits));
        match deflate_message(compress, payload) {
            Some(out) => {
                if self.no_context_takeover {
                    compress.reset();
                }
                Some(out)
            }
            None => {
                // zlib refused, which it only does when misused. Its state is unknown, so
                // start the next message with a fresh one: a new stream never reaches back
                // into the peer's window, so that is valid even with context takeover.
                self.inner = None;
                None
            }
        }
    }
}

/// Deflates `payload` and sync-flushes, minus the trailer (RFC 7692 §7.2.1).
fn deflate_message(compress: &mut Compress, payload: &[u8]) -> Option<Bytes> {
    // JSON shrinks several times over; the buffer doubles when that guess is short.
    let mut out = Vec::with_capacity(payload.len() / 4 + 64);
    let start_in = compress.total_in();
    loop {
        let consumed = usize::try_from(compress.total_in() - start_in).ok()?;
        let rest = payload.get(consumed..)?;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity());
        }
        let before = (compress.total_in(), compress.total_out());
        compress
            .compress_vec(rest, &mut out, FlushCompress::Sync)
            .ok()?;
        let all_in = compress.total_in() - start_in == payload.len() as u64;
        // The flush is complete once zlib stops with room to spare.
        if all_in && out.len() < out.capacity() {
            break;
        }
        if (compress.total_in(), compress.total_out()) == before {
            return None;
        }
    }
    let body = out.len().checked_sub(TRAILER.len())?;
    if out[body..] != TRAILER {
        return None;
    }
    out.truncate(body);
    if out.capacity() - out.len() > 4 << 10 {
        // Queued messages should not hold twice their size.
        out.shrink_to_fit();
    }
    Some(Bytes::from(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use crate::deflate::Decompressor;
    use bytes::BytesMut;

    fn params(bits: u8, no_context_takeover: bool) -> DeflateParams {
        DeflateParams {
            client_no_context_takeover: no_context_takeover,
            server_no_context_takeover: no_context_takeover,
            client_max_window_bits: bits,
            server_max_window_bits: bits,
        }
    }

    fn compressor(bits: u8, no_context_takeover: bool, threshold: usize) -> Compressor {
        let settings = Deflate {
            threshold,
            ..Deflate::default()
        };
        Compressor::new(&params(bits, no_context_takeover), Role::Client, &settings)
    }

    fn json(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!(r#"{{"term":7,"index":{i},"command":"set k{i} v"}}"#))
            .collect::<Vec<_>>()
            .join(",")
            .into_bytes()
    }

    #[test]
    fn round_trips_for_every_window_and_takeover() {
        for bits in 9..=15 {
            for no_context_takeover in [false, true] {
                let mut out = compressor(bits, no_context_takeover, 0);
                let mut inflate = Decompressor::new(no_context_takeover);
                for message in [json(0), json(1), json(200), json(200), b"x".to_vec()] {
                    let compressed = out.compress(&message).expect("compressible");
                    assert!(!compressed.ends_with(&TRAILER), "trailer left in");
                    let mut back = BytesMut::new();
                    inflate.inflate(&compressed, &mut back, 1 << 20).unwrap();
                    inflate.finish(&mut back, 1 << 20).unwrap();
                    assert_eq!(back, message, "bits {bits} nct {no_context_takeover}");
                }
            }
        }
    }

    #[test]
    fn context_takeover_shrinks_a_repeated_message() {
        let message = json(20);
        let mut takeover = compressor(15, false, 0);
        let first = takeover.compress(&message).unwrap();
        let second = takeover.compress(&message).unwrap();
        assert!(
            second.len() * 4 < first.len(),
            "{} vs {}",
            second.len(),
            first.len()
        );

        let mut fresh = compressor(15, true, 0);
        let first = fresh.compress(&message).unwrap();
        assert_eq!(fresh.compress(&message).unwrap(), first);
    }

    #[test]
    fn below_the_threshold_or_at_8_bits_nothing_is_compressed() {
        let mut out = compressor(15, false, 100);
        assert_eq!(out.compress(&[b'a'; 99]), None);
        assert!(out.compress(&[b'a'; 100]).is_some());
        // zlib cannot compress within a 256-byte window; such messages go out as they are.
        assert_eq!(compressor(8, false, 0).compress(&json(10)), None);
    }

    #[test]
    fn incompressible_data_grows_only_a_little() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let compressed = compressor(15, false, 0).compress(&noise).unwrap();
        assert!(compressed.len() < noise.len() + noise.len() / 100 + 64);
        let mut back = BytesMut::new();
        let mut inflate = Decompressor::new(false);
        inflate.inflate(&compressed, &mut back, 1 << 20).unwrap();
        inflate.finish(&mut back, 1 << 20).unwrap();
        assert_eq!(back, noise);
    }
}
