//! Incremental UTF-8 validation that fails as soon as an invalid byte arrives.

/// The text was not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8 in text message")]
pub struct Utf8Error;

/// Validates a text message fed in arbitrary pieces.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feeds the next bytes; errors as soon as no continuation could make them valid.
    pub fn feed(&mut self, _data: &[u8]) -> Result<(), Utf8Error> {
        todo!()
    }
    /// Ends the message; errors if it stopped inside a character.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        todo!()
    }
}
