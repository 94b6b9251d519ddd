//! Why an upgrade failed.

/// A handshake the other side got wrong, or a request we could not build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Placeholder until the handshake layer lands.
    #[error("todo")]
    Todo,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with (400, 405, 426, 431 …).
    pub fn http_status(&self) -> u16 {
        todo!()
    }
}
