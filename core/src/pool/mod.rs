//! The cluster layer: one link per peer node, addressed by [`NodeId`].

mod node;

pub use node::{NodeId, NODE_ID_HEADER};
