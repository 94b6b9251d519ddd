//! Arbitrary bytes through the streaming frame decoder, in arbitrary pieces: it must never
//! panic, and the payload it yields must never exceed what the headers announced.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tether_core::frame::{FrameDecoder, FramePart};

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else { return };
    let step = usize::from(split).max(1);
    let mut decoder = FrameDecoder::new(split & 1 == 0, 1 << 16, 0);
    let mut buf = BytesMut::new();
    let mut announced = 0u64;
    let mut seen = 0u64;
    'feed: for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(FramePart::Header(h))) => announced += h.payload_len,
                Ok(Some(FramePart::Payload { data, .. })) => seen += data.len() as u64,
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    assert!(seen <= announced);
});
