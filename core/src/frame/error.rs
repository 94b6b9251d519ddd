//! Why a byte stream is not a valid sequence of frames.

/// A violation of RFC 6455 framing rules found while decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A reserved bit is set that no negotiated extension allows (bits as in `FrameHeader::rsv`).
    #[error("reserved bits {0:#05b} set")]
    ReservedBits(u8),
    /// Opcodes 0x3–0x7 and 0xB–0xF are reserved.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// Control frames must not be fragmented.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// Control frame payloads are at most 125 bytes.
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlTooLong(u64),
    /// A 64-bit payload length with its most significant bit set.
    #[error("invalid 64-bit payload length")]
    InvalidLength,
    /// A server received a frame without a mask.
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// A client received a masked frame.
    #[error("masked frame from a server")]
    MaskedFrame,
    /// A frame's payload is larger than the configured limit.
    #[error("frame payload of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Announced payload length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
}
