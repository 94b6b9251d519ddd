//! Frame opcodes and close status codes.

use super::FrameError;

/// The 4-bit frame opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: first frame of a UTF-8 text message.
    Text,
    /// 0x2: first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Parses the low 4 bits; reserved opcodes are an error.
    pub fn from_u8(b: u8) -> Result<OpCode, FrameError> {
        // The high nibble of the first header byte is FIN and RSV; callers may pass
        // the whole byte.
        match b & 0x0F {
            0x0 => Ok(OpCode::Continuation),
            0x1 => Ok(OpCode::Text),
            0x2 => Ok(OpCode::Binary),
            0x8 => Ok(OpCode::Close),
            0x9 => Ok(OpCode::Ping),
            0xA => Ok(OpCode::Pong),
            reserved => Err(FrameError::ReservedOpcode(reserved)),
        }
    }
    /// The wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }
    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A close status code (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: endpoint going away.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: unsupported data.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed abnormally, without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: invalid payload data, e.g. non-UTF-8 text.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: message too big.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: a required extension was not negotiated.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: internal server error.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether this code may appear in a close frame on the wire.
    pub fn is_sendable(self) -> bool {
        // 1004 is reserved, 1005 and 1006 are local-only pseudo codes, 1015 (TLS failure)
        // is local-only too, and 1016-2999 are unassigned IANA space a peer cannot mean.
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_round_trip() {
        for b in 0u8..=0x0F {
            match OpCode::from_u8(b) {
                Ok(op) => assert_eq!(op.as_u8(), b),
                Err(e) => {
                    assert!(matches!(b, 0x3..=0x7 | 0xB..=0xF), "{b:#x}");
                    assert_eq!(e, FrameError::ReservedOpcode(b));
                }
            }
        }
    }

    #[test]
    fn opcode_ignores_high_nibble() {
        assert_eq!(OpCode::from_u8(0x81), Ok(OpCode::Text));
        assert_eq!(OpCode::from_u8(0xF8), Ok(OpCode::Close));
        assert_eq!(OpCode::from_u8(0x73), Err(FrameError::ReservedOpcode(0x3)));
    }

    #[test]
    fn control_opcodes() {
        assert!(!OpCode::Continuation.is_control());
        assert!(!OpCode::Text.is_control());
        assert!(!OpCode::Binary.is_control());
        assert!(OpCode::Close.is_control());
        assert!(OpCode::Ping.is_control());
        assert!(OpCode::Pong.is_control());
    }

    #[test]
    fn sendable_close_codes() {
        for code in [
            0,
            1,
            999,
            1004,
            1005,
            1006,
            1015,
            1016,
            1100,
            2000,
            2999,
            5000,
            u16::MAX,
        ] {
            assert!(!CloseCode(code).is_sendable(), "{code}");
        }
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000,
            4999,
        ] {
            assert!(CloseCode(code).is_sendable(), "{code}");
        }
        assert!(!CloseCode::NO_STATUS.is_sendable());
        assert!(!CloseCode::ABNORMAL.is_sendable());
    }
}
