//! Everything a session is told once, at construction.

use std::time::Duration;

use super::{Backoff, Heartbeat, QueueLimits};
use crate::{rpc, ws};

/// Settings of a [`Session`](super::Session).
///
/// ```
/// use std::time::Duration;
/// use tether_core::session::{Backoff, Config};
///
/// let config = Config {
///     connect_timeout: Duration::from_secs(2),
///     backoff: Backoff { max_attempts: Some(5), ..Default::default() },
///     ..Default::default()
/// };
/// assert_eq!(config.backoff.base, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Settings of each link's WebSocket. Its own `heartbeat` is off by default: the
    /// session's (below) pings and measures the round trip.
    pub ws: ws::Config,
    /// Settings of each link's JSON-RPC channel: `default_timeout` is the deadline of a
    /// call that names none, `max_in_flight` how many calls are written and unanswered at once.
    pub rpc: rpc::Config,
    /// How long one attempt may take from [`Event::Connect`](super::Event::Connect) until
    /// the WebSocket is open: TCP, TLS and the upgrade together (default 5 s).
    pub connect_timeout: Duration,
    /// How long to wait between attempts, and when to give up.
    pub backoff: Backoff,
    /// Liveness checks of an open link; `None` turns them off.
    pub heartbeat: Option<Heartbeat>,
    /// Bounds of the queue of unsent calls and notifications.
    pub queue: QueueLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ws: ws::Config {
                heartbeat: None,
                ..ws::Config::default()
            },
            rpc: rpc::Config::default(),
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
            heartbeat: Some(Heartbeat::default()),
            queue: QueueLimits::default(),
        }
    }
}
