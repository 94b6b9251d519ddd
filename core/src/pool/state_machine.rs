//! The [`Pool`]: its inputs, commands and outputs. What happens on a link's events is in
//! [`links`], how calls wait for and go out on links in [`calls`].

mod calls;
mod links;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;

use super::slab::Slab;
use super::stats::Counters;
use super::timers::{Owner, Timers};
use super::{Admission, Config, Event, Lane, LinkId, NodeId, Observation, PeerState, Stats};
use crate::frame::CloseCode;
use crate::handshake::ClientRequest;
use crate::rng::{Rng, Seed};
use crate::rpc::{
    Channel, EndReason, ErrorObject, Parsed, Refused, ReplyTo, Request, RespondError,
};
use crate::session::CallId;
use crate::ws;

use super::link::{Link, Phase};
use calls::{Call, Queued};

/// A node's side of the cluster: one link per peer node, opened on first use, shared by
/// every call, and closed when it fails, goes silent or idles. See the [module docs](super).
#[derive(Debug)]
pub struct Pool {
    config: Config,
    rng: Rng,
    links: Slab<Link>,
    peers: BTreeMap<NodeId, Peer>,
    calls: BTreeMap<CallId, Call>,
    next_call: u64,
    timers: Timers,
    /// Links with bytes to take, each once.
    ready: VecDeque<LinkId>,
    events: VecDeque<Event>,
    /// Kept only with `config.observe`.
    observations: VecDeque<Observation>,
    /// Set by `shutdown`: when the links still busy are closed anyway.
    shutdown: Option<Instant>,
    /// Nodes whose last link closed, oldest first: the ones forgotten once more nodes
    /// are known than `max_peers` (possibly still listed after they linked again).
    idle: VecDeque<NodeId>,
    calls_made: u64,
    calls_failed: u64,
}

/// What the pool keeps per node, link or not: a [`Way`] per lane, and its counters.
#[derive(Debug, Default)]
struct Peer {
    ways: [Way; 2],
    counters: Counters,
}

impl Peer {
    fn way(&mut self, lane: Lane) -> &mut Way {
        &mut self.ways[lane.index()]
    }

    fn get(&self, lane: Lane) -> &Way {
        &self.ways[lane.index()]
    }

    /// No link, none awaited, nothing waiting: nothing is lost by forgetting it.
    fn is_idle(&self) -> bool {
        self.ways
            .iter()
            .all(|w| w.link.is_none() && w.waiting == 0 && w.expect_inbound.is_none())
    }
}

/// One lane of a node: its link and what waits for it.
#[derive(Debug, Default)]
struct Way {
    link: Option<LinkId>,
    /// Calls and notifications waiting for the link (or for room on it), in order. Calls
    /// that ended while waiting stay until they reach the front, and are skipped.
    queue: VecDeque<Queued>,
    /// Items in `queue` still waiting, and their size.
    waiting: usize,
    waiting_bytes: usize,
    /// The node refused our upgrade because it has a link to us: wait until then for it
    /// to register.
    expect_inbound: Option<Instant>,
}

impl Pool {
    /// A pool for `config.node`; `seed` determines every random choice of its links.
    pub fn new(config: Config, seed: Seed) -> Pool {
        Pool {
            config,
            rng: Rng::from_seed(seed),
            links: Slab::default(),
            peers: BTreeMap::new(),
            calls: BTreeMap::new(),
            next_call: 1,
            timers: Timers::default(),
            ready: VecDeque::new(),
            events: VecDeque::new(),
            observations: VecDeque::new(),
            shutdown: None,
            idle: VecDeque::new(),
            calls_made: 0,
            calls_failed: 0,
        }
    }

    /// The settings it was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls `method` on `node`: written at once on its open link, else queued for it (a
    /// link is opened if there is none). The call ends with [`Event::Response`] or
    /// [`Event::Ended`], after `timeout` (or `rpc.default_timeout`) at the latest.
    ///
    /// Refused, with nothing queued, if the node's queue is full, no link can be added
    /// (`max_links`), the pool is shutting down, or `params` is not an object or array.
    pub fn call(
        &mut self,
        now: Instant,
        node: NodeId,
        method: &str,
        params: Option<&RawValue>,
        timeout: Option<Duration>,
    ) -> Result<CallId, Refused> {
        self.call_on(now, node, Lane::Control, method, params, timeout)
    }

    /// [`call`](Self::call) on the node's link of `lane`: [`Lane::Bulk`] for a large
    /// message, so that it holds up nothing on the control link.
    pub fn call_on(
        &mut self,
        now: Instant,
        node: NodeId,
        lane: Lane,
        method: &str,
        params: Option<&RawValue>,
        timeout: Option<Duration>,
    ) -> Result<CallId, Refused> {
        self.check(node, lane, 0)?;
        let request = Request::new(method, params)?;
        self.call_request(now, node, lane, request, timeout)
    }

    /// [`call_on`](Self::call_on) with the request encoded beforehand
    /// ([`Request::new`]): the copy of the params, which takes time in proportion to their
    /// size, is done before, wherever the caller likes (outside a lock, say).
    pub fn call_request(
        &mut self,
        now: Instant,
        node: NodeId,
        lane: Lane,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<CallId, Refused> {
        self.check(node, lane, request.len())?;
        let id = CallId(self.next_call);
        self.next_call += 1;
        let deadline = now.checked_add(timeout.unwrap_or(self.config.rpc.default_timeout));
        let call = Call::new(node, lane, now, deadline, request);
        self.calls.insert(id, call);
        self.calls_made += 1;
        self.peer(node).counters.calls += 1;
        self.enqueue(now, node, lane, Queued::Call(id));
        Ok(id)
    }

    /// Sends a notification to `node`, on its link once open (see [`call`](Self::call)).
    pub fn notify(
        &mut self,
        now: Instant,
        node: NodeId,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<(), Refused> {
        let request = Request::new(method, params)?;
        self.notify_request(now, node, request)
    }

    /// [`notify`](Self::notify) with the request encoded beforehand.
    pub fn notify_request(
        &mut self,
        now: Instant,
        node: NodeId,
        request: Request,
    ) -> Result<(), Refused> {
        self.check(node, Lane::Control, request.len())?;
        self.enqueue(now, node, Lane::Control, Queued::Notify(request));
        Ok(())
    }

    /// Stops waiting for `call`: it ends without an event (a late answer is dropped).
    /// False if it had ended already.
    pub fn cancel(&mut self, now: Instant, call: CallId) -> bool {
        self.end_call(now, call, None)
    }

    /// Answers a request that came on `link`.
    pub fn respond(
        &mut self,
        now: Instant,
        link: LinkId,
        reply: ReplyTo,
        result: Result<&RawValue, &ErrorObject>,
    ) -> Result<(), RespondError> {
        let Some(l) = self.links.get_mut(link) else {
            return Err(RespondError::Closed);
        };
        l.serving = l.serving.saturating_sub(1);
        l.last_used = now;
        let Some(channel) = l.channel.as_mut() else {
            return Err(RespondError::Closed);
        };
        let result = channel.respond(now, reply, result);
        self.after(now, link);
        // The peer's last request answered while shutting down: nothing holds the link.
        self.close_if_done(now, link);
        result
    }

    /// The transport of a dialed `link` is connected: the upgrade `request` (host, path,
    /// headers) goes out; the pool adds its [`NODE_ID_HEADER`](super::NODE_ID_HEADER).
    pub fn transport_open(&mut self, now: Instant, link: LinkId, mut request: ClientRequest) {
        let seed = self.seed();
        let (ws, rpc) = (self.config.ws.clone(), self.config.rpc.clone());
        let node = self.config.node;
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        if l.phase != Phase::Dialing {
            return;
        }
        request
            .headers
            .push((super::NODE_ID_HEADER.to_owned(), node.0.to_string()));
        if let Some(lane) = l.lane.header_value() {
            request
                .headers
                .push((super::LANE_HEADER.to_owned(), lane.to_owned()));
        }
        match Channel::client(now, ws, rpc, request, seed) {
            Ok(channel) => {
                l.channel = Some(channel);
                l.phase = Phase::Handshaking;
                self.after(now, link);
            }
            Err(_) => self.transport_failed(now, link),
        }
    }

    /// The transport of `link` could not be opened, or failed: the link is over, at once,
    /// messages read but not yet taken included (no reply to them could be written).
    pub fn transport_failed(&mut self, now: Instant, link: LinkId) {
        self.transport_ended(now, link, true);
    }

    /// `lost`: the transport failed or was given up; otherwise the peer closed its write
    /// side, and messages it sent before are still taken first.
    fn transport_ended(&mut self, now: Instant, link: LinkId, lost: bool) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        match l.channel.as_mut() {
            // The channel ends its calls and says `Closed`, as for any lost transport.
            Some(channel) => {
                if lost {
                    channel.handle_transport_lost(now);
                } else {
                    channel.handle_eof(now);
                }
                self.after(now, link);
            }
            None => self.link_closed(now, link),
        }
    }

    /// `link`'s transport is gone for good (its socket failed): the link ends if it had
    /// not, and its bytes not yet taken are dropped with it.
    pub fn release(&mut self, now: Instant, link: LinkId) {
        self.transport_failed(now, link);
        if self
            .links
            .get(link)
            .is_some_and(|l| l.phase == Phase::Ended)
        {
            self.links.remove(link);
        }
    }

    /// A peer connected to us: a link for its transport, which names its node (if it is
    /// one) in the upgrade. Refused (drop the transport) past `max_links` or once shutting
    /// down.
    pub fn accept(&mut self, now: Instant) -> Result<LinkId, Refused> {
        if self.shutdown.is_some() {
            return Err(Refused::Closed);
        }
        if self.links.len() >= self.config.max_links {
            return Err(Refused::Busy(self.links.len()));
        }
        let seed = self.seed();
        // The lane is known at the upgrade.
        let mut l = Link::new(now, None, Lane::Control, false, self.config.connect_timeout);
        let channel = Channel::server(now, self.config.ws.clone(), self.config.rpc.clone(), seed);
        l.channel = Some(channel);
        let link = self.links.insert(l).ok_or(Refused::Busy(usize::MAX))?;
        self.after(now, link);
        Ok(link)
    }

    /// The owner's answer to the [`Event::Upgrade`] of `link` (see
    /// [`Config::hold_upgrades`](super::Config::hold_upgrades)). An answer for a link that
    /// ended meanwhile, or a second answer, is ignored.
    pub fn admit(&mut self, now: Instant, link: LinkId, admission: Admission) {
        self.admit_upgrade(now, link, admission);
        self.after(now, link);
    }

    /// Bytes read from `link`'s transport. Any byte is a sign of life.
    pub fn handle_input(&mut self, now: Instant, link: LinkId, data: &[u8]) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        let Some(channel) = l.channel.as_mut() else {
            return;
        };
        if let Some(beat) = l.beat.as_mut() {
            beat.on_input(now);
        }
        if let Some(node) = l.node {
            if let Some(peer) = self.peers.get_mut(&node) {
                peer.counters.bytes_in += data.len() as u64;
                peer.counters.last_seen = Some(now);
            }
        }
        channel.handle_input(now, data);
        self.after(now, link);
    }

    /// A message of `link` handed out with [`Event::Parse`], parsed.
    pub fn handle_parsed(&mut self, now: Instant, link: LinkId, parsed: Parsed) {
        let Some(channel) = self.links.get_mut(link).and_then(|l| l.channel.as_mut()) else {
            return;
        };
        channel.handle_parsed(now, parsed);
        self.after(now, link);
    }

    /// `link`'s peer closed its write side.
    pub fn handle_eof(&mut self, now: Instant, link: LinkId) {
        self.transport_ended(now, link, false);
    }

    /// Fires every deadline at or before `now`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, owner)) = self.timers.pop_due(now) {
            match owner {
                Owner::Link(link) => {
                    if self.links.get(link).is_some_and(|l| l.deadline == Some(at)) {
                        if let Some(l) = self.links.get_mut(link) {
                            l.deadline = None;
                        }
                        self.link_timeout(now, link);
                    }
                }
                Owner::Call(call) => {
                    let due = self.calls.get(&call).is_some_and(|c| c.waits_until(at));
                    if due {
                        self.end_call(now, call, Some(EndReason::TimedOut));
                    }
                }
                Owner::Node(node, lane) => {
                    let due = self
                        .peers
                        .get(&node)
                        .is_some_and(|p| p.get(lane).expect_inbound == Some(at));
                    if due {
                        self.inbound_never_came(now, node, lane);
                    }
                }
                Owner::Shutdown => {
                    if self.shutdown == Some(at) {
                        for link in self.links.ids() {
                            self.close_link(now, link, CloseCode::GOING_AWAY, "shutting down");
                        }
                    }
                }
            }
        }
        let live = self.links.len() + self.calls.len() + self.peers.len() + 1;
        let (links, calls, peers) = (&self.links, &self.calls, &self.peers);
        self.timers.compact(live, |at, owner| match owner {
            Owner::Link(link) => links.get(link).is_some_and(|l| l.deadline == Some(at)),
            Owner::Call(call) => calls.get(&call).is_some_and(|c| c.waits_until(at)),
            Owner::Node(node, lane) => peers
                .get(&node)
                .is_some_and(|p| p.get(lane).expect_inbound == Some(at)),
            Owner::Shutdown => true,
        });
    }

    /// Stops taking calls: calls still queued end with [`EndReason::Closed`], links with
    /// nothing in flight close at once (code 1001), the others once their calls and the
    /// peer's requests are answered, or `grace` from now at the latest.
    pub fn shutdown(&mut self, now: Instant, grace: Duration) {
        if self.shutdown.is_some() {
            return;
        }
        let at = now.checked_add(grace).unwrap_or(now);
        self.shutdown = Some(at);
        self.timers.push(at, Owner::Shutdown);
        let queued: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.is_waiting())
            .map(|(id, _)| *id)
            .collect();
        for call in queued {
            self.end_call(now, call, Some(EndReason::Closed));
        }
        for way in self.peers.values_mut().flat_map(|p| p.ways.iter_mut()) {
            way.queue.clear();
            way.waiting = 0;
            way.waiting_bytes = 0;
            way.expect_inbound = None;
        }
        for link in self.links.ids() {
            self.close_if_done(now, link);
        }
    }

    /// Shut down and every link gone.
    pub fn is_finished(&self) -> bool {
        self.shutdown.is_some() && self.links.len() == 0
    }

    /// Bytes to write to `link`'s transport, in order; `None` when there are none now.
    ///
    /// An ended link is forgotten as its last bytes are handed out: once
    /// [`is_link_finished`](Self::is_link_finished) says so, its driver may drop the
    /// transport without asking again.
    pub fn poll_transmit(&mut self, link: LinkId) -> Option<Bytes> {
        let l = self.links.get_mut(link)?;
        let bytes = l.channel.as_mut().and_then(Channel::poll_transmit);
        if let Some(b) = &bytes {
            if let Some(peer) = l.node.and_then(|n| self.peers.get_mut(&n)) {
                peer.counters.bytes_out += b.len() as u64;
            }
        }
        if l.phase == Phase::Ended && l.pending_transmit() == 0 {
            self.links.remove(link);
        }
        bytes
    }

    /// Bytes waiting for `link`'s transport.
    pub fn pending_transmit(&self, link: LinkId) -> usize {
        self.links.get(link).map_or(0, Link::pending_transmit)
    }

    /// A link that has bytes to write since it was last returned: each once per turn, so
    /// a driver wakes only the transports with something to do.
    pub fn poll_ready(&mut self) -> Option<LinkId> {
        while let Some(link) = self.ready.pop_front() {
            if let Some(l) = self.links.get_mut(link) {
                l.in_ready = false;
                return Some(link);
            }
        }
        None
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next thing measured, if [`Config::observe`] is on: drain it after every input,
    /// as events are, or it grows with the traffic.
    pub fn poll_observation(&mut self) -> Option<Observation> {
        self.observations.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Where `link`'s WebSocket is; [`ws::State::Closed`] once it is gone.
    pub fn link_state(&self, link: LinkId) -> ws::State {
        self.links
            .get(link)
            .and_then(|l| l.channel.as_ref())
            .map_or(ws::State::Closed, Channel::state)
    }

    /// Whether `link` is gone, or over with nothing left to write.
    pub fn is_link_finished(&self, link: LinkId) -> bool {
        self.links
            .get(link)
            .is_none_or(|l| l.phase == Phase::Ended && l.pending_transmit() == 0)
    }

    /// Whether `link`'s transport should be read: its channel holds less than its budget
    /// (see [`crate::budget`]); a link without a channel reads.
    pub fn wants_input(&self, link: LinkId) -> bool {
        self.links
            .get(link)
            .and_then(|l| l.channel.as_ref())
            .is_none_or(Channel::wants_input)
    }

    /// The peer's requests on `link` not answered yet: a driver stops reading a link at
    /// its bound, so the peer waits rather than our memory filling.
    pub fn serving(&self, link: LinkId) -> usize {
        self.links.get(link).map_or(0, |l| l.serving)
    }

    /// The node at the other end of `link`, if it named one.
    pub fn link_node(&self, link: LinkId) -> Option<NodeId> {
        self.links.get(link).and_then(|l| l.node)
    }

    /// The lane `link` carries (an accepted link's is known once its upgrade is read);
    /// `None` once it is gone.
    pub fn link_lane(&self, link: LinkId) -> Option<Lane> {
        self.links.get(link).map(|l| l.lane)
    }

    /// The nodes with an open control link now, in node order: whom a broadcast reaches.
    pub fn connected(&self) -> Vec<NodeId> {
        self.peers
            .iter()
            .filter(|(_, p)| {
                let link = p.get(Lane::Control).link;
                link.and_then(|l| self.links.get(l))
                    .is_some_and(Link::is_open)
            })
            .map(|(node, _)| *node)
            .collect()
    }

    /// Per-node and total counters.
    pub fn stats(&self) -> Stats {
        let peers = self
            .peers
            .iter()
            .map(|(node, peer)| {
                let in_flight = peer
                    .ways
                    .iter()
                    .filter_map(|w| w.link.and_then(|l| self.links.get(l)))
                    .map(|l| l.calls.len())
                    .sum();
                let queued = peer.ways.iter().map(|w| w.waiting).sum();
                let link = peer.get(Lane::Control).link;
                peer.counters.snapshot(*node, link, in_flight, queued)
            })
            .collect();
        Stats {
            peers,
            links: self.links.len(),
            calls: self.calls_made,
            failures: self.calls_failed,
        }
    }

    /// The state of `node`'s link.
    pub fn peer_state(&self, node: NodeId) -> PeerState {
        self.peers
            .get(&node)
            .map_or(PeerState::Idle, |p| p.counters.state)
    }

    fn seed(&mut self) -> Seed {
        let mut seed = [0u8; 32];
        self.rng.fill(&mut seed);
        seed
    }

    fn peer(&mut self, node: NodeId) -> &mut Peer {
        if !self.peers.contains_key(&node) && self.peers.len() >= self.max_peers() {
            self.forget_an_idle_peer();
        }
        self.peers.entry(node).or_default()
    }

    /// Nodes known at once. Peers that connect name any node id they like, so what the
    /// pool keeps per node is bounded: past this, the node idle the longest is forgotten
    /// (its stats with it). Nodes with a link or a waiting call are never forgotten, and
    /// links are bounded by `max_links`.
    fn max_peers(&self) -> usize {
        self.config.max_links.saturating_mul(2).max(64)
    }

    /// Forgets the node idle the longest, if one is idle (no link, nothing waiting).
    fn forget_an_idle_peer(&mut self) {
        while let Some(node) = self.idle.pop_front() {
            let idle = self.peers.get(&node).is_some_and(Peer::is_idle);
            if idle {
                self.peers.remove(&node);
                return;
            }
        }
    }

    /// One of `node`'s links closed: it may be idle now, or soon (its waiting calls
    /// ended), and so forgotten later; whether it is, is checked then.
    fn note_idle(&mut self, node: NodeId) {
        self.idle.push_back(node);
        // Entries of nodes that linked again stay until they surface; keep them from
        // piling up.
        if self.idle.len() > self.max_peers().saturating_mul(2) {
            let peers = &self.peers;
            self.idle
                .retain(|n| peers.get(n).is_some_and(Peer::is_idle));
        }
    }

    /// Keeps `observation` if asked to; built only then.
    fn observe(&mut self, observation: impl FnOnce() -> Observation) {
        if self.config.observe {
            self.observations.push_back(observation());
        }
    }

    fn set_state(&mut self, node: NodeId, state: PeerState) {
        let peer = self.peer(node);
        if peer.counters.state != state {
            peer.counters.state = state;
            self.events.push_back(Event::Peer { node, state });
        }
    }

    /// After anything touched `link`: its channel's events, its deadline, its bytes.
    fn after(&mut self, now: Instant, link: LinkId) {
        self.pump(now, link);
        let idle = self.config.idle_timeout;
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        let deadline = l.next_deadline(idle);
        if deadline != l.deadline {
            l.deadline = deadline;
            if let Some(at) = deadline {
                self.timers.push(at, Owner::Link(link));
            }
        }
        if l.pending_transmit() > 0 && !l.in_ready {
            l.in_ready = true;
            self.ready.push_back(link);
        }
        // Over with nothing to write: gone now (a stale entry in `ready` is skipped).
        if l.phase == Phase::Ended && l.pending_transmit() == 0 {
            self.links.remove(link);
        }
    }
}
