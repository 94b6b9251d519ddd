//! Writes whole frames.

use bytes::BytesMut;

use super::OpCode;

/// Appends one frame (header, then payload masked with `mask` if given) to `out`.
pub fn encode_frame(
    _out: &mut BytesMut,
    _fin: bool,
    _opcode: OpCode,
    _mask: Option<[u8; 4]>,
    _payload: &[u8],
) {
    todo!()
}
