//! The receiving half: compressed frames in, as they arrive; inflated bytes out, bounded.

use bytes::BytesMut;
use flate2::{Decompress, FlushDecompress, Status};

use super::TRAILER;

/// The most output room handed to zlib at once. Room is zero-filled before zlib writes
/// into it (the core has no unsafe code), so it is sized from this call's input and what
/// zlib has produced in it so far, never from the buffer's spare capacity: after a large
/// message a buffer's spare capacity can be tens of MiB, and zero-filling that for each
/// one-byte frame made a frame of 7 bytes on the wire cost a millisecond of CPU.
const MAX_ROOM: usize = 64 << 10;
/// The room of a call's first step when its input is tiny.
const MIN_ROOM: usize = 1 << 10;

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates to more than the limit; `size` bytes were produced before stopping.
    TooBig { size: usize },
    /// It is not a valid deflate stream.
    Corrupt,
}

/// Inflates the messages the peer compressed.
#[derive(Debug)]
pub(crate) struct Decompressor {
    /// Made for the first compressed message received.
    inner: Option<Decompress>,
    /// The peer starts every message afresh, so we may too.
    reset_after_message: bool,
    /// The peer ended its stream with a final block inside this message: the rest of the
    /// message (our trailer included) has nothing for us.
    ended: bool,
    /// Bytes zero-filled as room for zlib so far: the work a test can bound.
    #[cfg(test)]
    zeroed: usize,
}

impl Decompressor {
    /// `peer_no_context_takeover`: the peer resets its compressor after every message.
    pub(crate) fn new(peer_no_context_takeover: bool) -> Decompressor {
        Decompressor {
            inner: None,
            reset_after_message: peer_no_context_takeover,
            ended: false,
            #[cfg(test)]
            zeroed: 0,
        }
    }

    /// Inflates the next piece of a compressed message onto `out`, which never grows past
    /// `limit` bytes: inflating stops as soon as the output would. The work is bounded by
    /// this call's input and output, whatever `out` holds already: at most
    /// `MIN_ROOM + 4 × input + 3 × output` bytes are zero-filled for zlib to write into.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), InflateError> {
        let result = self.run(input, out, limit);
        if result.is_err() {
            // The stream is broken; the connection is failing. Free the state now.
            self.inner = None;
        }
        result
    }

    /// Ends a message: inflates the trailer the sender stripped (RFC 7692 §7.2.2), then
    /// readies for the next message.
    pub(crate) fn finish(&mut self, out: &mut BytesMut, limit: usize) -> Result<(), InflateError> {
        self.inflate(&TRAILER, out, limit)?;
        if self.reset_after_message || self.ended {
            // After a final block the next message starts a new stream, which zlib only
            // accepts after a reset.
            if let Some(inner) = &mut self.inner {
                inner.reset(false);
            }
        }
        self.ended = false;
        Ok(())
    }

    fn run(
        &mut self,
        mut input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), InflateError> {
        if self.ended {
            return Ok(());
        }
        // Our window is always 32 KiB: it inflates what any window up to that produced, even
        // from a zlib that widens a negotiated 8 bits to 9.
        let inflate = self.inner.get_or_insert_with(|| Decompress::new(false));
        // Deflate inflates JSON several times over: guess from the input, then double
        // while zlib fills what it is given, so a large message takes few steps.
        let mut step = input.len().saturating_mul(4).clamp(MIN_ROOM, MAX_ROOM);
        loop {
            let len = out.len();
            // One byte past the limit tells "too big" from "exactly at the limit".
            let cap = (limit - len.min(limit)).saturating_add(1);
            let room = step.min(cap);
            out.resize(len + room, 0);
            #[cfg(test)]
            {
                self.zeroed += room;
            }
            let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
            let status = inflate.decompress(input, &mut out[len..], FlushDecompress::Sync);
            let consumed = (inflate.total_in() - in_before) as usize;
            let produced = (inflate.total_out() - out_before) as usize;
            out.truncate(len + produced.min(room));
            input = input.get(consumed..).unwrap_or_default();
            if out.len() > limit {
                return Err(InflateError::TooBig { size: out.len() });
            }
            match status {
                Err(_) => return Err(InflateError::Corrupt),
                Ok(Status::StreamEnd) => {
                    self.ended = true;
                    return Ok(());
                }
                Ok(Status::Ok | Status::BufError) => {}
            }
            if input.is_empty() && produced < room {
                // zlib stopped with room to spare: it has given all it can.
                return Ok(());
            }
            if consumed == 0 && produced == 0 {
                // Input left and room for output, yet no progress: not a stream zlib can read.
                return Err(InflateError::Corrupt);
            }
            if produced >= room {
                // Every step but the last is filled, so the room handed out stays within
                // a few times what came out.
                step = step.saturating_mul(2).min(MAX_ROOM);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    /// `data` deflated by zlib itself and ended with `flush`, trailer stripped if present.
    fn deflated(data: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut compress = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        compress.compress_vec(data, &mut out, flush).unwrap();
        assert_eq!(compress.total_in(), data.len() as u64);
        if out.ends_with(&TRAILER) {
            out.truncate(out.len() - 4);
        }
        out
    }

    fn inflate_in_pieces(
        d: &mut Decompressor,
        data: &[u8],
        piece: usize,
        limit: usize,
    ) -> Result<BytesMut, InflateError> {
        let mut out = BytesMut::new();
        for chunk in data.chunks(piece.max(1)) {
            d.inflate(chunk, &mut out, limit)?;
            assert!(out.len() <= limit + 1);
        }
        d.finish(&mut out, limit)?;
        Ok(out)
    }

    #[test]
    fn inflates_in_any_pieces() {
        let text: Vec<u8> = b"AppendEntries ".repeat(5000);
        let wire = deflated(&text, FlushCompress::Sync);
        for piece in [1, 2, 3, 7, 64, 1000, wire.len()] {
            let mut d = Decompressor::new(false);
            assert_eq!(
                inflate_in_pieces(&mut d, &wire, piece, 1 << 20).unwrap(),
                text,
                "{piece}"
            );
        }
    }

    #[test]
    fn a_bomb_stops_one_byte_past_the_limit() {
        // 16 MiB of zeros deflate to about 16 KiB.
        let bomb = deflated(&vec![0u8; 16 << 20], FlushCompress::Sync);
        assert!(bomb.len() < 20 << 10, "{}", bomb.len());
        let limit = 1 << 20;
        let mut d = Decompressor::new(false);
        assert_eq!(
            inflate_in_pieces(&mut d, &bomb, 4096, limit),
            Err(InflateError::TooBig { size: limit + 1 })
        );
        // Exactly at the limit is fine.
        let exact = deflated(&vec![7u8; limit], FlushCompress::Sync);
        let mut d = Decompressor::new(false);
        assert_eq!(
            inflate_in_pieces(&mut d, &exact, 100, limit).unwrap().len(),
            limit
        );
    }

    #[test]
    fn tiny_frames_after_a_large_inflate_cost_what_they_carry() {
        // 30 MiB of one byte, then incompressible bytes, all in one message.
        let mut compress = Compress::new(Compression::default(), false);
        let mut wire = Vec::with_capacity(1 << 20);
        compress
            .compress_vec(&vec![b'a'; 30 << 20], &mut wire, FlushCompress::Sync)
            .unwrap();
        let first = wire.len();
        let noise: Vec<u8> = (0u32..4000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut tail = Vec::with_capacity(8000);
        compress
            .compress_vec(&noise, &mut tail, FlushCompress::Sync)
            .unwrap();
        let mut d = Decompressor::new(false);
        let mut out = BytesMut::new();
        d.inflate(&wire[..first], &mut out, 64 << 20).unwrap();
        assert_eq!(out.len(), 30 << 20);
        assert!(
            out.capacity() - out.len() > 0,
            "spare capacity left to zero-fill"
        );
        let (before, zeroed_before) = (out.len(), d.zeroed);
        for byte in tail.chunks(1) {
            d.inflate(byte, &mut out, 64 << 20).unwrap();
        }
        assert_eq!(&out[before..], &noise[..]);
        // Each call zero-fills at most MIN_ROOM + 4 × input + 3 × output.
        let zeroed = d.zeroed - zeroed_before;
        let bound = tail.len() * (MIN_ROOM + 4) + 3 * noise.len();
        assert!(
            zeroed <= bound,
            "{zeroed} bytes zero-filled for {} one-byte calls",
            tail.len()
        );
    }

    #[test]
    fn garbage_is_corrupt() {
        for garbage in [
            &[0xff, 0xff, 0xff][..],
            &[0x07; 40],
            b"\x00\x05\x00\x00\x00",
        ] {
            let mut d = Decompressor::new(false);
            assert_eq!(
                inflate_in_pieces(&mut d, garbage, 64, 1 << 20),
                Err(InflateError::Corrupt),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn a_final_block_ends_the_message_and_the_next_one_starts_afresh() {
        let mut d = Decompressor::new(false);
        for message in [&b"first message"[..], b"second message"] {
            let wire = deflated(message, FlushCompress::Finish);
            assert_eq!(inflate_in_pieces(&mut d, &wire, 5, 1024).unwrap(), message);
        }
    }

    #[test]
    fn context_takeover_and_reset() {
        let message = b"a message that repeats, a message that repeats".to_vec();
        let mut compress = Compress::new(Compression::default(), false);
        let mut wires = Vec::new();
        for _ in 0..2 {
            let mut out = Vec::with_capacity(1024);
            compress
                .compress_vec(&message, &mut out, FlushCompress::Sync)
                .unwrap();
            out.truncate(out.len() - 4);
            wires.push(out);
        }
        // The second message refers back into the first: only a decompressor that kept its
        // context can read it.
        let mut keeps = Decompressor::new(false);
        for wire in &wires {
            assert_eq!(
                inflate_in_pieces(&mut keeps, wire, 3, 1024).unwrap(),
                message
            );
        }
        let mut resets = Decompressor::new(true);
        assert_eq!(
            inflate_in_pieces(&mut resets, &wires[0], 3, 1024).unwrap(),
            message
        );
        assert_eq!(
            inflate_in_pieces(&mut resets, &wires[1], 3, 1024),
            Err(InflateError::Corrupt)
        );
    }
}
