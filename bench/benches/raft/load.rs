//! The cluster under test and the load on it: three [`NodeProcess`]es made one cluster
//! with `mgmt/init`, and writers calling `kv/write` on the leader over one tether
//! `rpc::Client` (the same client path whatever the network between the nodes).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tether_bench::runtimes::process_cpu_ticks;
use tether_raft::kv::{self, Init, Metrics, Read, Request, Value, Write, Written};
use tether_tokio::rpc::{Client, ClientConfig};
use tokio::task::JoinSet;

use crate::node::{Network, NodeProcess};

/// One call's deadline: far above any write's latency here, so a timeout is a failure.
const CALL: Duration = Duration::from_secs(5);
/// How long the cluster may take to agree on a leader after `mgmt/init`.
const ELECTION: Duration = Duration::from_secs(20);
/// Keys each writer cycles through: the map (and each snapshot of it) stays small.
const KEYS_PER_WRITER: u64 = 16;

/// Three nodes with one leader, and a client of each.
pub struct Cluster {
    nodes: BTreeMap<u64, NodeProcess>,
    clients: BTreeMap<u64, Client>,
    pub leader: u64,
}

impl Cluster {
    /// Starts three nodes with `network` between them, makes them one cluster and waits
    /// until all three name the same leader.
    pub async fn start(network: Network) -> Cluster {
        let mut nodes = BTreeMap::new();
        for id in 1..=3 {
            nodes.insert(id, NodeProcess::start(id, network));
        }
        let mut clients = BTreeMap::new();
        for (id, node) in &nodes {
            let client = Client::connect(&node.url, ClientConfig::default())
                .await
                .unwrap_or_else(|e| panic!("connect to node {id}: {e}"));
            clients.insert(*id, client);
        }
        let members = nodes
            .iter()
            .map(|(id, node)| (*id, node.raft_addr.clone()))
            .collect();
        let () = clients[&1]
            .call_with_timeout(kv::INIT, &Init { nodes: members }, CALL)
            .await
            .unwrap_or_else(|e| panic!("mgmt/init ({}): {e}", network.name()));
        let end = Instant::now() + ELECTION;
        let leader = loop {
            if let Some(leader) = agreed_leader(&clients).await {
                break leader;
            }
            assert!(
                Instant::now() < end,
                "{}: no leader {ELECTION:?} after mgmt/init",
                network.name()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Cluster {
            nodes,
            clients,
            leader,
        }
    }

    /// CPU time the three node processes have used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.nodes
            .values()
            .map(|node| process_cpu_ticks(node.pid()))
            .sum()
    }

    /// The leader's metrics.
    pub async fn leader_metrics(&self) -> Metrics {
        self.clients[&self.leader]
            .call_with_timeout(kv::METRICS, &(), CALL)
            .await
            .expect("the leader's metrics")
    }

    /// `writers` writers, each writing on the leader one write at a time for `duration`.
    pub async fn write_for(&self, writers: usize, duration: Duration, value_len: usize) -> Load {
        let client = self.clients[&self.leader].clone();
        let started = Instant::now();
        let end = started + duration;
        let mut tasks = JoinSet::new();
        for writer in 0..writers as u64 {
            let client = client.clone();
            tasks.spawn(async move { write_until(&client, writer, end, value_len).await });
        }
        let mut load = Load::default();
        while let Some(done) = tasks.join_next().await {
            let mut done = done.expect("a writer");
            load.latencies.append(&mut done.latencies);
            load.errors += done.errors;
            load.last.extend(done.last);
            load.last_index = load.last_index.max(done.last_index);
        }
        load.elapsed = started.elapsed();
        load
    }

    /// Checks that `load`'s writes are in the store and on every node: each writer's last
    /// key read back from the leader (a linearizable read), and every follower's state
    /// machine applied up to the last write's log index. An acknowledged write the network
    /// did not replicate shows here. (A follower's own `kv/read` asks the leader for its
    /// read index over the tether pool, which knows only the tether network's addresses.)
    pub async fn check(&self, load: &Load) -> Result<(), String> {
        let leader = &self.clients[&self.leader];
        for (key, value) in &load.last {
            let read: Value = leader
                .call_with_timeout(kv::READ, &Read { key: key.clone() }, CALL)
                .await
                .map_err(|e| format!("kv/read {key} on the leader: {e}"))?;
            if read.value.as_deref() != Some(value) {
                return Err(format!(
                    "the leader has {key} = {:?}, acknowledged as {value:?}",
                    read.value
                ));
            }
        }
        let end = Instant::now() + CALL;
        for (id, client) in &self.clients {
            loop {
                let metrics: Metrics = client
                    .call_with_timeout(kv::METRICS, &(), CALL)
                    .await
                    .map_err(|e| format!("metrics of node {id}: {e}"))?;
                if metrics.last_applied >= Some(load.last_index) {
                    break;
                }
                if Instant::now() > end {
                    return Err(format!(
                        "node {id} applied up to {:?}, not {} after {CALL:?}",
                        metrics.last_applied, load.last_index
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }
}

/// What the writers of one run did.
#[derive(Debug, Default)]
pub struct Load {
    /// Each acknowledged write's latency.
    pub latencies: Vec<Duration>,
    /// Writes that failed (each retried after 10 ms).
    pub errors: u64,
    /// From the start until the last writer's last write came back.
    pub elapsed: Duration,
    /// Each writer's last acknowledged key and value.
    pub last: Vec<(String, String)>,
    /// The log index of the last acknowledged write.
    pub last_index: u64,
}

/// The leader, once every node names the same one.
async fn agreed_leader(clients: &BTreeMap<u64, Client>) -> Option<u64> {
    let mut leaders = Vec::new();
    for client in clients.values() {
        let metrics: Metrics = client
            .call_with_timeout(kv::METRICS, &(), CALL)
            .await
            .ok()?;
        leaders.push(metrics.leader?);
    }
    leaders.dedup();
    match leaders[..] {
        [leader] => Some(leader),
        _ => None,
    }
}

async fn write_until(client: &Client, writer: u64, end: Instant, value_len: usize) -> Load {
    let mut load = Load::default();
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let key = format!("w{writer}-{}", n % KEYS_PER_WRITER);
        let mut value = format!("{writer}:{n}:");
        value.extend(std::iter::repeat_n(
            'x',
            value_len.saturating_sub(value.len()),
        ));
        let write = Write {
            request: Request::Set {
                key: key.clone(),
                value: value.clone(),
            },
            forwarded: false,
        };
        let sent = Instant::now();
        match client
            .call_with_timeout::<_, Written>(kv::WRITE, &write, CALL)
            .await
        {
            Ok(written) => {
                load.latencies.push(sent.elapsed());
                load.last = vec![(key, value)];
                load.last_index = load.last_index.max(written.index);
            }
            Err(_) => {
                load.errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    load
}
