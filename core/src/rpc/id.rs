//! Request ids: the ones we mint for our calls, and the ones peers send us.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use uuid::{Builder, Uuid};

use crate::rng::Rng;

/// The length of the hyphenated form, `8-4-4-4-12` hex digits.
const HYPHENATED_LEN: usize = 36;

/// The id of one of our calls: a UUID v4 drawn from the channel's seeded RNG, so a
/// replayed run mints the same ids. On the wire it is the lowercase hyphenated string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(Uuid);

impl RequestId {
    /// Draws a fresh id: 122 random bits with the version (4) and variant (RFC 4122) bits set.
    pub fn generate(rng: &mut Rng) -> RequestId {
        // The bytes come from our seeded RNG, never uuid's own (OS) randomness, so that a
        // replay mints the same ids; `from_random_bytes` only sets the version and variant.
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        RequestId(Builder::from_random_bytes(bytes).into_uuid())
    }

    /// Reads the hyphenated form back (either case); `None` for anything else, so a
    /// response carrying a foreign id simply matches no call.
    pub fn parse(text: &str) -> Option<RequestId> {
        // `Uuid::parse_str` also takes the simple, braced and URN forms; we only ever send
        // the hyphenated one, and only that length is parsed as hyphenated.
        if text.len() != HYPHENATED_LEN {
            return None;
        }
        Uuid::parse_str(text).ok().map(RequestId)
    }

    /// The 16 bytes of the UUID.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
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
    /// Reads an id from its raw JSON; `None` if it is an object, array or boolean, or a
    /// number that would not be written back as it came (an integer past 64 bits, which
    /// becomes a float, or a float not in its shortest form, such as `1e3` or `1.50`): the
    /// response must carry the very id of the request, and a changed number may name
    /// another call to the client.
    pub(crate) fn from_raw(raw: &RawValue) -> Option<Id> {
        match raw.get().as_bytes().first()? {
            b'n' => Some(Id::Null),
            b'"' => serde_json::from_str(raw.get()).ok().map(Id::String),
            b'-' | b'0'..=b'9' => short_integer(raw.get()).or_else(|| {
                serde_json::from_str::<serde_json::Number>(raw.get())
                    .ok()
                    .filter(|n| n.to_string() == raw.get())
                    .map(Id::Number)
            }),
            _ => None,
        }
    }
}

/// The id most clients send, a counter, read without the round trip through a string
/// that other numbers need: an integer of at most 18 digits in its shortest form (no
/// leading zero, not `-0`), which fits in an `i64` and is written back unchanged. `None`
/// for anything else.
fn short_integer(text: &str) -> Option<Id> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    if !canonical {
        return None;
    }
    text.parse::<i64>().ok().map(|n| Id::Number(n.into()))
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

    /// Found by the `rpc_channel` fuzz target: an id of 35 digits was answered as
    /// `7.777777777769999e34`, which is not the id the request carried.
    #[test]
    fn number_ids_are_taken_only_when_they_are_written_back_unchanged() {
        let id = |text: &str| Id::from_raw(&RawValue::from_string(text.to_owned()).unwrap());
        for echoed in [
            "7",
            "-7",
            "0",
            "18446744073709551615",
            "-9223372036854775808",
            "1.5",
        ] {
            let Some(Id::Number(n)) = id(echoed) else {
                panic!("{echoed} is a fine id");
            };
            assert_eq!(n.to_string(), echoed);
        }
        for changed in ["77777777777700006304763018308164716", "1e3", "1.50", "-0"] {
            assert_eq!(id(changed), None, "{changed} would come back changed");
        }
    }

    /// The shortcut for counters reads every id it takes as the general path does, and
    /// takes the plain counters clients send.
    #[test]
    fn short_integers_are_read_as_the_general_path_reads_them() {
        let general = |text: &str| {
            serde_json::from_str::<serde_json::Number>(text)
                .ok()
                .filter(|n| n.to_string() == text)
                .map(Id::Number)
        };
        let mut texts: Vec<String> = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| ["-", "0", "1", "9", "."].map(|c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        texts.extend(
            [
                "999999999999999999",
                "1000000000000000000",
                "-999999999999999999",
            ]
            .map(String::from),
        );
        let mut short = 0;
        for text in &texts {
            if let Some(fast) = short_integer(text) {
                short += 1;
                assert_eq!(Some(fast), general(text), "{text:?}");
            }
        }
        for counter in ["0", "7", "-7", "19", "999999999999999999"] {
            assert!(
                short_integer(counter).is_some(),
                "{counter} takes the shortcut"
            );
        }
        assert!(short > 100, "the shortcut took {short} of {}", texts.len());
    }

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

    /// Ids minted before `uuid` did the formatting (hand-written bit twiddling): a seed
    /// must keep minting these exact ids, or recorded runs would no longer replay.
    #[test]
    fn seeds_mint_the_ids_they_always_have() {
        let cases: [([u8; 32], [&str; 3]); 2] = [
            (
                [0; 32],
                [
                    "9bf49a6a-0755-4953-811f-ce125f2683d5",
                    "0429c3bb-49e0-4414-be00-89a52eae155f",
                    "0564f879-d27a-43c0-ace8-2834acfa8c79",
                ],
            ),
            (
                [5; 32],
                [
                    "73d85d59-45a4-42ed-93f7-f247e42f99bb",
                    "73a867f0-9dcb-4288-a67b-4501f05fde67",
                    "70220e48-dd2c-4f69-b56e-8a99b16322ed",
                ],
            ),
        ];
        for (seed, expected) in cases {
            let mut rng = Rng::from_seed(seed);
            for text in expected {
                let id = RequestId::generate(&mut rng);
                assert_eq!(id.to_string(), text);
                assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
            }
        }
    }

    /// The bytes are the RNG's, with only the version and variant bits overwritten.
    #[test]
    fn bytes_are_the_rng_draw_with_version_and_variant_set() {
        let mut drawn = [0u8; 16];
        Rng::from_seed([9; 32]).fill(&mut drawn);
        let id = RequestId::generate(&mut Rng::from_seed([9; 32]));
        let mut expected = drawn;
        expected[6] = (drawn[6] & 0x0f) | 0x40;
        expected[8] = (drawn[8] & 0x3f) | 0x80;
        assert_eq!(id.as_bytes(), &expected);
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
            // Forms `uuid` reads but we never send: simple, braced, URN.
            "0123456789abcdef0123456789abcdef",
            "{01234567-89ab-cdef-0123-456789abcdef}",
            "urn:uuid:01234567-89ab-cdef-0123-456789abcdef",
            // Hyphens in the wrong places, at the right length.
            "0123456-789ab-cdef-0123-456789abcdef",
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
