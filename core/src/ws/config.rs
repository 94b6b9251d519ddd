//! Limits and timeouts of one connection.

use std::time::Duration;

use crate::deflate::Deflate;
use crate::heartbeat::{Heartbeat, HeartbeatMode};

/// Settings of a [`Connection`](super::Connection). Every limit bounds what a peer can
/// make us hold; the defaults are chosen for a node of a cluster (SECURITY.md lists them).
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
    /// Largest message we accept after reassembly, and after inflating a compressed one
    /// (default 16 MiB); past it we close with 1009.
    pub max_message_size: usize,
    /// Largest single frame payload we accept (default 16 MiB); past it we close with 1009.
    pub max_frame_size: usize,
    /// Bytes one connection may hold for its peer (default 16 MiB): input not yet handed
    /// over, what is being handled, what is not yet written (see [`Held`](crate::budget::Held)).
    /// Once it holds this much, the connection takes no further message and its owner
    /// stops reading the socket until the peer's work drains; nothing is dropped or
    /// reordered. One message may cross it, so a connection holds at most about
    /// `budget + max_message_size` plus one socket read.
    pub budget: usize,
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
    /// Pings from this end and the idle timeout (default: a ping every 20 s; a peer that
    /// sends nothing at all, not even a pong, for 60 s is dropped with 1001 and
    /// [`ProtocolError::IdleTimeout`](super::ProtocolError::IdleTimeout)). Only
    /// [`HeartbeatMode::AnyInput`] makes sense here: any byte from the peer is a sign of
    /// life. While the owner is not reading ([`Connection::set_reading`](super::Connection::set_reading))
    /// the peer's silence is ours and does not count. A peer that answers pings is never
    /// dropped for being idle. Sessions and pools run a heartbeat of their own
    /// ([`session::Config::heartbeat`](crate::session::Config::heartbeat)) and leave this
    /// `None`.
    pub heartbeat: Option<Heartbeat>,
    /// How long the peer may leave our writes unread (default 30 s): once bytes are waiting
    /// for the socket and none has been written for this long, the connection is dropped
    /// without a close handshake (the peer is not reading one). Progress is reported by
    /// the driver that writes the socket ([`transmit::Flow`](crate::transmit::Flow)); a peer
    /// that reads, however slowly, is not stalled. `None` waits forever.
    pub write_stall_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            budget: 16 << 20,
            max_handshake_size: 16 << 10,
            fragment_size: 64 << 10,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            compression: None,
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(20),
                timeout: Duration::from_secs(60),
                mode: HeartbeatMode::AnyInput,
            }),
            write_stall_timeout: Some(Duration::from_secs(30)),
        }
    }
}
