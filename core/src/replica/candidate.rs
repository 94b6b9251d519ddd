//! The replicas a read may ask, and the order it asks them in.

use std::time::Duration;

use super::nodes::NodeSet;
use crate::pool::NodeId;

/// A replica a read may ask, with what the caller measured of it.
///
/// ```
/// use std::time::Duration;
/// use tether_core::pool::NodeId;
/// use tether_core::replica::Candidate;
///
/// let c = Candidate::new(NodeId(2))
///     .latency(Duration::from_millis(3))
///     .hedge_after(Duration::from_millis(20));
/// assert_eq!(c.hedge_after, Some(Duration::from_millis(20)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The replica.
    pub node: NodeId,
    /// Its typical latency (a median or mean); orders candidates under [`Order::Latency`].
    /// `None`: not measured yet.
    pub latency: Option<Duration>,
    /// How long to wait for its answer before also asking the next replica (its p95 or
    /// p99); `None` never hedges past it.
    pub hedge_after: Option<Duration>,
}

impl Candidate {
    /// A candidate with nothing measured: no latency, no hedging.
    pub fn new(node: NodeId) -> Self {
        Candidate {
            node,
            latency: None,
            hedge_after: None,
        }
    }

    /// With a measured typical latency.
    pub fn latency(self, latency: Duration) -> Self {
        Candidate {
            latency: Some(latency),
            ..self
        }
    }

    /// Hedging after `delay` without an answer.
    pub fn hedge_after(self, delay: Duration) -> Self {
        Candidate {
            hedge_after: Some(delay),
            ..self
        }
    }
}

impl From<NodeId> for Candidate {
    fn from(node: NodeId) -> Self {
        Candidate::new(node)
    }
}

/// In which order a [`Failover`](super::Failover) asks its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// As given.
    #[default]
    Given,
    /// Fastest measured latency first; unmeasured ones after every measured one; ties keep
    /// the given order.
    Latency,
}

/// The candidates as a read asks them: a repeated node only at its first place, then
/// sorted as `order` says.
pub(crate) fn arrange<C: Into<Candidate>>(
    candidates: impl IntoIterator<Item = C>,
    order: Order,
) -> Vec<Candidate> {
    let mut seen = NodeSet::default();
    let mut list: Vec<Candidate> = candidates.into_iter().map(Into::into).collect();
    list.retain(|c| seen.insert(c.node));
    if order == Order::Latency {
        // A stable sort: equal keys keep the given order, and `None` sorts last.
        list.sort_by_key(|c| (c.latency.is_none(), c.latency));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(list: &[Candidate]) -> Vec<u64> {
        list.iter().map(|c| c.node.0).collect()
    }

    #[test]
    fn latency_order_puts_the_fastest_first_the_unmeasured_last_and_keeps_ties() {
        let ms = Duration::from_millis;
        let given = [
            Candidate::new(NodeId(1)).latency(ms(30)),
            Candidate::new(NodeId(2)),
            Candidate::new(NodeId(3)).latency(ms(10)),
            Candidate::new(NodeId(4)).latency(ms(30)),
            Candidate::new(NodeId(5)),
            Candidate::new(NodeId(6)).latency(ms(0)),
            // A repeat, faster than its first place: dropped all the same.
            Candidate::new(NodeId(4)).latency(ms(1)),
        ];
        assert_eq!(nodes(&arrange(given, Order::Latency)), [6, 3, 1, 4, 2, 5]);
        assert_eq!(nodes(&arrange(given, Order::Given)), [1, 2, 3, 4, 5, 6]);
        assert!(arrange(Vec::<NodeId>::new(), Order::Latency).is_empty());
        // Enough ties that an unstable sort would shuffle them.
        let many: Vec<Candidate> = (0..200u64)
            .map(|id| Candidate::new(NodeId(id)).latency(ms(id % 3)))
            .collect();
        let sorted = nodes(&arrange(many, Order::Latency));
        let expected: Vec<u64> = (0..3)
            .flat_map(|r| (0..200).filter(move |id| id % 3 == r))
            .collect();
        assert_eq!(sorted, expected);
    }
}
