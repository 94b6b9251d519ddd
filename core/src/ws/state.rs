//! The lifecycle of a connection.

/// Where a connection is in its life. Transitions only move down this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// The opening handshake is in progress.
    Handshaking,
    /// Messages flow both ways.
    Open,
    /// A close frame was sent or received; waiting for the other half of the close.
    Closing,
    /// Finished; only leftover bytes may still be waiting in `poll_transmit`.
    Closed,
}

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We opened the connection: we send the upgrade request and mask our frames.
    Client,
    /// We accepted it: we answer the upgrade request and never mask.
    Server,
}
