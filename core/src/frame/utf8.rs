//! Incremental UTF-8 validation that fails as soon as an invalid byte arrives.

/// The text was not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8 in text message")]
pub struct Utf8Error;

/// Validates a text message fed in arbitrary pieces.
///
/// The default value is a validator at the start of a message, like [`Utf8Validator::new`].
/// Once `feed` has failed it keeps failing until `finish` ends the message.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The start of a character cut off at the end of the last feed. At most 3 bytes are
    /// ever kept: 4 bytes that are a valid prefix already form a whole character.
    partial: [u8; 4],
    /// How many bytes of `partial` are in use.
    partial_len: u8,
    failed: bool,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes; errors as soon as no continuation could make them valid.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), Utf8Error> {
        if self.failed {
            return Err(Utf8Error);
        }
        let result = self.feed_inner(data);
        self.failed = result.is_err();
        result
    }

    /// Ends the message; errors if it stopped inside a character.
    ///
    /// Either way the validator is reset for the next message.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let ok = !self.failed && self.partial_len == 0;
        *self = Self::default();
        if ok {
            Ok(())
        } else {
            Err(Utf8Error)
        }
    }

    fn feed_inner(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let width = match self.partial[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                // `partial` only ever holds a valid prefix, which starts with a lead byte.
                _ => return Err(Utf8Error),
            };
            // Complete only the pending character here, so whatever follows it goes
            // through the fast whole-slice check below.
            let take = usize::saturating_sub(width, have).min(data.len());
            let (head, rest) = data.split_at(take);
            let end = have + take;
            let mut joined = self.partial;
            joined
                .get_mut(have..end)
                .ok_or(Utf8Error)?
                .copy_from_slice(head);
            let joined = joined.get(..end).ok_or(Utf8Error)?;
            if incomplete_tail(joined)? > 0 {
                // Still short of `width`, so `data` was used up.
                self.keep_partial(joined)?;
                return Ok(());
            }
            self.partial_len = 0;
            data = rest;
        }
        let tail = incomplete_tail(data)?;
        let start = data.len().saturating_sub(tail);
        self.keep_partial(data.get(start..).unwrap_or_default())
    }

    fn keep_partial(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        self.partial
            .get_mut(..bytes.len())
            .ok_or(Utf8Error)?
            .copy_from_slice(bytes);
        self.partial_len = u8::try_from(bytes.len()).map_err(|_| Utf8Error)?;
        Ok(())
    }
}

/// How many bytes at the end of `bytes` are the valid start of a character that is not
/// finished yet, or an error if any byte already rules out valid UTF-8.
fn incomplete_tail(bytes: &[u8]) -> Result<usize, Utf8Error> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(0),
        // `error_len() == None` is std's "input ended mid-character", which more bytes
        // may still fix; `Some` means these bytes are wrong whatever follows.
        Err(e) if e.error_len().is_none() => Ok(bytes.len().saturating_sub(e.valid_up_to())),
        Err(_) => Err(Utf8Error),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    const VALID: &[&[u8]] = &[
        b"",
        b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
        b"\x00",
        b"\xc2\x80",
        b"\xe0\xa0\x80",
        b"\xf0\x90\x80\x80",
        b"\x7f",
        b"\xdf\xbf",
        b"\xef\xbf\xbf",
        b"\xf4\x8f\xbf\xbf",
        b"\xed\x9f\xbf",
        b"\xee\x80\x80",
        b"\xef\xbf\xbd",
        b"\xf0\x9f\x98\x80a\xf0\x9f\x98\x80\xf0\x9f\x98\x80bc",
    ];

    const INVALID: &[&[u8]] = &[
        // A surrogate after valid text (Autobahn 6.4.1).
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
        // Above U+10FFFF (Autobahn 6.4.2).
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited",
        b"\x80",
        b"\xbf",
        b"\xc0\xaf",
        b"\xc1\xbf",
        b"\xe0\x80\xaf",
        b"\xe0\x9f\xbf",
        b"\xf0\x80\x80\xaf",
        b"\xf0\x8f\xbf\xbf",
        b"\xed\xa0\x80",
        b"\xed\xbf\xbf",
        b"\xf4\x90\x80\x80",
        b"\xf5\x80\x80\x80",
        b"\xfe",
        b"\xff",
        b"\xc2\x41",
        b"\xe1\x80\x41",
        b"\xf1\x80\x80\x41",
        b"a\xc2",
        b"\xe1\x80",
        b"\xf0\x9f\x98",
        b"ok\xf0\x9f\x98\x80\xf0",
    ];

    /// The length of the shortest prefix that no continuation can make valid, or
    /// `None` if every prefix might still become valid.
    fn fail_point(s: &[u8]) -> Option<usize> {
        (1..=s.len())
            .find(|&n| std::str::from_utf8(&s[..n]).is_err_and(|e| e.error_len().is_some()))
    }

    fn is_valid(s: &[u8]) -> bool {
        std::str::from_utf8(s).is_ok()
    }

    #[test]
    fn cases_agree_with_std() {
        assert!(VALID.iter().all(|s| is_valid(s)));
        assert!(INVALID.iter().all(|s| !is_valid(s)));
    }

    #[test]
    fn whole() {
        for s in VALID.iter().chain(INVALID) {
            let mut v = Utf8Validator::new();
            let fed = v.feed(s);
            assert_eq!(fed.is_ok(), fail_point(s).is_none(), "{s:x?}");
            assert_eq!(fed.and_then(|()| v.finish()).is_ok(), is_valid(s), "{s:x?}");
        }
    }

    #[test]
    fn split_at_every_boundary() {
        for s in VALID.iter().chain(INVALID) {
            let fail = fail_point(s);
            for at in 0..=s.len() {
                let (a, b) = s.split_at(at);
                let mut v = Utf8Validator::new();
                let first = v.feed(a);
                assert_eq!(
                    first.is_err(),
                    fail.is_some_and(|n| n <= at),
                    "{s:x?} at {at}"
                );
                let second = first.and_then(|()| v.feed(b));
                assert_eq!(second.is_err(), fail.is_some(), "{s:x?} at {at}");
                let all = second.and_then(|()| v.finish());
                assert_eq!(all.is_ok(), is_valid(s), "{s:x?} at {at}");
            }
        }
    }

    #[test]
    fn byte_by_byte_fails_on_the_first_bad_byte() {
        for s in VALID.iter().chain(INVALID) {
            let mut v = Utf8Validator::new();
            let failed_at = s.iter().position(|&b| v.feed(&[b]).is_err());
            assert_eq!(failed_at.map(|i| i + 1), fail_point(s), "{s:x?}");
            if failed_at.is_none() {
                assert_eq!(v.finish().is_ok(), is_valid(s), "{s:x?}");
            }
        }
    }

    #[test]
    fn surrogate_fails_on_feed_not_finish() {
        let s = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80";
        assert_eq!(Utf8Validator::new().feed(s), Err(Utf8Error));

        let mut v = Utf8Validator::new();
        for &b in &s[..12] {
            v.feed(&[b]).unwrap();
        }
        assert_eq!(v.feed(&s[12..13]), Err(Utf8Error));
    }

    #[test]
    fn above_max_fails_on_feed() {
        assert_eq!(Utf8Validator::new().feed(b"\xf4\x90"), Err(Utf8Error));
        let mut v = Utf8Validator::new();
        v.feed(b"\xf4").unwrap();
        assert_eq!(v.feed(b"\x90"), Err(Utf8Error));
    }

    #[test]
    fn overlong_and_surrogate_fail_on_second_byte() {
        for s in [
            b"\xe0\x80",
            b"\xe0\x9f",
            b"\xf0\x80",
            b"\xf0\x8f",
            b"\xed\xa0",
            b"\xed\xbf",
        ] {
            let mut v = Utf8Validator::new();
            v.feed(&s[..1]).unwrap();
            assert_eq!(v.feed(&s[1..]), Err(Utf8Error), "{s:x?}");
        }
        // C0 and C1 can only start overlong forms, F5-FF nothing at all.
        for b in [0xc0, 0xc1, 0xf5, 0xf8, 0xff] {
            assert_eq!(Utf8Validator::new().feed(&[b]), Err(Utf8Error), "{b:x}");
        }
    }

    #[test]
    fn truncated_fails_only_on_finish() {
        let mut v = Utf8Validator::new();
        v.feed(b"abc\xe2\x82").unwrap();
        assert_eq!(v.finish(), Err(Utf8Error));
    }

    #[test]
    fn error_is_sticky_and_finish_resets() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xff"), Err(Utf8Error));
        assert_eq!(v.feed(b"a"), Err(Utf8Error));
        assert_eq!(v.finish(), Err(Utf8Error));
        v.feed(b"fresh \xe2\x82\xac").unwrap();
        v.finish().unwrap();
        v.feed(b"\xe2").unwrap();
        assert_eq!(v.finish(), Err(Utf8Error));
        v.finish().unwrap();
    }

    #[test]
    fn empty_feeds_keep_partial() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xf0").unwrap();
        v.feed(b"").unwrap();
        v.feed(b"\x9f").unwrap();
        v.feed(b"").unwrap();
        v.feed(b"\x98\x80").unwrap();
        v.finish().unwrap();
    }
}
