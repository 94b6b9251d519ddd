//! Pools of several nodes wired together in memory: the pool's `Pair`.
//!
//! `Connect` events are answered by the named node's `accept` (or `transport_failed` if
//! that node is down), bytes go from a link's `poll_transmit` straight into its other
//! end, `Disconnect` ends the other end with an EOF, and requests are answered with
//! `{"node": <id>, "params": <params>}` unless `serve` is off.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::value::{to_raw_value, RawValue};
use tether_core::handshake::ClientRequest;
use tether_core::pool::{Config, Event, LinkId, NodeId, Pool};
use tether_core::rpc::ReplyTo;

pub struct Cluster {
    pub t0: Instant,
    now: Instant,
    pub pools: BTreeMap<NodeId, Pool>,
    /// Each end of each transport, to its other end.
    wires: BTreeMap<(NodeId, LinkId), (NodeId, LinkId)>,
    /// Nodes whose `accept` is never reached: their connects fail.
    pub down: BTreeSet<NodeId>,
    /// Nodes whose bytes are lost on the way out (a one-way partition).
    pub mute: BTreeSet<NodeId>,
    /// Nodes whose dialed links' bytes are held back (a slow route) until `release`.
    pub slow_dials: BTreeSet<NodeId>,
    /// Links dialed by each node.
    dialed: BTreeSet<(NodeId, LinkId)>,
    delayed: Vec<(NodeId, LinkId, bytes::Bytes)>,
    /// Answer requests at once.
    pub serve: bool,
    /// Requests not answered (with `serve` off): node, link, reply, method.
    pub held: Vec<(NodeId, LinkId, ReplyTo, String)>,
    /// Every event but the ones the harness acts on, per node, in order.
    pub events: Vec<(NodeId, Event)>,
    /// `Connect` events seen, per dialing node.
    pub connects: BTreeMap<NodeId, usize>,
    /// Messages handed out to be parsed (`Event::Parse`).
    pub parsed: usize,
}

#[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
fn origin() -> Instant {
    Instant::now()
}

impl Cluster {
    /// Nodes `1..=n`, each with `config(node)`.
    pub fn new(n: u64, config: impl Fn(NodeId) -> Config) -> Cluster {
        let pools = (1..=n)
            .map(|id| {
                let node = NodeId(id);
                let mut seed = [0u8; 32];
                seed[0] = id as u8;
                (node, Pool::new(config(node), seed))
            })
            .collect();
        let t0 = origin();
        Cluster {
            t0,
            now: t0,
            pools,
            wires: BTreeMap::new(),
            down: BTreeSet::new(),
            mute: BTreeSet::new(),
            slow_dials: BTreeSet::new(),
            dialed: BTreeSet::new(),
            delayed: Vec::new(),
            serve: true,
            held: Vec::new(),
            events: Vec::new(),
            connects: BTreeMap::new(),
            parsed: 0,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn pool(&mut self, node: u64) -> &mut Pool {
        self.pools
            .get_mut(&NodeId(node))
            .expect("a node of the cluster")
    }

    /// `from` calls `method` on `to` with `[n]` as params.
    pub fn call(
        &mut self,
        from: u64,
        to: u64,
        method: &str,
        n: u64,
    ) -> tether_core::session::CallId {
        let now = self.now;
        let params = to_raw_value(&[n]).expect("json");
        self.pool(from)
            .call(now, NodeId(to), method, Some(&params), None)
            .expect("call taken")
    }

    /// Moves bytes and handles events until nothing more happens at this instant.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.turn() {
                return;
            }
        }
        panic!("the cluster never settles");
    }

    /// Settles, then moves time to `at` through every deadline on the way.
    pub fn run_until(&mut self, at: Instant) {
        self.settle();
        loop {
            let next = self.pools.values().filter_map(Pool::poll_timeout).min();
            match next {
                Some(next) if next <= at => {
                    self.now = self.now.max(next);
                    let now = self.now;
                    for pool in self.pools.values_mut() {
                        pool.handle_timeout(now);
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = self.now.max(at);
    }

    pub fn run_for(&mut self, d: Duration) {
        let at = self.now + d;
        self.run_until(at);
    }

    /// Events of `node` taken out of the log.
    pub fn take(&mut self, node: u64) -> Vec<Event> {
        let (mine, rest) = std::mem::take(&mut self.events)
            .into_iter()
            .partition(|(n, _)| *n == NodeId(node));
        self.events = rest;
        mine.into_iter().map(|(_, e)| e).collect()
    }

    /// Answers a held request.
    pub fn answer(&mut self, index: usize) {
        let (node, link, reply, _) = self.held.remove(index);
        let now = self.now;
        let result = to_raw_value(&"late").expect("json");
        let _ = self.pool(node.0).respond(now, link, reply, Ok(&result));
        self.settle();
    }

    /// One pass over every node: events, then bytes. Every node's bytes are taken before
    /// any is delivered, so messages sent at the same instant cross on the wire (two
    /// upgrades racing, say). True if anything happened.
    fn turn(&mut self) -> bool {
        let mut busy = false;
        let nodes: Vec<NodeId> = self.pools.keys().copied().collect();
        for node in nodes.iter().copied() {
            while let Some(event) = self.pools.get_mut(&node).and_then(Pool::poll_event) {
                busy = true;
                self.on_event(node, event);
            }
        }
        let mut in_flight = Vec::new();
        for node in nodes {
            while let Some(link) = self.pools.get_mut(&node).and_then(Pool::poll_ready) {
                busy = true;
                in_flight.extend(self.take_bytes(node, link));
            }
        }
        for (to, link, bytes) in in_flight {
            self.deliver(to, link, &bytes);
        }
        busy
    }

    /// Takes `link`'s bytes on `node` and delivers them to the other end.
    fn carry(&mut self, node: NodeId, link: LinkId) {
        for (to, plink, bytes) in self.take_bytes(node, link) {
            self.deliver(to, plink, &bytes);
        }
    }

    /// `link`'s bytes on `node`, addressed to the other end (none if muted or unwired).
    fn take_bytes(&mut self, node: NodeId, link: LinkId) -> Vec<(NodeId, LinkId, bytes::Bytes)> {
        let mut out = Vec::new();
        while let Some(bytes) = self
            .pools
            .get_mut(&node)
            .and_then(|p| p.poll_transmit(link))
        {
            if self.mute.contains(&node) {
                continue;
            }
            if let Some((peer, plink)) = self.wires.get(&(node, link)).copied() {
                if self.slow_dials.contains(&node) && self.dialed.contains(&(node, link)) {
                    self.delayed.push((peer, plink, bytes));
                } else {
                    out.push((peer, plink, bytes));
                }
            }
        }
        out
    }

    /// Delivers what `slow_dials` held back, and holds no more.
    pub fn release(&mut self) {
        self.slow_dials.clear();
        for (to, link, bytes) in std::mem::take(&mut self.delayed) {
            self.deliver(to, link, &bytes);
        }
        self.settle();
    }

    fn deliver(&mut self, to: NodeId, link: LinkId, bytes: &[u8]) {
        let now = self.now;
        if let Some(pool) = self.pools.get_mut(&to) {
            pool.handle_input(now, link, bytes);
        }
    }

    fn on_event(&mut self, node: NodeId, event: Event) {
        let now = self.now;
        match event {
            Event::Connect { link, node: peer } => {
                *self.connects.entry(node).or_default() += 1;
                let accepted = match self.pools.get_mut(&peer) {
                    Some(pool) if !self.down.contains(&peer) => pool.accept(now).ok(),
                    _ => None,
                };
                let Some(pool) = self.pools.get_mut(&node) else {
                    return;
                };
                match accepted {
                    Some(plink) => {
                        self.dialed.insert((node, link));
                        self.wires.insert((node, link), (peer, plink));
                        self.wires.insert((peer, plink), (node, link));
                        let request = ClientRequest {
                            host: format!("node{}", peer.0),
                            path: "/".into(),
                            headers: Vec::new(),
                            protocols: Vec::new(),
                        };
                        pool.transport_open(now, link, request);
                    }
                    None => pool.transport_failed(now, link),
                }
            }
            Event::Disconnect { link } => {
                self.carry(node, link);
                if let Some((peer, plink)) = self.wires.remove(&(node, link)) {
                    self.wires.remove(&(peer, plink));
                    if let Some(pool) = self.pools.get_mut(&peer) {
                        pool.handle_eof(now, plink);
                    }
                }
            }
            Event::Request {
                link,
                reply,
                method,
                params,
                ..
            } => {
                if self.serve {
                    let answer = Answer {
                        node: node.0,
                        params,
                    };
                    let result = to_raw_value(&answer).expect("json");
                    if let Some(pool) = self.pools.get_mut(&node) {
                        let _ = pool.respond(now, link, reply, Ok(&result));
                    }
                } else {
                    self.held.push((node, link, reply, method));
                }
            }
            Event::Parse { link, unparsed } => {
                self.parsed += 1;
                if let Some(pool) = self.pools.get_mut(&node) {
                    pool.handle_parsed(now, link, unparsed.parse());
                }
            }
            other => self.events.push((node, other)),
        }
    }
}

#[derive(serde::Serialize)]
struct Answer {
    node: u64,
    params: Option<Box<RawValue>>,
}
