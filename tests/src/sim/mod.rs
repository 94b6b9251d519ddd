//! A deterministic simulator: RPC client and server [`Endpoint`]s over a simulated
//! network, every choice drawn from one seed (issue 8, first slice).
//!
//! A run builds `clients` × `servers` connections (each client has one [`Endpoint`] per
//! server), plans each client's calls, and draws per-connection latency, jitter and
//! faults: a reset (both ends read EOF at once, queued bytes are lost), a silent partition
//! (nothing is delivered for a while, then everything is), and at most one clock jump
//! (virtual time leaps forward and every node's timers fire). Bytes written are cut at
//! random boundaries and delivered in order, each piece after its own delay.
//!
//! The simulator is an event loop over virtual time: it picks the earliest due thing (a
//! fault, a piece of bytes, a node's deadline), hands it to its [`Node`], drains what the
//! node wrote, and checks every node's invariants. Nothing reads a clock (one real
//! `Instant` is the origin), the OS's randomness, or iterates a hash map, so a seed
//! replays byte for byte; [`Outcome::trace`] hashes every byte delivered and every event
//! seen, to show it.
//!
//! Invariants checked (a failure panics naming the seed and the replay command):
//! - every call ends exactly once, with `Response` or `Ended`, and by the end of the run;
//! - `cancel` returns true exactly when the call is still open, and it then ends `Cancelled`;
//! - a `Response` carries exactly the params of its own call (servers echo them);
//! - an EOF or reset ends every call in flight on that connection with `ConnectionLost`,
//!   and `Closed` comes only after every pending call ended;
//! - after `handle_timeout(now)`, every machine's `poll_timeout()` is `None` or later;
//! - every connection's `buffered_input()` stays within `max_message_size` + a frame
//!   header once open (before the upgrade, within the handshake head limit);
//! - peers that behave never produce `Invalid` events, errors from `echo`, or unknown ids;
//! - once the run goes quiet every machine is finished.
//!
//! New node kinds implement [`Node`]; the network only knows ports.
//!
//! [`Endpoint`]: tether_core::rpc::Endpoint

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tether_core::handshake::ClientRequest;
use tether_core::rpc::{self, Endpoint};
use tether_core::ws;

mod node;
mod rng;
mod rpc_nodes;

pub use node::{Ctx, Node};
pub use rng::{SimRng, Trace};
pub use rpc_nodes::{ClientNode, ClientStats, ServerNode};

/// The size of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// RPC client nodes.
    pub clients: usize,
    /// RPC server nodes.
    pub servers: usize,
    /// Calls each client makes.
    pub calls_per_client: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            clients: 3,
            servers: 2,
            calls_per_client: 20,
        }
    }
}

/// What a run did: the trace hash and counters, to print and compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The seed the run was drawn from.
    pub seed: u64,
    /// Hash of every byte delivered and every event seen, in order.
    pub trace: u64,
    /// Calls counted over all clients.
    pub calls: ClientStats,
    /// Connections reset.
    pub resets: u64,
    /// Partitions drawn.
    pub partitions: u64,
    /// Whether the clock jumped.
    pub clock_jump: bool,
    /// Steps of the event loop.
    pub steps: u64,
    /// Virtual time the run took.
    pub virtual_time: Duration,
}

/// Steps after which a run is declared livelocked.
const MAX_STEPS: u64 = 5_000_000;
/// Virtual time after which a run is declared stuck (a clock jump is at most 2 minutes).
const MAX_VIRTUAL_TIME: Duration = Duration::from_secs(3600);

/// One end of a link: a node and one of its ports.
#[derive(Debug, Clone, Copy)]
struct End {
    node: usize,
    port: usize,
}

/// A piece of bytes in flight, or the end of the stream (`None`).
#[derive(Debug)]
struct Piece {
    at: Instant,
    data: Option<Vec<u8>>,
}

/// One direction of a link: an ordered queue, like one half of a TCP connection.
#[derive(Debug)]
struct Direction {
    from: End,
    to: End,
    queue: VecDeque<Piece>,
    eof_queued: bool,
    latency: Duration,
    jitter_ms: u64,
    /// Largest piece delivered at once; random boundaries below it.
    max_piece: usize,
}

/// A simulated connection with its faults, drawn when the run starts.
#[derive(Debug)]
struct Link {
    dirs: [Direction; 2],
    /// Nothing is delivered in `[start, end)`; what falls due then arrives at `end`.
    partition: Option<(Instant, Instant)>,
    reset_at: Option<Instant>,
    dead: bool,
}

impl Link {
    /// When the front of `dir` can be delivered, partitions included.
    fn due(&self, dir: usize) -> Option<Instant> {
        let at = self.dirs[dir].queue.front()?.at;
        Some(match self.partition {
            Some((start, end)) if start <= at && at < end => end,
            _ => at,
        })
    }
}

/// What the loop does next; the order of the variants breaks ties in time.
#[derive(Debug, Clone, Copy)]
enum Due {
    Jump,
    Reset(usize),
    Deliver(usize, usize),
    Timeout(usize),
}

/// The simulator: nodes, links, virtual time.
pub struct Sim {
    ctx: Ctx,
    nodes: Vec<Box<dyn Node>>,
    links: Vec<Link>,
    /// The clock jump still to come: when, and by how much.
    jump: Option<(Instant, Duration)>,
    outcome: Outcome,
}

impl Sim {
    /// Builds the run for `seed`: topology, configs, plans and faults, all from the seed.
    ///
    /// Panics if `params` has no clients or no servers: there would be nothing to run.
    pub fn new(seed: u64, params: Params) -> Sim {
        assert!(
            params.clients > 0 && params.servers > 0,
            "a simulation needs at least one client and one server: {params:?}"
        );
        // The virtual clock needs one real instant as its origin; it never reads the clock again.
        #[allow(clippy::disallowed_methods)]
        let origin = Instant::now();
        let mut rng = SimRng::new(seed);
        let ms = Duration::from_millis;
        let size = rng.range(4096, 16384) as usize;
        let ws_config = ws::Config {
            max_message_size: size,
            max_frame_size: size,
            // Small fragments now and then, so messages arrive in many frames.
            fragment_size: rng.range(64, 8192) as usize,
            ..Default::default()
        };
        let call_window = ms(2000);

        let mut client_ports: Vec<Vec<Endpoint>> =
            (0..params.clients).map(|_| Vec::new()).collect();
        let mut server_ports: Vec<Vec<Endpoint>> =
            (0..params.servers).map(|_| Vec::new()).collect();
        let mut links = Vec::new();
        let mut outcome = Outcome {
            seed,
            trace: 0,
            calls: ClientStats::default(),
            resets: 0,
            partitions: 0,
            clock_jump: false,
            steps: 0,
            virtual_time: Duration::ZERO,
        };
        // Link (c, s) joins client c's port s and server s's port c.
        for (c, ports) in client_ports.iter_mut().enumerate() {
            for (s, server) in server_ports.iter_mut().enumerate() {
                let request = ClientRequest {
                    host: format!("server-{s}"),
                    path: "/rpc".into(),
                    ..Default::default()
                };
                let client = Endpoint::client(
                    origin,
                    ws_config.clone(),
                    rpc::Config::default(),
                    request,
                    rng.seed32(),
                )
                .expect("the simulator's upgrade request is valid");
                ports.push(client);
                server.push(Endpoint::server(
                    origin,
                    ws_config.clone(),
                    rpc::Config::default(),
                    rng.seed32(),
                ));
                let client_end = End { node: c, port: s };
                let server_end = End {
                    node: params.clients + s,
                    port: c,
                };
                let mut direction = |from, to| Direction {
                    from,
                    to,
                    queue: VecDeque::new(),
                    eof_queued: false,
                    latency: ms(rng.range(1, 50)),
                    jitter_ms: rng.range(0, 20),
                    max_piece: if rng.chance(10) {
                        1 << 20
                    } else {
                        rng.range(1, 1500) as usize
                    },
                };
                let dirs = [
                    direction(client_end, server_end),
                    direction(server_end, client_end),
                ];
                let partition = rng.chance(25).then(|| {
                    let start = origin + ms(rng.range(0, 2500));
                    (start, start + ms(rng.range(100, 3000)))
                });
                let reset_at = rng.chance(10).then(|| origin + ms(rng.range(0, 2500)));
                outcome.partitions += u64::from(partition.is_some());
                links.push(Link {
                    dirs,
                    partition,
                    reset_at,
                    dead: false,
                });
            }
        }
        let jump = rng.chance(20).then(|| {
            (
                origin + ms(rng.range(0, 2500)),
                Duration::from_secs(rng.range(5, 120)),
            )
        });
        let mut nodes: Vec<Box<dyn Node>> = Vec::new();
        for (c, ports) in client_ports.into_iter().enumerate() {
            let client = ClientNode::new(
                c,
                ports,
                params.calls_per_client,
                origin,
                call_window,
                &mut rng,
            );
            nodes.push(Box::new(client));
        }
        for (s, ports) in server_ports.into_iter().enumerate() {
            nodes.push(Box::new(ServerNode::new(s, ports, ms(300))));
        }
        Sim {
            ctx: Ctx {
                seed,
                origin,
                now: origin,
                rng,
                trace: Trace::default(),
                calls: ClientStats::default(),
            },
            nodes,
            links,
            jump,
            outcome,
        }
    }

    /// Runs until nothing is in flight and no deadline is left, checking invariants at
    /// every step; panics (naming the seed) on the first one broken.
    pub fn run(mut self) -> Outcome {
        loop {
            self.flush();
            for node in &self.nodes {
                node.check(&self.ctx);
            }
            let Some((at, due)) = self.next_due() else {
                break;
            };
            self.outcome.steps += 1;
            if self.outcome.steps > MAX_STEPS {
                self.ctx
                    .fail(format_args!("no quiet after {MAX_STEPS} steps: livelock"));
            }
            // Time never goes back: a piece due before a clock jump arrives after it.
            self.ctx.now = self.ctx.now.max(at);
            if self.ctx.elapsed() > MAX_VIRTUAL_TIME {
                self.ctx.fail(format_args!(
                    "still busy after {MAX_VIRTUAL_TIME:?} of virtual time"
                ));
            }
            self.ctx.trace.add_u64(self.ctx.elapsed().as_nanos() as u64);
            self.step(due);
        }
        for node in &self.nodes {
            node.check_done(&self.ctx);
        }
        self.outcome.trace = self.ctx.trace.hash();
        self.outcome.calls = self.ctx.calls;
        self.outcome.virtual_time = self.ctx.elapsed();
        self.outcome
    }

    /// The earliest due thing; ties go to the first in a fixed order (jump, resets,
    /// deliveries by link and direction, node deadlines by node).
    fn next_due(&self) -> Option<(Instant, Due)> {
        let mut best: Option<(Instant, Due)> = None;
        let mut consider = |at: Instant, due: Due| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, due));
            }
        };
        if let Some((at, _)) = self.jump {
            consider(at, Due::Jump);
        }
        for (l, link) in self.links.iter().enumerate() {
            if link.dead {
                continue;
            }
            if let Some(at) = link.reset_at {
                consider(at, Due::Reset(l));
            }
            for dir in 0..2 {
                if let Some(at) = link.due(dir) {
                    consider(at, Due::Deliver(l, dir));
                }
            }
        }
        for (n, node) in self.nodes.iter().enumerate() {
            if let Some(at) = node.poll_timeout() {
                consider(at, Due::Timeout(n));
            }
        }
        best
    }

    fn step(&mut self, due: Due) {
        let ctx = &mut self.ctx;
        match due {
            Due::Jump => {
                let Some((_, by)) = self.jump.take() else {
                    return;
                };
                ctx.now += by;
                ctx.trace.add(b"jump");
                self.outcome.clock_jump = true;
                for node in &mut self.nodes {
                    node.handle_timeout(ctx);
                }
            }
            Due::Reset(l) => {
                let link = &mut self.links[l];
                link.dead = true;
                link.reset_at = None;
                ctx.trace.add(b"reset");
                ctx.trace.add_u64(l as u64);
                self.outcome.resets += 1;
                for dir in &mut link.dirs {
                    dir.queue.clear();
                }
                let ends = [link.dirs[0].from, link.dirs[1].from];
                for end in ends {
                    self.nodes[end.node].handle_eof(ctx, end.port);
                }
            }
            Due::Deliver(l, d) => {
                let dir = &mut self.links[l].dirs[d];
                let Some(piece) = dir.queue.pop_front() else {
                    return;
                };
                let to = dir.to;
                ctx.trace.add_u64((l * 2 + d) as u64);
                match piece.data {
                    Some(data) => {
                        ctx.trace.add(&data);
                        self.nodes[to.node].handle_input(ctx, to.port, &data);
                    }
                    None => {
                        ctx.trace.add(b"eof");
                        self.nodes[to.node].handle_eof(ctx, to.port);
                    }
                }
            }
            Due::Timeout(n) => self.nodes[n].handle_timeout(ctx),
        }
    }

    /// Takes what every node wrote and queues it on its link in random pieces, each due
    /// after the link's latency plus jitter but never before the piece ahead of it. A
    /// finished end's transport is dropped: its peer reads EOF after the last byte.
    fn flush(&mut self) {
        let now = self.ctx.now;
        for link in &mut self.links {
            for dir in &mut link.dirs {
                let node = &mut self.nodes[dir.from.node];
                while let Some(bytes) = node.poll_transmit(dir.from.port) {
                    if link.dead {
                        // Writes into a reset connection go nowhere.
                        continue;
                    }
                    let mut rest: &[u8] = &bytes;
                    while !rest.is_empty() {
                        let len =
                            (self.ctx.rng.range(1, dir.max_piece as u64) as usize).min(rest.len());
                        let (piece, tail) = rest.split_at(len);
                        rest = tail;
                        let at = Self::arrival(&mut self.ctx.rng, now, dir);
                        dir.queue.push_back(Piece {
                            at,
                            data: Some(piece.to_vec()),
                        });
                    }
                }
                if !link.dead && !dir.eof_queued && node.port_finished(dir.from.port) {
                    dir.eof_queued = true;
                    let at = Self::arrival(&mut self.ctx.rng, now, dir);
                    dir.queue.push_back(Piece { at, data: None });
                }
            }
        }
    }

    /// When a piece written now arrives: latency plus jitter, in order behind the queue.
    fn arrival(rng: &mut SimRng, now: Instant, dir: &Direction) -> Instant {
        let at = now + dir.latency + Duration::from_millis(rng.range(0, dir.jitter_ms));
        dir.queue.back().map_or(at, |last| at.max(last.at))
    }
}

/// Runs one seed with the default [`Params`].
pub fn run(seed: u64) -> Outcome {
    Sim::new(seed, Params::default()).run()
}
