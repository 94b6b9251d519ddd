//! Request ids: the ones we mint for our calls, and the ones peers send us.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::rng::Rng;

/// The id of one of our calls: a UUID v4 drawn from the endpoint's seeded RNG, so a
/// replayed run mints the same ids. On the wire it is the lowercase hyphenated string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId([u8; 16]);

impl RequestId {
    /// Draws a fresh id: 122 random bits with the version (4) and variant (RFC 4122) bits set.
    pub fn generate(rng: &mut Rng) -> RequestId {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        RequestId(bytes)
    }

    /// Reads the hyphenated form back (either case); `None` for anything else, so a
    /// response carrying a foreign id simply matches no call.
    pub fn parse(text: &str) -> Option<RequestId> {
        let raw = text.as_bytes();
        if raw.len() != 36 {
            return None;
        }
        let mut bytes = [0u8; 16];
        let mut nibbles = 0usize;
        for (at, &c) in raw.iter().enumerate() {
            if matches!(at, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let value = (c as char).to_digit(16)? as u8;
            let byte = bytes.get_mut(nibbles / 2)?;
            *byte = (*byte << 4) | value;
            nibbles += 1;
        }
        Some(RequestId(bytes))
    }

    /// The 16 bytes of the UUID.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An id as a peer sent it in a request: JSON-RPC allows a string, a number or null, and
/// the response must echo it unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Id {
    /// `null` (allowed, discouraged by the spec; also the id of errors about unreadable requests).
    Null,
    /// A number, kept as serde_json parsed it.
    Number(serde_json::Number),
    /// A string.
    String(String),
}

impl Id {
    /// Reads an id from its raw JSON; `None` if it is an object, array or boolean.
    pub(crate) fn from_raw(raw: &RawValue) -> Option<Id> {
        match raw.get().as_bytes().first()? {
            b'n' => Some(Id::Null),
            b'"' => serde_json::from_str(raw.get()).ok().map(Id::String),
            b'-' | b'0'..=b'9' => serde_json::from_str(raw.get()).ok().map(Id::Number),
            _ => None,
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Null => f.write_str("null"),
            Id::Number(n) => write!(f, "{n}"),
            Id::String(s) => write!(f, "{s:?}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v4_and_round_trip() {
        let mut rng = Rng::from_seed([3; 32]);
        for _ in 0..1000 {
            let id = RequestId::generate(&mut rng);
            let text = id.to_string();
            assert_eq!(text.len(), 36);
            let b = text.as_bytes();
            assert_eq!(b[14], b'4', "version nibble in {text}");
            assert!(
                matches!(b[19], b'8' | b'9' | b'a' | b'b'),
                "variant in {text}"
            );
            assert!(text.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
            assert!(!text.bytes().any(|c| c.is_ascii_uppercase()));
            assert_eq!(RequestId::parse(&text), Some(id));
            assert_eq!(RequestId::parse(&text.to_uppercase()), Some(id));
        }
    }

    #[test]
    fn the_same_seed_mints_the_same_ids() {
        let mut a = Rng::from_seed([5; 32]);
        let mut b = Rng::from_seed([5; 32]);
        let mut c = Rng::from_seed([6; 32]);
        let first = RequestId::generate(&mut a);
        assert_eq!(first, RequestId::generate(&mut b));
        assert_ne!(first, RequestId::generate(&mut c));
        assert_ne!(first, RequestId::generate(&mut a));
    }

    #[test]
    fn foreign_ids_do_not_parse() {
        for bad in [
            "",
            "1",
            "0123456789abcdef0123456789abcdef0123",
            "01234567-89ab-cdef-0123-456789abcdeg",
            "01234567+89ab-cdef-0123-456789abcdef",
            "01234567-89ab-cdef-0123-456789abcdé",
        ] {
            assert_eq!(RequestId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn peer_ids_read_and_echo_unchanged() {
        let read = |s: &str| Id::from_raw(&RawValue::from_string(s.into()).unwrap());
        assert_eq!(read("null"), Some(Id::Null));
        assert_eq!(read("\"a\\\"b\""), Some(Id::String("a\"b".into())));
        assert_eq!(read("-7"), Some(Id::Number((-7).into())));
        assert_eq!(read("{}"), None);
        assert_eq!(read("true"), None);
        for s in ["null", "\"x\"", "42", "1.5"] {
            assert_eq!(serde_json::to_string(&read(s).unwrap()).unwrap(), s);
        }
    }
}
