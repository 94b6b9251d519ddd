//! Limits and timeouts of the RPC layer.

use std::time::Duration;

/// Settings of a [`Channel`](super::Channel). The largest message accepted is the
/// WebSocket layer's `max_message_size`: past it the connection closes with 1009.
///
/// ```
/// use std::time::Duration;
/// let config = tether_core::rpc::Config {
///     default_timeout: Duration::from_secs(5),
///     ..Default::default()
/// };
/// assert_eq!(config.max_in_flight, 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How long a call waits for its answer when `call` names no timeout (default 30 s).
    pub default_timeout: Duration,
    /// Calls waiting for an answer at once (default 1024); past it `call` is `Busy`.
    pub max_in_flight: usize,
    /// Entries in one incoming batch (default 1024); a longer batch is refused with `-32600`.
    pub max_batch_len: usize,
    /// Text messages at least this long are not parsed inside `handle_input`: they come
    /// out as [`Event::Parse`](super::Event::Parse), for the owner to parse where it likes
    /// (outside a lock that other connections wait for) and hand back with
    /// [`Channel::handle_parsed`](super::Channel::handle_parsed). `None` (the default)
    /// parses every message inside `handle_input`.
    pub parse_aside: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_timeout: Duration::from_secs(30),
            max_in_flight: 1024,
            max_batch_len: 1024,
            parse_aside: None,
        }
    }
}
