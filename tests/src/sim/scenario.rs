//! The run the test command repeats per seed: RPC clients and echo servers (which may
//! crash) under [`Faults::default`], every setting drawn from the seed.

use std::time::Duration;

use tether_core::{rpc, ws};

use super::checks::CONTROL_SLACK;
use super::echo_server::EchoServer;
use super::faults::Faults;
use super::node::NodeId;
use super::rpc_client::{max_call_len, RpcClient, RpcClientConfig};
use super::simulator::{Outcome, Sim};

/// The size of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// RPC client nodes (bare endpoints, one per server, dialed again when lost).
    pub rpc_clients: usize,
    /// Echo server nodes.
    pub servers: usize,
    /// Calls each RPC client makes.
    pub calls_per_client: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            rpc_clients: 3,
            servers: 2,
            calls_per_client: 20,
        }
    }
}

/// Longest padding in an RPC client's params.
const MAX_PAD: usize = 3000;

/// Builds the run for `seed`: settings, nodes and plans, all drawn from the seed.
///
/// Panics if `params` has no servers: there would be nothing to call.
pub fn build(seed: u64, params: Params) -> Sim {
    assert!(params.servers > 0, "a run needs a server: {params:?}");
    let mut sim = Sim::new(seed, Faults::default());
    let origin = sim.origin();
    let rng = sim.rng();
    let size = rng.range(4096, 16384) as usize;
    let ws_config = ws::Config {
        max_message_size: size,
        max_frame_size: size,
        // Small fragments now and then, so messages arrive in many frames.
        fragment_size: rng.range(64, 8192) as usize,
        ..Default::default()
    };
    let rpc_config = rpc::Config {
        // Few enough that `Busy` happens.
        max_in_flight: rng.range(4, 64) as usize,
        ..Default::default()
    };
    // A server connection answers at most every call of one client.
    let max_pending = params.calls_per_client * (max_call_len(MAX_PAD) + 64) + CONTROL_SLACK;
    let servers: Vec<NodeId> = (0..params.servers)
        .map(|s| {
            let server = EchoServer::new(
                s,
                ws_config.clone(),
                rpc_config.clone(),
                Duration::from_millis(300),
                max_pending,
            );
            let id = sim.add_node(Box::new(server));
            sim.may_crash(id);
            id
        })
        .collect();
    for c in 0..params.rpc_clients {
        let config = RpcClientConfig {
            ws: ws_config.clone(),
            rpc: rpc_config.clone(),
            calls: params.calls_per_client,
            window: Duration::from_millis(2000),
            max_pad: MAX_PAD,
        };
        let client = RpcClient::new(c, servers.clone(), config, origin, sim.rng());
        sim.add_node(Box::new(client));
    }
    sim
}

/// Runs one seed with the default [`Params`].
pub fn run(seed: u64) -> Outcome {
    build(seed, Params::default()).run()
}
