//! Limits and timeouts of one connection.

use std::time::Duration;

use crate::deflate::Deflate;

/// Settings of a [`Connection`](super::Connection). Every limit bounds what a peer can
/// make us hold.
///
/// ```
/// let config = tether_core::ws::Config {
///     max_message_size: 1 << 20,
///     ..Default::default()
/// };
/// assert_eq!(config.max_message_size, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest message we accept after reassembly (default 64 MiB); past it we close with 1009.
    pub max_message_size: usize,
    /// Largest single frame payload we accept (default: 64 MiB); past it we close with 1009.
    pub max_frame_size: usize,
    /// Largest handshake head we accept (default 16 KiB).
    pub max_handshake_size: usize,
    /// Outgoing messages longer than this are cut into frames of this size, so control
    /// frames can be written between them (default 64 KiB).
    pub fragment_size: usize,
    /// How long the opening handshake may take (default 10 s).
    pub handshake_timeout: Duration,
    /// How long we wait for the peer to finish the closing handshake (default 5 s).
    pub close_timeout: Duration,
    /// permessage-deflate (RFC 7692): `None` (the default) neither offers nor accepts it; a
    /// client offers these settings, a server accepts an offer it can honour with them.
    pub compression: Option<Deflate>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: 64 << 20,
            max_frame_size: 64 << 20,
            max_handshake_size: 16 << 10,
            fragment_size: 64 << 10,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            compression: None,
        }
    }
}
