//! The run the test command repeats per seed: RPC clients over bare channels and nodes
//! of reconnecting sessions against echo servers that may crash, under
//! [`Faults::default`], every setting drawn from the seed.

use std::time::Duration;

use tether_core::{rpc, ws};

use super::checks::CONTROL_SLACK;
use super::echo_server::EchoServer;
use super::faults::Faults;
use super::node::NodeId;
use super::notes::NoteLedger;
use super::rpc_client::{max_call_len, RpcClient, RpcClientConfig};
use super::session_node::SessionNode;
use super::simulator::{Outcome, Sim};

/// The size of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// RPC client nodes (bare channels, one per server, dialed again when lost).
    pub rpc_clients: usize,
    /// Echo server nodes.
    pub servers: usize,
    /// Calls each RPC client makes.
    pub calls_per_client: usize,
    /// Nodes of sessions.
    pub session_nodes: usize,
    /// Sessions per session node, each to a server drawn from the seed.
    pub sessions_per_node: usize,
    /// Calls and notifications each session makes while faults may strike.
    pub actions_per_session: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            rpc_clients: 2,
            servers: 2,
            calls_per_client: 20,
            session_nodes: 2,
            sessions_per_node: 2,
            actions_per_session: 20,
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
    // A server connection answers at most every call of one client, or every call of one
    // session, each written up to 4 times (3 re-sends).
    let rpc_answers = params.calls_per_client * (max_call_len(MAX_PAD) + 64);
    let session_answers = (params.actions_per_session + 1) * 4 * (SessionNode::max_call_len() + 64);
    let max_pending = rpc_answers.max(session_answers) + CONTROL_SLACK;
    let ledger = NoteLedger::default();
    let servers: Vec<NodeId> = (0..params.servers)
        .map(|s| {
            let server = EchoServer::new(
                s,
                ws_config.clone(),
                rpc_config.clone(),
                Duration::from_millis(300),
                max_pending,
            )
            .with_notes(ledger.sink());
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
    let window = sim.faults().until;
    for n in 0..params.session_nodes {
        let node = SessionNode::new(
            n,
            params.sessions_per_node,
            &servers,
            params.actions_per_session,
            &ws_config,
            origin,
            window,
            ledger.clone(),
            sim.rng(),
        );
        sim.add_node(Box::new(node));
    }
    sim
}

/// Runs one seed with the default [`Params`].
pub fn run(seed: u64) -> Outcome {
    build(seed, Params::default()).run()
}
