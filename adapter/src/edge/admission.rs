//! Who may connect to a server, and how many: [`Admission`].

use std::time::Duration;

use super::Hook;

/// Who may connect to a server, and how many at once: the same for every server of the
/// crate (a field of [`ServerConfig`](crate::ServerConfig),
/// [`rpc::ServerConfig`](crate::rpc::ServerConfig) and
/// [`PeersConfig`](crate::pool::PeersConfig)).
///
/// A connection counts against the limits from its TCP accept to its end, handshake
/// included. One past a limit is answered `503 Service Unavailable` with `Retry-After`
/// (after the TLS handshake on `wss://`), without its hook being asked; at most
/// [`MAX_REFUSING`](Admission::MAX_REFUSING) such refusals run at once, and connections
/// past those are closed at once, unanswered, so a flood costs the server a bounded
/// amount of work.
///
/// | setting | default |
/// |---|---|
/// | `hook` | none: every valid upgrade is accepted, anonymously |
/// | `max_connections` | 1024 |
/// | `max_connections_per_ip` | 256 |
/// | `retry_after` | 1 s |
///
/// ```
/// use tether_adapter::Admission;
///
/// let admission = Admission { max_connections_per_ip: 16, ..Admission::default() };
/// assert_eq!(admission.max_connections, 1024);
/// ```
#[derive(Debug, Clone)]
pub struct Admission {
    /// Decides every request head (see [`Hook`]); `None` accepts every valid upgrade,
    /// with an anonymous identity, and answers other requests with the status their fault
    /// calls for (400, 405, 426 …).
    pub hook: Option<Hook>,
    /// Connections at once, from every client together (0 counts as 1). Sized with
    /// memory in mind: each connection may hold its budget (see SECURITY.md).
    pub max_connections: usize,
    /// Connections at once from one IP address (0 counts as 1), so that one host cannot
    /// take every connection. Clients behind one NAT or proxy share an address.
    pub max_connections_per_ip: usize,
    /// What a `503` asks the client to wait before it tries again (`Retry-After`, in whole
    /// seconds, at least 1).
    pub retry_after: Duration,
}

impl Admission {
    /// Refusals (`503`s being written) at once per server; connections past the limits
    /// and past these are closed unanswered.
    pub const MAX_REFUSING: usize = 64;
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            hook: None,
            max_connections: 1024,
            max_connections_per_ip: 256,
            retry_after: Duration::from_secs(1),
        }
    }
}
