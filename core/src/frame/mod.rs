//! RFC 6455 frames: opcodes and close codes, the header codec, masking, incremental
//! UTF-8 validation and a streaming decoder. Pure functions over byte buffers.

mod decoder;
mod encode;
mod error;
mod header;
mod mask;
mod opcode;
mod utf8;

pub use decoder::{FrameDecoder, FramePart};
pub use encode::{encode_frame, encode_frame_rsv};
pub use error::FrameError;
pub use header::{FrameHeader, MAX_HEADER_LEN};
pub use mask::{apply_mask, apply_mask_bytewise};
pub use opcode::{CloseCode, OpCode};
pub use utf8::{Utf8Error, Utf8Validator};
