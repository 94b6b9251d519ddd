//! The pool run the test command repeats per seed: a cluster of [`PoolNode`]s, each one
//! `pool::Pool` calling the others, every node liable to crash and restart, over a network
//! with slow links added to [`Faults::default`]; settings drawn from the seed.

use std::time::Duration;

use super::faults::Faults;
use super::node::NodeId;
use super::pool_checks::Board;
use super::pool_node::{self, PoolNode, Sabotage, Workload};
use super::simulator::{Outcome, Sim};

/// The size of a pool run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Nodes of the cluster, each one pool.
    pub nodes: usize,
    /// Calls each node makes while faults may strike (the calm period adds its own).
    pub calls_per_node: usize,
    /// A harness-side fault, to prove a checker (see [`Sabotage`]).
    pub sabotage: Sabotage,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            nodes: 4,
            calls_per_node: 15,
            sabotage: Sabotage::None,
        }
    }
}

/// The faults of a pool run: the default mix, and one connection in five (dialed while
/// faults may strike) a slow link of 16-128 KiB/s and 100-250 ms, so large messages take
/// seconds.
pub fn faults() -> Faults {
    Faults {
        slow_link_percent: 20,
        slow_bandwidth: (16 << 10, 128 << 10),
        slow_latency_ms: (100, 250),
        ..Faults::default()
    }
}

/// Builds the pool run for `seed`: settings, nodes and plans, all drawn from the seed.
///
/// Panics with fewer than two nodes: nobody to call.
pub fn build(seed: u64, params: Params) -> Sim {
    assert!(params.nodes >= 2, "a cluster needs two nodes: {params:?}");
    let mut sim = Sim::new(seed, faults());
    let origin = sim.origin();
    let window = sim.faults().until;
    let config = pool_node::draw_config(sim.rng());
    let workload = Workload {
        calls: params.calls_per_node,
        window,
        max_pad: 40 << 10,
        max_answer_delay: Duration::from_millis(300),
        sabotage: params.sabotage,
    };
    let board = Board::default();
    for n in 0..params.nodes {
        let node = PoolNode::new(
            NodeId(n),
            params.nodes,
            config.clone(),
            workload.clone(),
            board.clone(),
            origin,
            sim.rng(),
        );
        let id = sim.add_node(Box::new(node));
        sim.may_crash(id);
    }
    sim
}

/// Runs one seed with the default [`Params`].
pub fn run(seed: u64) -> Outcome {
    build(seed, Params::default()).run()
}
