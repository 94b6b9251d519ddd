//! Which of a node's links a call goes on: a [`Lane`].

/// The header a dialing node adds to the upgrade of a [`Lane::Bulk`] link; a link without
/// it is the node's [`Lane::Control`] link.
pub const LANE_HEADER: &str = "tether-lane";

/// Which of a node's links a call goes on.
///
/// RFC 6455 does not interleave data messages, so a small message written after a large
/// one waits until the large one is on the wire: a Raft vote behind a 64 MiB snapshot
/// chunk would wait seconds. So large messages get a link of their own per node, opened
/// on the first bulk call and closed when idle, and the control link carries heartbeats,
/// votes and everything small. Each link is plain JSON-RPC over one WebSocket; the lane
/// is only named in the upgrade ([`LANE_HEADER`]).
///
/// ```
/// use tether_core::pool::Lane;
///
/// assert_eq!(Lane::default(), Lane::Control);
/// assert_eq!(Lane::from_header(Some(b"bulk")), Some(Lane::Bulk));
/// assert_eq!(Lane::from_header(None), Some(Lane::Control));
/// assert_eq!(Lane::from_header(Some(b"fast")), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Lane {
    /// Heartbeats, votes, small calls: never behind a large message.
    #[default]
    Control,
    /// Large messages (snapshots, big appends), on a link of their own.
    Bulk,
}

impl Lane {
    /// Its index in per-lane tables.
    pub(crate) fn index(self) -> usize {
        match self {
            Lane::Control => 0,
            Lane::Bulk => 1,
        }
    }

    /// The [`LANE_HEADER`] value that names it, if any.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Lane::Control => None,
            Lane::Bulk => Some("bulk"),
        }
    }

    /// The lane an upgrade's [`LANE_HEADER`] names (`None` for an unknown value).
    pub fn from_header(value: Option<&[u8]>) -> Option<Lane> {
        match value {
            None => Some(Lane::Control),
            Some(v) if v.eq_ignore_ascii_case(b"bulk") => Some(Lane::Bulk),
            Some(_) => None,
        }
    }
}
