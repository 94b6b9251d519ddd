//! The pool invariants that need more than one node's word: what the network delivered
//! (a silent link), what it did to a pair of nodes (an unreachable peer), and what every
//! node held at one instant (one link per pair).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tether_core::pool::{self, LinkId};

use super::node::{Ctx, NodeId};

/// One node's link to one peer at the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The pool's current control link for the peer (`PeerStats::link`), as text.
    pub link: Option<String>,
    /// The simulated connection under it.
    pub conn: Option<u64>,
    /// Its WebSocket is open.
    pub open: bool,
    /// Open control links of this node registered to the peer, current or not.
    pub open_links: usize,
    /// Open bulk links of this node registered to the peer.
    pub open_bulk_links: usize,
}

/// Every node's links at the snapshot, by node then peer; shared by the nodes of a run
/// (single-threaded, so an `Rc<RefCell<_>>`).
#[derive(Debug, Clone, Default)]
pub struct Board(Rc<RefCell<BTreeMap<NodeId, BTreeMap<NodeId, View>>>>);

impl Board {
    /// Records `node`'s views of its peers.
    pub fn record(&self, node: NodeId, views: BTreeMap<NodeId, View>) {
        self.0.borrow_mut().insert(node, views);
    }

    /// `node`'s view of `peer`, if it recorded one.
    pub fn view(&self, node: NodeId, peer: NodeId) -> Option<View> {
        self.0.borrow().get(&node)?.get(&peer).cloned()
    }
}

/// Invariant 2: a link to `node` was declared silent, one of those that ended just now;
/// `quiet` has those that had opened, with how long before now the network last delivered
/// bytes to each. With any input as a sign of life, bytes within `timeout` show the peer
/// alive and reachable and the link busy: at least one of them must have been quiet for
/// `timeout`.
pub fn silent_link(
    ctx: &mut Ctx,
    name: &str,
    node: pool::NodeId,
    quiet: &[(LinkId, Duration)],
    timeout: Duration,
) {
    if quiet.iter().any(|&(_, q)| q >= timeout) {
        ctx.count("pool.silent_checked");
        return;
    }
    let quiet: Vec<String> = quiet
        .iter()
        .map(|(link, q)| format!("{link} quiet for {q:?}"))
        .collect();
    ctx.fail(format_args!(
        "invariant 2 (no live, busy link declared dead): {name} declared a link to {node} silent, yet every link that ended with it had bytes delivered within the heartbeat timeout {timeout:?}: {}",
        quiet.join(", ")
    ));
}

/// Invariant 5: a call of this node to `target` ended `Unreachable` now; its link attempt
/// began no earlier than `from`. Between `from` and now the network must have failed the
/// pair at some instant: `target` down, the two partitioned, either one not reading
/// (stalled), the clock jumping, a connection between them reset or a dial refused; or
/// the run was shutting the nodes down (`stop`).
pub fn unreachable(
    ctx: &mut Ctx,
    name: &str,
    target: NodeId,
    from: Instant,
    stop: Option<Instant>,
) {
    let (me, now) = (ctx.me(), ctx.now);
    let plan = ctx.plan();
    let during = |windows: &[(Instant, Instant)]| {
        windows
            .iter()
            .any(|&(start, end)| start <= now && end >= from)
    };
    let down = plan
        .crash(target)
        .is_some_and(|(start, end)| start <= now && end >= from);
    let partitioned = during(plan.partitions(me, target));
    let stalled = during(plan.stalls(me)) || during(plan.stalls(target));
    let jumped = plan
        .jump()
        .is_some_and(|(at, _)| (from..=now).contains(&at));
    let broken = ctx.conn_broken_between(me, target, from, now);
    let stopping = stop.is_some_and(|at| now >= at);
    let why = if down {
        "pool.unreachable_down"
    } else if partitioned {
        "pool.unreachable_partitioned"
    } else if broken {
        "pool.unreachable_conn_broken"
    } else if stalled {
        "pool.unreachable_stalled"
    } else if jumped {
        "pool.unreachable_clock_jump"
    } else if stopping {
        "pool.unreachable_stopping"
    } else {
        ctx.fail(format_args!(
            "invariant 5 (Unreachable only when unreachable): {name}: a call to {target} ended Unreachable, yet from {:?} on the network never failed the pair: {target} up, no partition, no stall, no clock jump, no connection reset or dial refused",
            from.saturating_duration_since(ctx.origin)
        ));
    };
    ctx.count(why);
}

/// Invariant 3, for `me` and every node numbered above it (of `nodes`): at the snapshot
/// each holds exactly one open control link registered to the other, their current links
/// are the two ends of one connection, and neither holds more than one open bulk link to
/// the other (a bulk link comes and goes with large calls).
pub fn one_link_per_pair(ctx: &mut Ctx, board: &Board, me: NodeId, nodes: usize) {
    for peer in (me.0 + 1..nodes).map(NodeId) {
        let (Some(mine), Some(theirs)) = (board.view(me, peer), board.view(peer, me)) else {
            ctx.fail(format_args!(
                "invariant 3 (one link per peer pair once calm): no snapshot of the links between {me} and {peer}"
            ));
        };
        let one = mine.open && theirs.open && mine.open_links == 1 && theirs.open_links == 1;
        let bulk = mine.open_bulk_links <= 1 && theirs.open_bulk_links <= 1;
        let same = mine.conn.is_some() && mine.conn == theirs.conn;
        if !(one && same && bulk) {
            ctx.fail(format_args!(
                "invariant 3 (one link per peer pair once calm): once calm, {me} holds {mine:?} for {peer}, and {peer} holds {theirs:?} for {me}: not one open link, the two ends of one connection"
            ));
        }
        ctx.count("pool.pairs_checked");
    }
}
