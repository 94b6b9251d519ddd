//! A list of distinct nodes in the order given, found by node without a scan.

use crate::pool::NodeId;

/// Nodes without repeats: the first place of a node counts, later ones are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodeSet {
    order: Vec<NodeId>,
    /// `(node, its place in order)`, sorted by node.
    sorted: Vec<(NodeId, usize)>,
}

impl NodeSet {
    /// Appends `node` unless it is in already; returns whether it was new.
    pub(crate) fn insert(&mut self, node: NodeId) -> bool {
        match self.sorted.binary_search_by_key(&node, |&(n, _)| n) {
            Ok(_) => false,
            Err(at) => {
                self.sorted.insert(at, (node, self.order.len()));
                self.order.push(node);
                true
            }
        }
    }

    /// Where `node` is in the order, if it is in.
    pub(crate) fn position(&self, node: NodeId) -> Option<usize> {
        let found = self.sorted.binary_search_by_key(&node, |&(n, _)| n).ok()?;
        self.sorted.get(found).map(|&(_, at)| at)
    }

    pub(crate) fn as_slice(&self) -> &[NodeId] {
        &self.order
    }
}

impl FromIterator<NodeId> for NodeSet {
    fn from_iter<I: IntoIterator<Item = NodeId>>(nodes: I) -> Self {
        let mut set = NodeSet::default();
        for node in nodes {
            set.insert(node);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_dropped_and_the_first_place_kept() {
        let set: NodeSet = [5, 3, 5, 9, 3, 1].map(NodeId).into_iter().collect();
        assert_eq!(set.as_slice(), [5, 3, 9, 1].map(NodeId));
        let places: Vec<_> = [1, 3, 5, 9, 7].map(|n| set.position(NodeId(n))).into();
        assert_eq!(places, [Some(3), Some(1), Some(0), Some(2), None]);
    }
}
