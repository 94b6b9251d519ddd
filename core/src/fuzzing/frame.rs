//! The `frame_decoder` target: the streaming frame decoder, fed in pieces, and every frame
//! it yields written again and read back.

use bytes::BytesMut;

use crate::deflate::RSV1;
use crate::frame::{encode_frame_rsv, FrameDecoder, FrameHeader, FramePart, MAX_HEADER_LEN};

/// The largest frame the decoder takes here: big enough for the 16- and 64-bit lengths.
const MAX_FRAME: u64 = 1 << 17;

/// The first byte is the mode: bit 0 picks the role (0: a server, reading masked frames),
/// bit 1 allows RSV1 (permessage-deflate negotiated, so compressed frames' headers pass),
/// bits 2-7 the piece size. The rest goes through the decoder in pieces of that size.
///
/// Checked: the payload yielded never exceeds what the headers announced; every header
/// encodes and parses back to itself in `encoded_len` bytes; every complete frame, written
/// again with [`encode_frame_rsv`] (masked with its own key), decodes to the same header
/// and payload through a fresh decoder of the same settings, fed whole.
pub fn frame_decoder(data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let expect_masked = mode & 1 == 0;
    let rsv = if mode & 2 != 0 { RSV1 } else { 0 };
    let step = usize::from(mode >> 2).max(1);
    let mut decoder = FrameDecoder::new(expect_masked, MAX_FRAME, rsv);
    let mut buf = BytesMut::new();
    let mut announced = 0u64;
    let mut seen = 0u64;
    let mut frame: Option<(FrameHeader, Vec<u8>)> = None;
    'feed: for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(FramePart::Header(header))) => {
                    announced += header.payload_len;
                    header_round_trip(&header);
                    frame = Some((header, Vec::new()));
                }
                Ok(Some(FramePart::Payload { data, last })) => {
                    seen += data.len() as u64;
                    let Some((header, payload)) = frame.as_mut() else {
                        panic!("payload before any header");
                    };
                    payload.extend_from_slice(&data);
                    if last {
                        assert_eq!(payload.len() as u64, header.payload_len);
                        frame_round_trip(header, payload, expect_masked, rsv);
                        frame = None;
                    }
                }
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    assert!(
        seen <= announced,
        "{seen} payload bytes for {announced} announced"
    );
}

fn header_round_trip(header: &FrameHeader) {
    let mut out = [0; MAX_HEADER_LEN];
    let len = header.encode(&mut out);
    assert_eq!(len, header.encoded_len());
    match FrameHeader::parse(&out[..len]) {
        Ok(Some((back, used))) => {
            assert_eq!(&back, header, "header did not parse back");
            assert_eq!(used, len);
        }
        other => panic!(
            "{header:?} encoded as {:?} parses as {other:?}",
            &out[..len]
        ),
    }
}

fn frame_round_trip(header: &FrameHeader, payload: &[u8], expect_masked: bool, rsv: u8) {
    let mut wire = BytesMut::new();
    encode_frame_rsv(
        &mut wire,
        header.fin,
        header.rsv,
        header.opcode,
        header.mask,
        payload,
    );
    let mut decoder = FrameDecoder::new(expect_masked, MAX_FRAME, rsv);
    let back = match decoder.decode(&mut wire) {
        Ok(Some(FramePart::Header(back))) => back,
        other => panic!("{header:?} written again decodes as {other:?}"),
    };
    assert_eq!(&back, header, "header changed on a round trip");
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut wire) {
            Ok(Some(FramePart::Payload { data, last })) => {
                body.extend_from_slice(&data);
                if last {
                    break;
                }
            }
            other => panic!("{header:?}: payload written again decodes as {other:?}"),
        }
    }
    assert_eq!(body, payload, "payload changed on a round trip");
    assert!(wire.is_empty(), "bytes left after one frame");
}
