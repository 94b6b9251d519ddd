//! The settings one side brings to the negotiation, and the parameters both agreed on.

use crate::ws::Role;

/// The smallest and largest LZ77 window RFC 7692 allows, as powers of two.
pub(crate) const MIN_WINDOW_BITS: u8 = 8;
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// permessage-deflate settings (RFC 7692) for
/// [`ws::Config::compression`](crate::ws::Config::compression).
///
/// The fields are the RFC's four parameters (plus two of our own). A client offers what they
/// say; a server uses them to answer a client's offer, and declines an offer it cannot honour
/// (the connection then opens uncompressed). Window sizes outside 8..=15 are taken as the
/// nearest of the two.
///
/// ```
/// use tether_core::deflate::Deflate;
/// use tether_core::ws::Config;
///
/// let config = Config {
///     compression: Some(Deflate {
///         server_no_context_takeover: true,
///         ..Deflate::default()
///     }),
///     ..Config::default()
/// };
/// assert_eq!(config.compression.map(|d| d.threshold), Some(256));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deflate {
    /// The largest window, as a power of two, the client compresses with (default 15,
    /// 32 KiB). A client offers `client_max_window_bits` (with this value below 15) and never
    /// uses more; a server below 15 tells the client to use at most this, and declines an
    /// offer that does not let it say so.
    pub client_max_window_bits: u8,
    /// The largest window the server compresses with (default 15). A client below 15 asks the
    /// server for at most this; a server uses at most this, or less if the client asks.
    pub server_max_window_bits: u8,
    /// The client starts every message with an empty compression context (default false):
    /// less memory held between messages, worse ratio on similar messages. A client offers
    /// and obeys it; a server requires it of the client.
    pub client_no_context_takeover: bool,
    /// The server starts every message with an empty compression context (default false). A
    /// client asks for it (and refuses a server that does not agree); a server always does
    /// it when set, and says so.
    pub server_no_context_takeover: bool,
    /// Messages shorter than this many bytes are sent uncompressed (default 256): below
    /// that, deflate's block overhead eats most of the gain.
    pub threshold: usize,
    /// zlib compression level, 0 (store) to 9 (smallest); default 6. Larger values are
    /// taken as 9.
    pub level: u32,
}

impl Default for Deflate {
    fn default() -> Self {
        Deflate {
            client_max_window_bits: MAX_WINDOW_BITS,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
            threshold: 256,
            level: 6,
        }
    }
}

impl Deflate {
    /// `client_max_window_bits` within 8..=15.
    pub(crate) fn client_window(&self) -> u8 {
        clamp_window(self.client_max_window_bits)
    }

    /// `server_max_window_bits` within 8..=15.
    pub(crate) fn server_window(&self) -> u8 {
        clamp_window(self.server_max_window_bits)
    }
}

pub(crate) fn clamp_window(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// What both sides agreed on in the opening handshake: how each of them compresses.
///
/// These are the parameters in effect, which can be stricter than the header says: a client
/// that offered `client_no_context_takeover` keeps to it even if the server's answer leaves
/// it out (RFC 7692 §7.1.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The largest window the client compresses with (8..=15; 15 if not limited).
    pub client_max_window_bits: u8,
    /// The largest window the server compresses with (8..=15; 15 if not limited).
    pub server_max_window_bits: u8,
}

impl DeflateParams {
    /// `(window bits, no context takeover)` of the side that sends as `role`.
    pub(crate) fn sender(&self, role: Role) -> (u8, bool) {
        match role {
            Role::Client => (self.client_max_window_bits, self.client_no_context_takeover),
            Role::Server => (self.server_max_window_bits, self.server_no_context_takeover),
        }
    }
}
