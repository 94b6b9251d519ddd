//! A streaming frame decoder: headers and unmasked payload chunks, as bytes arrive.

use bytes::BytesMut;

use super::{FrameError, FrameHeader};

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
pub struct FrameDecoder {}

impl FrameDecoder {
    /// `expect_masked`: true on a server (client frames must be masked), false on a client
    /// (server frames must not be). `max_frame_size` bounds a header's payload length.
    /// `allowed_rsv` is the set of RSV bits an extension negotiated (0 for none).
    pub fn new(_expect_masked: bool, _max_frame_size: u64, _allowed_rsv: u8) -> Self {
        todo!()
    }
    /// Takes what it can from the front of `buf`; `Ok(None)` means it needs more bytes.
    pub fn decode(&mut self, _buf: &mut BytesMut) -> Result<Option<FramePart>, FrameError> {
        todo!()
    }
}
