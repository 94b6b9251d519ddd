//! Who a peer is: its [`NodeId`], and the header that names it at the upgrade.

use std::fmt;
use std::str::FromStr;

/// The header a dialing node puts in its upgrade request to say which node it is, so the
/// accepting node can register the connection as its link to that node.
pub const NODE_ID_HEADER: &str = "tether-node-id";

/// A node of the cluster, as the application numbers them (Raft's node ids are `u64`).
///
/// ```
/// use tether_core::pool::NodeId;
///
/// let node: NodeId = "3".parse()?;
/// assert_eq!(node, NodeId(3));
/// assert_eq!(node.to_string(), "node 3");
/// # Ok::<(), std::num::ParseIntError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", self.0)
    }
}

impl FromStr for NodeId {
    type Err = std::num::ParseIntError;

    /// The header's value: the decimal number, nothing around it.
    fn from_str(s: &str) -> Result<NodeId, Self::Err> {
        s.parse().map(NodeId)
    }
}

impl From<u64> for NodeId {
    fn from(id: u64) -> NodeId {
        NodeId(id)
    }
}
