//! A link's life in the pool: opened, upgraded (and registered under the node its peer
//! names), open, and closed; the events of its channel; its timers.

use std::time::Instant;

use bytes::Bytes;

use super::{Admission, Event, LinkId, NodeId, PeerState, Pool};
use crate::frame::CloseCode;
use crate::handshake::{HandshakeError, Request as UpgradeRequest};
use crate::heartbeat::{Beat, Due};
use crate::pool::link::{Link, Phase};
use crate::pool::timers::Owner;
use crate::pool::{Fault, Lane, Observation, LANE_HEADER, NODE_ID_HEADER};
use crate::rpc::{self, EndReason, Refused};
use crate::ws::{CloseInfo, ProtocolError};

/// How an accepted upgrade is answered.
enum Verdict {
    /// Accept; register the link as `node`'s of that lane (`None`: a client that named
    /// no node).
    Accept(Option<NodeId>, Lane),
    /// Refuse with this HTTP status.
    Refuse(u16),
}

/// The status that tells a dialing node we hold a link to it already, dialed by us.
pub(crate) const ALREADY_LINKED: u16 = 409;

impl Pool {
    /// A new dialed link to `node`, which becomes its link of `lane`.
    pub(super) fn open_link(
        &mut self,
        now: Instant,
        node: NodeId,
        lane: Lane,
    ) -> Result<LinkId, Refused> {
        if self.links.len() >= self.config.max_links {
            return Err(Refused::Busy(self.links.len()));
        }
        let l = Link::new(now, Some(node), lane, true, self.config.connect_timeout);
        let link = self.links.insert(l).ok_or(Refused::Busy(usize::MAX))?;
        self.peer(node).way(lane).link = Some(link);
        self.lane_state(node, lane, PeerState::Connecting);
        self.events.push_back(Event::Connect { link, node });
        self.after(now, link);
        Ok(link)
    }

    /// Takes every event of `link`'s channel.
    pub(super) fn pump(&mut self, now: Instant, link: LinkId) {
        loop {
            let Some(l) = self.links.get_mut(link) else {
                return;
            };
            let Some(event) = l.channel.as_mut().and_then(|c| c.poll_event()) else {
                return;
            };
            let node = l.node;
            match event {
                rpc::Event::Upgrade(request) if self.config.hold_upgrades => {
                    l.upgrade = Some(request.clone());
                    self.events.push_back(Event::Upgrade { link, request });
                }
                rpc::Event::Upgrade(request) => self.upgrade(now, link, &request),
                rpc::Event::Open { .. } => self.opened(now, link),
                rpc::Event::Response { id, result } => {
                    if let Some(call) = l.calls.remove(&id) {
                        l.last_used = now;
                        self.answered(now, call, result);
                    }
                    self.flush_link(now, link);
                }
                rpc::Event::Ended { id, reason } => {
                    if let Some(call) = l.calls.remove(&id) {
                        self.end_call(now, call, Some(reason));
                    }
                    self.flush_link(now, link);
                }
                rpc::Event::Request {
                    reply,
                    method,
                    params,
                } => {
                    l.serving += 1;
                    l.last_used = now;
                    self.events.push_back(Event::Request {
                        link,
                        node,
                        reply,
                        method,
                        params,
                    });
                }
                rpc::Event::Notification { method, params } => {
                    l.last_used = now;
                    self.events.push_back(Event::Notification {
                        link,
                        node,
                        method,
                        params,
                    });
                }
                rpc::Event::Pong(payload) => self.pong(now, link, &payload),
                rpc::Event::Parse(unparsed) => {
                    self.events.push_back(Event::Parse { link, unparsed });
                }
                rpc::Event::Invalid(_) => {}
                rpc::Event::WsError(error) => {
                    if let ProtocolError::Handshake(HandshakeError::BadStatus(status)) = &error {
                        l.refused = Some(*status);
                    }
                    l.fault.get_or_insert(Fault::Protocol(error));
                }
                rpc::Event::Closed(info) => self.channel_closed(now, link, &info),
            }
        }
    }

    /// The owner's answer to an upgrade it holds: accepted as the pool decides, or
    /// refused or answered as the owner says.
    pub(super) fn admit_upgrade(&mut self, now: Instant, link: LinkId, admission: Admission) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        // Answered already, or the link ended meanwhile (its connect timeout).
        let Some(request) = l.upgrade.take() else {
            return;
        };
        let Some(channel) = l.channel.as_mut() else {
            return;
        };
        match admission {
            Admission::Accept => self.upgrade(now, link, &request),
            Admission::Reject(status) => {
                let _ = channel.reject(now, status);
            }
            Admission::Answer(response) => {
                if channel.answer_http(now, &response).is_err() {
                    // An answer that cannot be written: the owner's fault, not the peer's.
                    let _ = channel.reject(now, 500);
                }
            }
        }
    }

    /// Decides an accepted link's upgrade from the node it names.
    fn upgrade(&mut self, now: Instant, link: LinkId, request: &UpgradeRequest) {
        let verdict = self.verdict(request);
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        let Some(channel) = l.channel.as_mut() else {
            return;
        };
        let (node, lane) = match verdict {
            Verdict::Refuse(status) => {
                let _ = channel.reject(now, status);
                return;
            }
            Verdict::Accept(node, lane) => (node, lane),
        };
        if channel.accept(now, None, &[]).is_err() {
            return;
        }
        l.node = node;
        l.lane = lane;
        let Some(node) = node else {
            return;
        };
        // The peer's link replaces whatever we had: ours was dialed by the higher id (or is
        // an older link of the peer's that it gave up on).
        if let Some(old) = self.peer(node).way(lane).link.replace(link) {
            self.drop_replaced(now, old);
        }
        self.lane_state(node, lane, PeerState::Connecting);
    }

    fn verdict(&mut self, request: &UpgradeRequest) -> Verdict {
        if self.shutdown.is_some() {
            return Verdict::Refuse(503);
        }
        let Some(lane) = Lane::from_header(request.header(LANE_HEADER)) else {
            return Verdict::Refuse(400);
        };
        let Some(value) = request.header(NODE_ID_HEADER) else {
            return Verdict::Accept(None, lane);
        };
        let node = match std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
            Some(node) if node != self.config.node => node,
            _ => return Verdict::Refuse(400),
        };
        let ours = self
            .peers
            .get(&node)
            .and_then(|p| p.get(lane).link)
            .and_then(|link| self.links.get(link))
            .is_some_and(|l| l.dialed && l.phase != Phase::Ended);
        // Two nodes dialing each other at once: the lower id's dial is the link.
        if ours && self.config.node < node {
            Verdict::Refuse(ALREADY_LINKED)
        } else {
            Verdict::Accept(Some(node), lane)
        }
    }

    /// A link replaced by the peer's newer one: before it opened it holds nothing and just
    /// goes; once open its calls in flight end as it closes.
    fn drop_replaced(&mut self, now: Instant, old: LinkId) {
        let Some(l) = self.links.get_mut(old) else {
            return;
        };
        l.node = None;
        match l.phase {
            Phase::Dialing | Phase::Handshaking => {
                self.links.remove(old);
                self.events.push_back(Event::Disconnect { link: old });
            }
            Phase::Open => self.close_link(now, old, CloseCode::NORMAL, "replaced"),
            Phase::Ended => {}
        }
    }

    fn opened(&mut self, now: Instant, link: LinkId) {
        let heartbeat = self.config.heartbeat;
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        l.phase = Phase::Open;
        l.last_used = now;
        l.beat = heartbeat.map(|config| Beat::new(config, now));
        let (node, lane, dialed) = (l.node, l.lane, l.dialed);
        let reconnect = node.is_some_and(|node| {
            let peer = self.peer(node);
            peer.counters.links_opened += 1;
            peer.counters.links_opened > 1
        });
        self.observe(|| Observation::LinkOpened {
            link,
            node,
            lane,
            dialed,
            reconnect,
        });
        let Some(node) = node else {
            return;
        };
        let peer = self.peer(node);
        peer.way(lane).expect_inbound = None;
        self.lane_state(node, lane, PeerState::Up);
        self.flush(now, node, lane);
        self.close_if_done(now, link);
    }

    fn pong(&mut self, now: Instant, link: LinkId, payload: &Bytes) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        let rtt = l.beat.as_mut().and_then(|b| b.on_pong(now, payload));
        let lane = l.lane;
        if let (Some(rtt), Some(node)) = (rtt, l.node) {
            self.peer(node).counters.rtt.record(rtt);
            self.observe(|| Observation::RoundTrip { node, lane, rtt });
        }
    }

    /// The channel said `Closed`: every call on it has ended. The node loses its link.
    fn channel_closed(&mut self, now: Instant, link: LinkId, info: &CloseInfo) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        if l.phase == Phase::Open && !info.clean && l.fault.is_none() {
            l.fault = Some(Fault::Lost);
        }
        self.link_closed(now, link);
    }

    /// `link` is over: its node loses it, its calls waiting for it end or wait for the
    /// next, and the driver drops its transport once its last bytes are taken.
    pub(super) fn link_closed(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        if l.phase == Phase::Ended {
            return;
        }
        let opened = l.phase == Phase::Open;
        l.phase = Phase::Ended;
        l.beat = None;
        let (node, lane, refused) = (l.node, l.lane, l.refused);
        let fault = match (opened, l.fault.take()) {
            (_, Some(Fault::Protocol(ProtocolError::Handshake(HandshakeError::BadStatus(s))))) => {
                Some(Fault::Refused(s))
            }
            (false, Some(Fault::Protocol(_)) | None) => Some(Fault::Unreachable),
            (_, fault) => fault,
        };
        // A link we gave up on goes with its backlog: written late, it would keep the peer
        // taking the link for a live one (and refusing our next dial) while it trickles in.
        if l.channel.is_none() || l.pending_transmit() == 0 || l.abandoned {
            self.links.remove(link);
        }
        self.events.push_back(Event::Disconnect { link });
        self.observe(|| Observation::LinkClosed {
            link,
            node,
            lane,
            // The peer's own link to us is on its way: not a failure.
            fault: fault.clone().filter(|_| refused != Some(ALREADY_LINKED)),
        });
        let Some(node) = node else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&node) else {
            return;
        };
        if peer.get(lane).link != Some(link) {
            return;
        }
        peer.way(lane).link = None;
        if fault.is_some() && refused != Some(ALREADY_LINKED) {
            peer.counters.last_error.clone_from(&fault);
        }
        let state = if refused == Some(ALREADY_LINKED) {
            // Not a failure: the peer's own link to us is on its way.
            PeerState::Connecting
        } else if fault.is_some() {
            PeerState::Down
        } else {
            PeerState::Idle
        };
        self.lane_state(node, lane, state);
        self.note_idle(node);
        if self.shutdown.is_some() {
            return;
        }
        if refused == Some(ALREADY_LINKED) {
            // The peer holds a link it dialed to us: our calls wait for it to register.
            let at = now.checked_add(self.config.connect_timeout).unwrap_or(now);
            self.peer(node).way(lane).expect_inbound = Some(at);
            self.timers.push(at, Owner::Node(node, lane));
        } else if !opened {
            self.end_queued(now, node, lane, EndReason::Unreachable);
        } else if self.peer(node).get(lane).waiting > 0 {
            // Calls still wait (there was no room on the lost link): a new link for them.
            if self.open_link(now, node, lane).is_err() {
                self.end_queued(now, node, lane, EndReason::Unreachable);
            }
        }
    }

    /// The peer said it had a link of `lane` to us, and none came in time: its dial failed,
    /// or it gave up on it. The calls still waiting were never tried on a link of ours, so
    /// we dial for them; they end `Unreachable` only if that dial fails too.
    pub(super) fn inbound_never_came(&mut self, now: Instant, node: NodeId, lane: Lane) {
        let way = self.peer(node).way(lane);
        way.expect_inbound = None;
        let dial = way.waiting > 0 && way.link.is_none();
        if dial && self.open_link(now, node, lane).is_ok() {
            return;
        }
        self.end_queued(now, node, lane, EndReason::Unreachable);
        self.lane_state(node, lane, PeerState::Down);
        self.peer(node).counters.last_error = Some(Fault::Unreachable);
        self.note_idle(node);
    }

    /// A node's state follows its control link; the bulk link comes and goes unseen.
    fn lane_state(&mut self, node: NodeId, lane: Lane, state: PeerState) {
        if lane == Lane::Control {
            self.set_state(node, state);
        }
    }

    /// One of `link`'s deadlines passed: connect, channel, heartbeat or idle.
    pub(super) fn link_timeout(&mut self, now: Instant, link: LinkId) {
        let idle = self.config.idle_timeout;
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        let connecting = matches!(l.phase, Phase::Dialing | Phase::Handshaking);
        if connecting && l.connect_by.is_some_and(|at| at <= now) {
            l.fault = Some(Fault::Unreachable);
            l.abandoned = true;
            match l.channel.as_mut() {
                Some(channel) => channel.handle_transport_lost(now),
                None => {
                    self.link_closed(now, link);
                    return;
                }
            }
        }
        if let Some(channel) = l.channel.as_mut() {
            channel.handle_timeout(now);
        }
        while let Some(beat) = l.beat.as_mut() {
            match beat.due(now) {
                Due::Nothing => break,
                Due::Ping(payload) => {
                    if let Some(channel) = l.channel.as_mut() {
                        let _ = channel.ping(now, Bytes::copy_from_slice(&payload));
                    }
                    // The new ping is among the unanswered: any other was missed.
                    let missed = beat.unanswered().saturating_sub(1);
                    if missed > 0 && self.config.observe {
                        self.observations.push_back(Observation::HeartbeatMissed {
                            link,
                            node: l.node,
                            unanswered: missed,
                        });
                    }
                }
                Due::Dead => {
                    l.beat = None;
                    l.fault = Some(Fault::Silent);
                    l.abandoned = true;
                    if let Some(channel) = l.channel.as_mut() {
                        channel.handle_transport_lost(now);
                    }
                }
            }
        }
        if l.idle_at(idle).is_some_and(|at| at <= now) {
            self.close_link(now, link, CloseCode::NORMAL, "idle");
        }
        self.after(now, link);
    }

    /// Starts `link`'s closing handshake (or drops it, if it never opened).
    pub(super) fn close_link(&mut self, now: Instant, link: LinkId, code: CloseCode, why: &str) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        match l.phase {
            Phase::Open | Phase::Handshaking if l.channel.is_some() => {
                if let Some(channel) = l.channel.as_mut() {
                    if channel.close(now, code, why).is_err() {
                        channel.handle_transport_lost(now);
                    }
                }
                self.after(now, link);
            }
            Phase::Ended => {}
            _ => self.link_closed(now, link),
        }
    }

    /// While shutting down: closes `link` once nothing is under way on it.
    pub(super) fn close_if_done(&mut self, now: Instant, link: LinkId) {
        if self.shutdown.is_none() {
            return;
        }
        let quiet = self.links.get(link).is_some_and(Link::is_quiet);
        if quiet {
            self.close_link(now, link, CloseCode::GOING_AWAY, "shutting down");
        }
    }
}
