//! Deterministic message payloads, generated the same way by the Rust tests and by both
//! peers (`peers/py_peer.py`, `peers/node_peer.js`), so each side can check what it got
//! byte for byte without shipping the bytes.

use tether_core::ws::Message;

/// Message sizes every echo test covers: empty, the largest 7-bit length, the smallest
/// 16-bit length, the largest 16-bit length, the smallest 64-bit length, and 16 MiB.
pub const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 16 * 1024 * 1024];

/// Length of the messages the fragmentation scenarios send.
pub const FRAGMENTED_LEN: usize = 10_000;

/// Size of the pieces the peers cut a fragmented message into. 1000 is not a multiple of
/// 11 (the byte length of the text unit), so text fragments split multi-byte characters.
pub const PEER_FRAGMENT_PIECE: usize = 1000;

/// Text or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A text message.
    Text,
    /// A binary message.
    Binary,
}

impl Kind {
    /// Both kinds, text first (the order the peers use).
    pub const BOTH: [Kind; 2] = [Kind::Text, Kind::Binary];

    /// The name the peers use in their reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Binary => "binary",
        }
    }

    /// The kind of a message.
    pub fn of(message: &Message) -> Kind {
        match message {
            Message::Text(_) => Kind::Text,
            Message::Binary(_) => Kind::Binary,
        }
    }
}

/// The `n` payload bytes of a `kind` message: text is `"κόσμε "` (11 bytes, five 2-byte
/// characters and a space) repeated and padded with `x` to exactly `n` bytes; binary byte
/// `i` is `(i * 31 + 7) % 251`.
pub fn payload(kind: Kind, n: usize) -> Vec<u8> {
    match kind {
        Kind::Text => {
            let mut text = "κόσμε ".repeat(n / 11).into_bytes();
            text.resize(n, b'x');
            text
        }
        Kind::Binary => (0..n).map(|i| ((i * 31 + 7) % 251) as u8).collect(),
    }
}

/// The payload as a tether message.
pub fn message(kind: Kind, n: usize) -> Message {
    let bytes = payload(kind, n);
    match kind {
        Kind::Text => Message::Text(String::from_utf8(bytes).expect("text payload is UTF-8")),
        Kind::Binary => Message::Binary(bytes.into()),
    }
}

/// Checks that `got` is a `kind` message carrying exactly `payload(kind, n)`. Describes
/// the first difference instead of printing megabytes.
pub fn check_message(got: &Message, kind: Kind, n: usize) -> Result<(), String> {
    if Kind::of(got) != kind {
        return Err(format!(
            "expected a {} message of {n} bytes, got a {} message of {} bytes",
            kind.name(),
            Kind::of(got).name(),
            got.len()
        ));
    }
    let want = payload(kind, n);
    let have = got.as_bytes();
    if have.len() != want.len() {
        return Err(format!(
            "{} message: expected {n} bytes, got {}",
            kind.name(),
            have.len()
        ));
    }
    match have.iter().zip(&want).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{} message of {n} bytes differs at byte {i}: {:#04x} != {:#04x}",
            kind.name(),
            have[i],
            want[i]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payload_is_exact_length_utf8_with_multibyte_characters() {
        for n in [0, 1, 10, 11, 12, 125, 126, 65535, 65536] {
            let p = payload(Kind::Text, n);
            assert_eq!(p.len(), n);
            assert!(std::str::from_utf8(&p).is_ok(), "n = {n}");
        }
        assert_eq!(payload(Kind::Text, 14), "κόσμε xxx".as_bytes());
    }

    #[test]
    fn binary_payload_matches_the_formula_the_peers_use() {
        assert_eq!(payload(Kind::Binary, 4), vec![7, 38, 69, 100]);
        let p = payload(Kind::Binary, 600);
        // Period 251, as the peers' repeat-a-period shortcut assumes.
        assert_eq!(p[..349], p[251..600]);
    }

    #[test]
    fn check_message_names_the_first_difference() {
        assert_eq!(
            check_message(&message(Kind::Binary, 126), Kind::Binary, 126),
            Ok(())
        );
        let mut bytes = payload(Kind::Binary, 126);
        bytes[100] ^= 1;
        let err = check_message(&Message::Binary(bytes.into()), Kind::Binary, 126)
            .expect_err("a flipped bit must be caught");
        assert!(err.contains("byte 100"), "{err}");
        assert!(check_message(&message(Kind::Text, 5), Kind::Binary, 5).is_err());
        assert!(check_message(&message(Kind::Text, 5), Kind::Text, 6).is_err());
    }
}
