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
    pub fn parse(_buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        todo!()
    }
    /// The number of bytes `encode` writes.
    pub fn encoded_len(&self) -> usize {
        todo!()
    }
    /// Writes the header into `out`, returning how many bytes it used.
    pub fn encode(&self, _out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        todo!()
    }
}
