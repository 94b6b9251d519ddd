//! The frame header: parse from partial input, encode to a stack buffer.

use super::{FrameError, OpCode};

/// The longest header: 2 bytes + 8 bytes of length + 4 bytes of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// The three reserved bits, RSV1 in bit 2, RSV2 in bit 1, RSV3 in bit 0.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on frames sent by clients.
    pub mask: Option<[u8; 4]>,
    /// Length of the payload that follows the header.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`: `Ok(None)` if more bytes are needed,
    /// otherwise the header and how many bytes it took.
    ///
    /// Only the header's shape is checked here (reserved opcode, 64-bit length with its
    /// top bit set); RSV bits, masking and control-frame rules are left to
    /// [`FrameDecoder`](super::FrameDecoder), which knows what was negotiated.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        let Some([first, second]) = read_array::<2>(buf, 0) else {
            return Ok(None);
        };
        // Check the opcode as soon as the first byte is here rather than after the whole
        // header, so a bad peer is rejected without waiting on it.
        let opcode = OpCode::from_u8(first)?;
        let (payload_len, mut pos) = match second & 0x7F {
            126 => match read_array::<2>(buf, 2) {
                Some(len) => (u64::from(u16::from_be_bytes(len)), 4),
                None => return Ok(None),
            },
            127 => match read_array::<8>(buf, 2) {
                Some(len) => {
                    let len = u64::from_be_bytes(len);
                    if len >> 63 != 0 {
                        return Err(FrameError::InvalidLength);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            len => (u64::from(len), 2),
        };
        let mask = if second & 0x80 != 0 {
            let Some(key) = read_array::<4>(buf, pos) else {
                return Ok(None);
            };
            pos += 4;
            Some(key)
        } else {
            None
        };
        let header = FrameHeader {
            fin: first & 0x80 != 0,
            rsv: (first >> 4) & 0x07,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, pos)))
    }

    /// The number of bytes `encode` writes.
    pub fn encoded_len(&self) -> usize {
        let mask = if self.mask.is_some() { 4 } else { 0 };
        2 + Self::extended_len_bytes(self.payload_len) + mask
    }

    /// Writes the header into `out`, returning how many bytes it used.
    ///
    /// Uses the shortest length encoding, as RFC 6455 §5.2 requires. `rsv` is truncated
    /// to its three bits and a length with the top bit set is written as given, so only
    /// headers that came from `parse` or were built within those limits round-trip.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x07) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len;
        let mut pos = 2;
        // The `as` casts cannot truncate: each arm's range fits its target type.
        match len {
            0..=125 => out[1] = mask_bit | len as u8,
            126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                pos = 4;
            }
            _ => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                pos = 10;
            }
        }
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }

    /// Bytes of extended payload length after the 7-bit field.
    fn extended_len_bytes(len: u64) -> usize {
        match len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        }
    }
}

/// The `N` bytes of `buf` starting at `at`, if they have all arrived.
fn read_array<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    const LENGTHS: [u64; 8] = [0, 1, 125, 126, 127, 65535, 65536, u32::MAX as u64 + 1];
    const MASKS: [Option<[u8; 4]>; 2] = [None, Some([0x37, 0xFA, 0x21, 0x3D])];

    fn headers() -> impl Iterator<Item = FrameHeader> {
        LENGTHS.into_iter().flat_map(|payload_len| {
            MASKS.into_iter().map(move |mask| FrameHeader {
                fin: payload_len % 2 == 0,
                rsv: (payload_len % 8) as u8,
                opcode: OpCode::Binary,
                mask,
                payload_len,
            })
        })
    }

    fn encoded(header: &FrameHeader) -> Vec<u8> {
        let mut out = [0; MAX_HEADER_LEN];
        let n = header.encode(&mut out);
        out[..n].to_vec()
    }

    #[test]
    fn round_trip() {
        for header in headers() {
            let bytes = encoded(&header);
            assert_eq!(bytes.len(), header.encoded_len(), "{header:?}");
            assert_eq!(FrameHeader::parse(&bytes), Ok(Some((header, bytes.len()))));
        }
    }

    #[test]
    fn minimal_length_encoding() {
        for header in headers() {
            let expected = match header.payload_len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            } + if header.mask.is_some() { 4 } else { 0 };
            assert_eq!(header.encoded_len(), expected, "{header:?}");
        }
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Text,
            mask: None,
            payload_len: 126,
        };
        assert_eq!(encoded(&header), [0x81, 126, 0, 126]);
    }

    #[test]
    fn every_prefix_needs_more() {
        for header in headers() {
            let bytes = encoded(&header);
            for n in 0..bytes.len() {
                assert_eq!(
                    FrameHeader::parse(&bytes[..n]),
                    Ok(None),
                    "{header:?} prefix {n}"
                );
            }
        }
    }

    #[test]
    fn consumes_only_the_header() {
        for header in headers() {
            let mut bytes = encoded(&header);
            let len = bytes.len();
            bytes.extend_from_slice(b"payload");
            assert_eq!(FrameHeader::parse(&bytes), Ok(Some((header, len))));
        }
    }

    #[test]
    fn bit_positions() {
        let (header, used) = FrameHeader::parse(&[0xC1, 0x85, 1, 2, 3, 4])
            .unwrap()
            .unwrap();
        assert_eq!(used, 6);
        assert_eq!(
            header,
            FrameHeader {
                fin: true,
                rsv: 0b100,
                opcode: OpCode::Text,
                mask: Some([1, 2, 3, 4]),
                payload_len: 5,
            }
        );
        let (header, _) = FrameHeader::parse(&[0x30, 0x00]).unwrap().unwrap();
        assert!(!header.fin);
        assert_eq!(header.rsv, 0b011);
        assert_eq!(header.opcode, OpCode::Continuation);
    }

    #[test]
    fn reserved_opcodes() {
        for op in (0x3..=0x7).chain(0xB..=0xF) {
            for first in [op, 0x80 | op, 0xF0 | op] {
                assert_eq!(
                    FrameHeader::parse(&[first, 0x00]),
                    Err(FrameError::ReservedOpcode(op))
                );
            }
        }
        assert_eq!(FrameHeader::parse(&[0x83]), Ok(None));
    }

    #[test]
    fn msb_length_is_invalid() {
        let mut bytes = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::parse(&bytes), Err(FrameError::InvalidLength));
        bytes[2..].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(FrameHeader::parse(&bytes), Err(FrameError::InvalidLength));
        bytes[2..].copy_from_slice(&(u64::MAX >> 1).to_be_bytes());
        let (header, used) = FrameHeader::parse(&bytes).unwrap().unwrap();
        assert_eq!((header.payload_len, used), (u64::MAX >> 1, 10));
    }

    #[test]
    fn leaves_framing_rules_to_the_decoder() {
        // Fragmented, oversized, RSV-flagged ping with a mask: parse accepts the shape.
        let (header, used) = FrameHeader::parse(&[0x79, 0xFE, 0x01, 0x00, 9, 9, 9, 9])
            .unwrap()
            .unwrap();
        assert_eq!(used, 8);
        assert!(!header.fin);
        assert_eq!(header.rsv, 0b111);
        assert_eq!(header.opcode, OpCode::Ping);
        assert_eq!(header.payload_len, 256);
    }

    #[test]
    fn never_panics_on_short_or_odd_input() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = FrameHeader::parse(&[a, b]);
                let _ = FrameHeader::parse(&[a, b, 0xFF, 0xFF]);
            }
        }
    }
}
