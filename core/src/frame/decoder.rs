//! A streaming frame decoder: headers and unmasked payload chunks, as bytes arrive.

use bytes::{Buf, BytesMut};

use super::{apply_mask, FrameError, FrameHeader};

/// A frame payload that arrives in one piece shorter than this is copied into a buffer of
/// its own; longer ones, and pieces of frames, are slices of the input buffer. With reads of
/// at most 256 KiB, a kept payload holds at most 16 times its own size alive.
const SHARE_FROM: usize = 16 << 10;

/// One piece of the frame stream.
#[derive(Debug, PartialEq, Eq)]
pub enum FramePart {
    /// A complete, validated header.
    Header(FrameHeader),
    /// The next bytes of the current frame's payload, already unmasked. `last` is true on
    /// the chunk that ends the frame (a zero-length frame yields one empty chunk).
    Payload {
        /// Unmasked payload bytes.
        data: BytesMut,
        /// This chunk ends the frame.
        last: bool,
    },
}

/// Decodes frames from a growing input buffer.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    expect_masked: bool,
    max_frame_size: u64,
    allowed_rsv: u8,
    /// The frame whose header has been returned and whose payload is still due.
    current: Option<Payload>,
}

/// Progress through one frame's payload.
#[derive(Debug, Clone)]
struct Payload {
    mask: Option<[u8; 4]>,
    remaining: u64,
    /// The whole payload length, to tell a frame's only chunk from a piece of it.
    len: u64,
    /// Position in the 4-byte key stream, which continues across chunks.
    key_offset: usize,
}

impl FrameDecoder {
    /// `expect_masked`: true on a server (client frames must be masked), false on a client
    /// (server frames must not be). `max_frame_size` bounds a header's payload length.
    /// `allowed_rsv` is the set of RSV bits an extension negotiated (0 for none).
    pub fn new(expect_masked: bool, max_frame_size: u64, allowed_rsv: u8) -> Self {
        FrameDecoder {
            expect_masked,
            max_frame_size,
            allowed_rsv,
            current: None,
        }
    }

    /// Changes the RSV bits frames may carry, for an extension negotiated after the decoder
    /// was made (the handshake ends after the connection starts).
    pub fn set_allowed_rsv(&mut self, allowed_rsv: u8) {
        self.allowed_rsv = allowed_rsv;
    }

    /// Takes what it can from the front of `buf`; `Ok(None)` means it needs more bytes.
    ///
    /// A frame comes out as one [`FramePart::Header`] followed by one or more
    /// [`FramePart::Payload`] chunks, the last with `last: true`. Header checks run in a
    /// fixed order, so a frame breaking several rules always reports the same one:
    /// reserved opcode, invalid 64-bit length, reserved bits, fragmented control frame,
    /// control frame too long, masking, size limit. After an error the stream is not
    /// decodable any more and the decoder should be dropped.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<FramePart>, FrameError> {
        let Some(current) = &mut self.current else {
            let Some((header, used)) = FrameHeader::parse(buf)? else {
                return Ok(None);
            };
            self.validate(&header)?;
            buf.advance(used);
            self.current = Some(Payload {
                mask: header.mask,
                remaining: header.payload_len,
                len: header.payload_len,
                key_offset: 0,
            });
            return Ok(Some(FramePart::Header(header)));
        };

        if current.remaining > 0 && buf.is_empty() {
            return Ok(None);
        }
        // A length beyond usize (on 32-bit targets) is more than any buffer can hold.
        let take = usize::try_from(current.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let whole_frame = take as u64 == current.len;
        let mut data = if whole_frame && take < SHARE_FROM {
            // A small frame in one piece is copied out: a slice of `buf` would keep the
            // whole (much larger) buffer alive as long as the caller keeps the payload, and
            // the copy costs less than the reference counting a shared slice needs. Pieces
            // of a frame stay slices: the caller copies them into its message anyway.
            let data = BytesMut::from(&buf[..take]);
            buf.advance(take);
            data
        } else {
            buf.split_to(take)
        };
        if let Some(key) = current.mask {
            apply_mask(&mut data, key, current.key_offset);
        }
        current.key_offset = (current.key_offset + take % 4) % 4;
        // `take` is at most `remaining`, so this never saturates.
        current.remaining = current.remaining.saturating_sub(take as u64);
        let last = current.remaining == 0;
        if last {
            self.current = None;
        }
        Ok(Some(FramePart::Payload { data, last }))
    }

    /// A whole frame at once, when no frame is in progress and one shorter than 16 KiB
    /// (the size from which `decode` shares payloads) lies complete at the front of `buf`:
    /// its header and its unmasked payload, in a buffer of its own (as
    /// [`decode`](Self::decode) copies it). Otherwise `Ok(None)`, with nothing consumed:
    /// [`decode`](Self::decode) takes it from there.
    ///
    /// Gives the same frames and the same errors as `decode`, in one call instead of two;
    /// small messages are the common case, and they are read at a rate where the hand-over
    /// of a header and then a payload part costs more than decoding them.
    #[inline]
    pub fn decode_small_frame(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<(FrameHeader, Vec<u8>)>, FrameError> {
        if self.current.is_some() {
            return Ok(None);
        }
        let Some((header, used)) = FrameHeader::parse(buf)? else {
            return Ok(None);
        };
        self.validate(&header)?;
        // `validate` bounded the length by `max_frame_size`; a frame too long to share is
        // left to `decode`, which parses the header again (once per large frame).
        let Some(len) = usize::try_from(header.payload_len)
            .ok()
            .filter(|&len| len < SHARE_FROM && len <= buf.len() - used)
        else {
            return Ok(None);
        };
        let payload = &mut buf[used..used + len];
        // Unmasked where it lies, then copied: the copy's fresh stores are not read back.
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        let data = payload.to_vec();
        buf.advance(used + len);
        Ok(Some((header, data)))
    }

    /// Applies the rules `FrameHeader::parse` leaves to the decoder, in the documented order.
    fn validate(&self, header: &FrameHeader) -> Result<(), FrameError> {
        if header.rsv & !self.allowed_rsv != 0 {
            return Err(FrameError::ReservedBits(header.rsv));
        }
        if header.opcode.is_control() {
            if !header.fin {
                return Err(FrameError::FragmentedControl);
            }
            if header.payload_len > 125 {
                return Err(FrameError::ControlTooLong(header.payload_len));
            }
        }
        match (self.expect_masked, header.mask.is_some()) {
            (true, false) => return Err(FrameError::UnmaskedFrame),
            (false, true) => return Err(FrameError::MaskedFrame),
            _ => {}
        }
        if header.payload_len > self.max_frame_size {
            return Err(FrameError::TooLarge {
                len: header.payload_len,
                max: self.max_frame_size,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use crate::frame::{encode_frame, OpCode};

    const MAX: u64 = 1 << 20;

    /// A conversation mixing control frames into a fragmented text message.
    fn frames() -> Vec<(bool, OpCode, Vec<u8>)> {
        vec![
            (true, OpCode::Ping, vec![]),
            (false, OpCode::Text, b"Hello, ".to_vec()),
            (true, OpCode::Pong, b"pong payload".to_vec()),
            (false, OpCode::Continuation, vec![]),
            (true, OpCode::Continuation, b"world".to_vec()),
            (true, OpCode::Binary, (0..300).map(|i| i as u8).collect()),
            (true, OpCode::Ping, vec![0xAB; 125]),
            (
                true,
                OpCode::Binary,
                (0..126).map(|i| (i * 7) as u8).collect(),
            ),
            (true, OpCode::Close, b"\x03\xe8bye".to_vec()),
        ]
    }

    fn key(i: usize) -> [u8; 4] {
        [i as u8, 0x5A, 0xC3, 0x11 ^ (i as u8)]
    }

    /// The wire bytes and what decoding them should give.
    fn stream(
        frames: &[(bool, OpCode, Vec<u8>)],
        masked: bool,
    ) -> (Vec<u8>, Vec<(FrameHeader, Vec<u8>)>) {
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for (i, (fin, opcode, payload)) in frames.iter().enumerate() {
            let mask = masked.then(|| key(i));
            encode_frame(&mut wire, *fin, *opcode, mask, payload);
            let header = FrameHeader {
                fin: *fin,
                rsv: 0,
                opcode: *opcode,
                mask,
                payload_len: payload.len() as u64,
            };
            expected.push((header, payload.clone()));
        }
        (wire.to_vec(), expected)
    }

    /// Feeds `chunks` one after another, decoding all it can after each, and returns every
    /// frame's header with its reassembled payload. Checks the part sequence as it goes, and
    /// that a clone of `decoder` trying `decode_small_frame` first gives the same frames.
    fn decode_all<'a>(
        decoder: &mut FrameDecoder,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Vec<(FrameHeader, Vec<u8>)> {
        let chunks: Vec<&[u8]> = chunks.into_iter().collect();
        let small_first = decode_all_with(&mut decoder.clone(), &chunks, true);
        let frames = decode_all_with(decoder, &chunks, false);
        assert_eq!(small_first, frames, "decode_small_frame changed the frames");
        frames
    }

    fn decode_all_with(
        decoder: &mut FrameDecoder,
        chunks: &[&[u8]],
        small_first: bool,
    ) -> Vec<(FrameHeader, Vec<u8>)> {
        let mut buf = BytesMut::new();
        let mut frames: Vec<(FrameHeader, Vec<u8>)> = Vec::new();
        let mut in_payload = false;
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                let before = buf.len();
                if small_first {
                    if let Some((header, data)) = decoder.decode_small_frame(&mut buf).unwrap() {
                        assert!(!in_payload, "whole frame inside another");
                        assert_eq!(data.len() as u64, header.payload_len);
                        assert!(data.len() < SHARE_FROM);
                        frames.push((header, data));
                        continue;
                    }
                    assert_eq!(buf.len(), before, "Ok(None) must not consume");
                }
                match decoder.decode(&mut buf).unwrap() {
                    None => {
                        assert_eq!(buf.len(), before, "Ok(None) must not consume");
                        break;
                    }
                    Some(FramePart::Header(header)) => {
                        assert!(!in_payload, "header before the last payload chunk");
                        in_payload = true;
                        frames.push((header, Vec::new()));
                    }
                    Some(FramePart::Payload { data, last }) => {
                        assert!(in_payload, "payload without a header");
                        let (header, payload) = frames.last_mut().unwrap();
                        assert!(!data.is_empty() || header.payload_len == 0, "empty chunk");
                        payload.extend_from_slice(&data);
                        assert_eq!(last, payload.len() as u64 == header.payload_len);
                        in_payload = !last;
                    }
                }
            }
        }
        assert!(!in_payload, "stream ended inside a frame");
        assert!(buf.is_empty());
        frames
    }

    #[test]
    fn whole_split_and_byte_by_byte() {
        for masked in [true, false] {
            let (wire, expected) = stream(&frames(), masked);
            let new = || FrameDecoder::new(masked, MAX, 0);

            assert_eq!(decode_all(&mut new(), [&wire[..]]), expected);
            for at in 0..=wire.len() {
                let (a, b) = wire.split_at(at);
                assert_eq!(decode_all(&mut new(), [a, b]), expected, "split at {at}");
            }
            assert_eq!(decode_all(&mut new(), wire.chunks(1)), expected);
            for size in 2..=13 {
                assert_eq!(
                    decode_all(&mut new(), wire.chunks(size)),
                    expected,
                    "chunks of {size}"
                );
            }
        }
    }

    #[test]
    fn large_frames_in_pieces() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let frames = vec![
            (true, OpCode::Binary, big.clone()),
            (true, OpCode::Ping, b"between".to_vec()),
            (true, OpCode::Binary, big[..65535].to_vec()),
        ];
        let (wire, expected) = stream(&frames, true);
        let new = || FrameDecoder::new(true, MAX, 0);
        assert_eq!(decode_all(&mut new(), [&wire[..]]), expected);
        assert_eq!(decode_all(&mut new(), wire.chunks(1)), expected);
        assert_eq!(decode_all(&mut new(), wire.chunks(4093)), expected);
    }

    #[test]
    fn zero_length_frame_yields_one_empty_last_chunk() {
        let mut decoder = FrameDecoder::new(false, MAX, 0);
        let mut buf = BytesMut::from(&[0x8A, 0x00, 0x89][..]);
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(FramePart::Header(_)))
        ));
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(Some(FramePart::Payload {
                data: BytesMut::new(),
                last: true
            }))
        );
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], [0x89]);
    }

    #[test]
    fn needs_more_mid_payload() {
        let mut decoder = FrameDecoder::new(false, MAX, 0);
        let mut buf = BytesMut::new();
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&[0x82, 0x03, b'a']);
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(FramePart::Header(_)))
        ));
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(Some(FramePart::Payload {
                data: BytesMut::from(&b"a"[..]),
                last: false
            }))
        );
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"bcd");
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(Some(FramePart::Payload {
                data: BytesMut::from(&b"bc"[..]),
                last: true
            }))
        );
        assert_eq!(&buf[..], b"d");
    }

    /// The first error decoding `bytes` whole; checks that trying `decode_small_frame`
    /// first finds the same one.
    fn first_error(decoder: &mut FrameDecoder, bytes: &[u8]) -> Option<FrameError> {
        let small_first = first_error_with(&mut decoder.clone(), bytes, true);
        let error = first_error_with(decoder, bytes, false);
        assert_eq!(small_first, error, "decode_small_frame changed the error");
        error
    }

    fn first_error_with(
        decoder: &mut FrameDecoder,
        bytes: &[u8],
        small_first: bool,
    ) -> Option<FrameError> {
        let mut buf = BytesMut::from(bytes);
        loop {
            if small_first {
                match decoder.decode_small_frame(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(e) => return Some(e),
                }
            }
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    }

    const K: [u8; 4] = [1, 2, 3, 4];

    fn masked(first: u8, len: u8, payload_len: usize) -> Vec<u8> {
        let mut bytes = vec![first, 0x80 | len];
        if len == 126 {
            bytes.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        bytes.extend_from_slice(&K);
        bytes.resize(bytes.len() + payload_len, 0);
        bytes
    }

    #[test]
    fn each_validation_error() {
        let server = || FrameDecoder::new(true, MAX, 0);
        let client = || FrameDecoder::new(false, MAX, 0);

        assert_eq!(
            first_error(&mut server(), &[0x83, 0x80]),
            Some(FrameError::ReservedOpcode(0x3))
        );
        assert_eq!(
            first_error(&mut client(), &[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Some(FrameError::InvalidLength)
        );
        assert_eq!(
            first_error(&mut server(), &masked(0xC1, 0, 0)),
            Some(FrameError::ReservedBits(0b100))
        );
        assert_eq!(
            first_error(&mut server(), &masked(0x09, 0, 0)),
            Some(FrameError::FragmentedControl)
        );
        assert_eq!(
            first_error(&mut server(), &masked(0x89, 126, 126)),
            Some(FrameError::ControlTooLong(126))
        );
        assert_eq!(
            first_error(&mut server(), &[0x81, 0x00]),
            Some(FrameError::UnmaskedFrame)
        );
        assert_eq!(
            first_error(&mut client(), &masked(0x81, 0, 0)),
            Some(FrameError::MaskedFrame)
        );
        assert_eq!(
            first_error(&mut FrameDecoder::new(true, 10, 0), &masked(0x82, 11, 11)),
            Some(FrameError::TooLarge { len: 11, max: 10 })
        );
    }

    #[test]
    fn limits_are_inclusive_and_allowed_rsv_passes() {
        assert_eq!(
            first_error(&mut FrameDecoder::new(true, 10, 0), &masked(0x82, 10, 10)),
            None
        );
        assert_eq!(
            first_error(
                &mut FrameDecoder::new(true, MAX, 0),
                &masked(0x89, 125, 125)
            ),
            None
        );
        let mut decoder = FrameDecoder::new(true, MAX, 0b100);
        let mut buf = BytesMut::from(&masked(0xC1, 0, 0)[..]);
        match decoder.decode(&mut buf) {
            Ok(Some(FramePart::Header(header))) => assert_eq!(header.rsv, 0b100),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            first_error(
                &mut FrameDecoder::new(true, MAX, 0b100),
                &masked(0xB1, 0, 0)
            ),
            Some(FrameError::ReservedBits(0b011))
        );
    }

    #[test]
    fn validation_order() {
        // A ping breaking every rule at once; fix one rule at a time.
        let max = 10;
        let server = || FrameDecoder::new(true, max, 0);
        let bad = |first: u8, len: u8| {
            let mut bytes = vec![first, len];
            if len == 126 {
                bytes.extend_from_slice(&200u16.to_be_bytes());
            }
            bytes
        };
        assert_eq!(
            first_error(&mut server(), &bad(0x7B, 126)),
            Some(FrameError::ReservedOpcode(0xB))
        );
        assert_eq!(
            first_error(&mut server(), &bad(0x79, 126)),
            Some(FrameError::ReservedBits(0b111))
        );
        assert_eq!(
            first_error(&mut server(), &bad(0x09, 126)),
            Some(FrameError::FragmentedControl)
        );
        assert_eq!(
            first_error(&mut server(), &bad(0x89, 126)),
            Some(FrameError::ControlTooLong(200))
        );
        assert_eq!(
            first_error(&mut server(), &bad(0x89, 100)),
            Some(FrameError::UnmaskedFrame)
        );
        assert_eq!(
            first_error(
                &mut server(),
                &bad(0x89, 0x80 | 100)
                    .into_iter()
                    .chain(K)
                    .collect::<Vec<_>>()
            ),
            Some(FrameError::TooLarge { len: 100, max })
        );
    }

    #[test]
    fn error_in_a_later_header() {
        let (mut wire, _) = stream(&frames(), true);
        wire.extend_from_slice(&[0x81, 0x05]);
        let mut decoder = FrameDecoder::new(true, MAX, 0);
        assert_eq!(
            first_error(&mut decoder, &wire),
            Some(FrameError::UnmaskedFrame)
        );
    }

    #[test]
    fn never_panics_on_noise() {
        // A fixed xorshift stream: reproducible, and varied enough to hit every branch.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            for (masked, rsv) in [(true, 0), (false, 0b111)] {
                let _ = first_error(&mut FrameDecoder::new(masked, next() % 64, rsv), &bytes);
            }
        }
    }
}
