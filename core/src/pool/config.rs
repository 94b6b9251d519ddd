//! What a [`Pool`](super::Pool) is told at its start.

use std::time::Duration;

use super::NodeId;
use crate::rpc;
use crate::session::{Heartbeat, HeartbeatMode, QueueLimits};
use crate::ws;

/// Settings of a [`Pool`](super::Pool), with defaults for a cluster node.
///
/// | setting | default |
/// |---|---|
/// | `connect_timeout` | 5 s, TCP connect and upgrade together |
/// | `heartbeat` | a ping every 1 s; dead after 5 s without any input |
/// | `idle_timeout` | 60 s without a call or request, then the link closes |
/// | `max_links` | 1024, dialed and accepted together |
/// | `queue` | 1024 calls or 16 MiB waiting per node for its link |
/// | `shutdown_grace` | 5 s for calls in flight at `shutdown` |
/// | `observe` | off: no [`Observation`](super::Observation)s kept |
///
/// ```
/// use tether_core::pool::{Config, NodeId};
///
/// let config = Config::new(NodeId(1));
/// assert_eq!(config.idle_timeout, Some(std::time::Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// This node: named in the upgrade requests of the links we dial.
    pub node: NodeId,
    /// The WebSocket settings of every link. Its own `heartbeat` is off by default: the
    /// pool's (below) pings every link.
    pub ws: ws::Config,
    /// The JSON-RPC settings of every link: `default_timeout` is every call's deadline
    /// unless it gives its own, `max_in_flight` bounds the calls written on one link
    /// (more wait in the node's queue), and messages past `parse_aside` (256 KiB by
    /// default) come out as [`Event::Parse`](super::Event::Parse) to be parsed by the
    /// driver.
    pub rpc: rpc::Config,
    /// How long a link may take from its `Connect` to open.
    pub connect_timeout: Duration,
    /// Pings on every open link and the silence after which a link is dead. The default
    /// mode counts any input as a sign of life, so a link busy with a large message is
    /// never declared dead; `None` sends no pings and never declares a link dead.
    pub heartbeat: Option<Heartbeat>,
    /// A link with no call, request or answer for this long closes (code 1000) and is
    /// opened again by the next call; `None` keeps links open.
    pub idle_timeout: Option<Duration>,
    /// Links held at once: past it, calls to a node without a link are refused and
    /// accepted connections are dropped.
    pub max_links: usize,
    /// Calls waiting per node for its link to open (or for room under `max_in_flight`).
    pub queue: QueueLimits,
    /// Keep an [`Observation`](super::Observation) of every round trip, call end, link
    /// opened or closed and missed heartbeat, for the driver to drain with
    /// [`poll_observation`](super::Pool::poll_observation) (default off: nothing is kept).
    pub observe: bool,
    /// The owner decides every upgrade a peer sends us: the pool reports it as an
    /// [`Event::Upgrade`](super::Event::Upgrade) and waits for
    /// [`Pool::admit`](super::Pool::admit) (within the connect timeout) before it decides
    /// the rest itself (the node id, a crossing dial, shutdown). `false` (the default)
    /// admits every upgrade the pool itself accepts.
    pub hold_upgrades: bool,
}

impl Config {
    /// The defaults for node `node`.
    pub fn new(node: NodeId) -> Config {
        Config {
            node,
            ws: ws::Config {
                heartbeat: None,
                ..ws::Config::default()
            },
            rpc: rpc::Config {
                parse_aside: Some(256 << 10),
                ..rpc::Config::default()
            },
            connect_timeout: Duration::from_secs(5),
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(5),
                mode: HeartbeatMode::AnyInput,
            }),
            idle_timeout: Some(Duration::from_secs(60)),
            max_links: 1024,
            queue: QueueLimits::default(),
            observe: false,
            hold_upgrades: false,
        }
    }
}
