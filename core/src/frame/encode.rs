//! Writes whole frames.

use bytes::BytesMut;

use super::{apply_mask, FrameHeader, OpCode, MAX_HEADER_LEN};

/// Appends one frame (header, then payload masked with `mask` if given) to `out`.
pub fn encode_frame(
    out: &mut BytesMut,
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    encode_frame_rsv(out, fin, 0, opcode, mask, payload);
}

/// Like [`encode_frame`], with the reserved bits `rsv` (as in [`FrameHeader::rsv`]) set: an
/// extension's frames, such as the first frame of a compressed message.
pub fn encode_frame_rsv(
    out: &mut BytesMut,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        // usize is at most 64 bits on every target Rust supports.
        payload_len: payload.len() as u64,
    };
    let mut head = [0; MAX_HEADER_LEN];
    let head_len = header.encode(&mut head);
    out.reserve(head_len + payload.len());
    out.extend_from_slice(&head[..head_len]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        // RFC 6455 §5.7.
        let mut out = BytesMut::new();
        encode_frame(&mut out, true, OpCode::Text, None, b"Hello");
        assert_eq!(&out[..], b"\x81\x05\x48\x65\x6c\x6c\x6f");

        let mut out = BytesMut::new();
        encode_frame(
            &mut out,
            true,
            OpCode::Text,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            b"Hello",
        );
        assert_eq!(&out[..], b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");

        let mut out = BytesMut::new();
        encode_frame(&mut out, false, OpCode::Text, None, b"Hel");
        encode_frame(&mut out, true, OpCode::Continuation, None, b"lo");
        assert_eq!(&out[..], b"\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f");

        let mut out = BytesMut::new();
        encode_frame(&mut out, true, OpCode::Ping, None, b"Hello");
        assert_eq!(&out[..], b"\x89\x05\x48\x65\x6c\x6c\x6f");
    }

    #[test]
    fn appends_after_existing_bytes() {
        let mut out = BytesMut::from(&b"xy"[..]);
        encode_frame(&mut out, true, OpCode::Binary, Some([1, 2, 3, 4]), &[0; 6]);
        assert_eq!(
            &out[..],
            b"xy\x82\x86\x01\x02\x03\x04\x01\x02\x03\x04\x01\x02"
        );
    }

    #[test]
    fn reserved_bits() {
        let mut out = BytesMut::new();
        encode_frame_rsv(&mut out, true, 0b100, OpCode::Text, None, b"x");
        assert_eq!(&out[..], b"\xc1\x01x");
        let (header, _) = FrameHeader::parse(&out).unwrap().unwrap();
        assert_eq!(header.rsv, 0b100);
    }

    #[test]
    fn parses_back() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut out = BytesMut::new();
                encode_frame(&mut out, true, OpCode::Binary, mask, &payload);
                let (header, used) = FrameHeader::parse(&out).unwrap().unwrap();
                assert_eq!(header.payload_len, len as u64);
                assert_eq!(header.mask, mask);
                assert_eq!(used + len, out.len());
                let mut body = out[used..].to_vec();
                if let Some(key) = mask {
                    apply_mask(&mut body, key, 0);
                }
                assert_eq!(body, payload);
            }
        }
    }
}
