//! Calls through the pool: each waits in its node's queue until the node's link is open
//! and has room, goes out on it, and ends exactly once.

use std::time::Instant;

use serde_json::value::RawValue;

use super::{Event, Lane, LinkId, NodeId, Pool};
use crate::pool::timers::Owner;
use crate::pool::{CallOutcome, Observation};
use crate::rpc::{EndReason, ErrorObject, Refused, Request, RequestId};
use crate::session::CallId;

/// One call until it ends.
#[derive(Debug)]
pub(super) struct Call {
    node: NodeId,
    lane: Lane,
    started: Instant,
    deadline: Option<Instant>,
    state: State,
}

#[derive(Debug)]
enum State {
    /// In its node's queue, encoded but for its id.
    Waiting(Request),
    /// Being handed to its link's channel (only inside `flush`).
    Sending,
    /// Written on `link` with this request id.
    Written { link: LinkId, request: RequestId },
}

impl Call {
    pub(super) fn new(
        node: NodeId,
        lane: Lane,
        now: Instant,
        deadline: Option<Instant>,
        request: Request,
    ) -> Call {
        Call {
            node,
            lane,
            started: now,
            deadline,
            state: State::Waiting(request),
        }
    }

    pub(super) fn is_waiting(&self) -> bool {
        matches!(self.state, State::Waiting(_))
    }

    /// Waits in a queue, with this deadline.
    pub(super) fn waits_until(&self, at: Instant) -> bool {
        self.is_waiting() && self.deadline == Some(at)
    }

    fn size(&self) -> usize {
        match &self.state {
            State::Waiting(request) => request.len(),
            State::Sending | State::Written { .. } => 0,
        }
    }
}

/// One item of a node's queue.
#[derive(Debug)]
pub(super) enum Queued {
    /// A call; its request is in the call table (gone if it ended while waiting).
    Call(CallId),
    /// A notification, encoded.
    Notify(Request),
}

impl Pool {
    /// Why a call or notification to `node` cannot be taken, if it cannot.
    pub(super) fn check(&self, node: NodeId, lane: Lane, size: usize) -> Result<(), Refused> {
        if self.shutdown.is_some() {
            return Err(Refused::Closed);
        }
        let limits = self.config.queue;
        let (waiting, bytes, has_link) =
            self.peers
                .get(&node)
                .map(|p| p.get(lane))
                .map_or((0, 0, false), |w| {
                    (
                        w.waiting,
                        w.waiting_bytes,
                        w.link.is_some() || w.expect_inbound.is_some(),
                    )
                });
        if waiting >= limits.max_messages || bytes.saturating_add(size) > limits.max_bytes {
            return Err(Refused::QueueFull {
                messages: waiting,
                bytes,
            });
        }
        if !has_link && self.links.len() >= self.config.max_links {
            return Err(Refused::Busy(self.links.len()));
        }
        Ok(())
    }

    /// Queues `item` for `node`'s `lane` and sees it out: at once if the link is open,
    /// else once a link (opened now if there is none) opens.
    pub(super) fn enqueue(&mut self, now: Instant, node: NodeId, lane: Lane, item: Queued) {
        let (bytes, deadline) = match &item {
            Queued::Call(call) => {
                let call = self.calls.get(call);
                (call.map_or(0, Call::size), call.and_then(|c| c.deadline))
            }
            Queued::Notify(request) => (request.len(), None),
        };
        if let (Queued::Call(call), Some(at)) = (&item, deadline) {
            self.timers.push(at, Owner::Call(*call));
        }
        let way = self.peer(node).way(lane);
        way.queue.push_back(item);
        way.waiting += 1;
        way.waiting_bytes += bytes;
        if way.link.is_none() && way.expect_inbound.is_none() {
            // `check` made sure there is room for the link.
            if self.open_link(now, node, lane).is_err() {
                self.end_queued(now, node, lane, EndReason::Unreachable);
            }
            return;
        }
        self.flush(now, node, lane);
    }

    /// Writes what `node`'s queue of `lane` holds to its open link, in order, while the
    /// link takes calls.
    pub(super) fn flush(&mut self, now: Instant, node: NodeId, lane: Lane) {
        let Some(link) = self.peers.get(&node).and_then(|p| p.get(lane).link) else {
            return;
        };
        if !self.links.get(link).is_some_and(|l| l.is_open()) {
            return;
        }
        let mut failed = None;
        loop {
            let Some(peer) = self.peers.get_mut(&node) else {
                return;
            };
            let peer = peer.way(lane);
            let Some(item) = peer.queue.pop_front() else {
                break;
            };
            let Some(l) = self.links.get_mut(link) else {
                return;
            };
            let Some(channel) = l.channel.as_mut() else {
                return;
            };
            match item {
                Queued::Notify(request) => {
                    if !channel.takes_requests() {
                        peer.queue.push_front(Queued::Notify(request));
                        break;
                    }
                    peer.waiting -= 1;
                    peer.waiting_bytes = peer.waiting_bytes.saturating_sub(request.len());
                    // Just checked: the channel takes it.
                    let _ = channel.notify_request(now, request);
                }
                Queued::Call(id) => {
                    // Ended while waiting: it no longer counts.
                    let Some(call) = self.calls.get_mut(&id) else {
                        continue;
                    };
                    if !call.is_waiting() {
                        continue;
                    }
                    if !channel.takes_calls() {
                        // No room under `max_in_flight` (or the link is closing): it waits
                        // for an answer to make room, or for the next link.
                        peer.queue.push_front(Queued::Call(id));
                        break;
                    }
                    let size = call.size();
                    let timeout = call.deadline.map(|at| at.saturating_duration_since(now));
                    let State::Waiting(request) =
                        std::mem::replace(&mut call.state, State::Sending)
                    else {
                        continue;
                    };
                    peer.waiting -= 1;
                    peer.waiting_bytes = peer.waiting_bytes.saturating_sub(size);
                    match channel.call_request(now, request, timeout) {
                        Ok(request) => {
                            call.state = State::Written { link, request };
                            l.calls.insert(request, id);
                            l.last_used = now;
                        }
                        // Just checked that it takes calls: cannot happen, and if it did
                        // the call must still end once.
                        Err(_) => {
                            failed = Some(id);
                            break;
                        }
                    }
                }
            }
        }
        if let Some(id) = failed {
            self.end_call(now, id, Some(EndReason::ConnectionLost { sent: false }));
        }
        self.after(now, link);
    }

    /// After an answer on `link` made room: more of its node's queue goes out.
    pub(super) fn flush_link(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get(link) else {
            return;
        };
        if let (Some(node), lane) = (l.node, l.lane) {
            let waits = self.peers.get(&node).map(|p| p.get(lane));
            if waits.is_some_and(|w| w.link == Some(link) && w.waiting > 0) {
                self.flush(now, node, lane);
            }
        }
        self.close_if_done(now, link);
    }

    /// The answer to `call` came.
    pub(super) fn answered(
        &mut self,
        now: Instant,
        call: CallId,
        result: Result<Box<RawValue>, ErrorObject>,
    ) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        let latency = now.saturating_duration_since(c.started);
        self.peer(c.node).counters.latency.record(latency);
        let outcome = match result {
            Ok(_) => CallOutcome::Answered,
            Err(_) => CallOutcome::Error,
        };
        self.observe(|| Observation::CallEnded {
            node: c.node,
            lane: c.lane,
            latency,
            outcome,
        });
        self.events.push_back(Event::Response {
            call,
            node: c.node,
            result,
        });
    }

    /// Ends `call` with `reason` (an event), or silently (`None`: cancelled by its owner).
    /// False if it had ended already.
    pub(super) fn end_call(
        &mut self,
        now: Instant,
        call: CallId,
        reason: Option<EndReason>,
    ) -> bool {
        let Some(c) = self.calls.remove(&call) else {
            return false;
        };
        let size = c.size();
        match c.state {
            State::Waiting(_) => {
                let way = self.peer(c.node).way(c.lane);
                way.waiting = way.waiting.saturating_sub(1);
                way.waiting_bytes = way.waiting_bytes.saturating_sub(size);
            }
            State::Written { link, request } => {
                if let Some(l) = self.links.get_mut(link) {
                    l.calls.remove(&request);
                    if reason.is_none() {
                        if let Some(channel) = l.channel.as_mut() {
                            channel.cancel(now, request);
                        }
                    }
                }
                self.after(now, link);
            }
            // Already out of the queue's counts.
            State::Sending => {}
        }
        self.observe(|| Observation::CallEnded {
            node: c.node,
            lane: c.lane,
            latency: now.saturating_duration_since(c.started),
            outcome: CallOutcome::Ended(reason.unwrap_or(EndReason::Cancelled)),
        });
        if let Some(reason) = reason {
            self.calls_failed += 1;
            self.peer(c.node).counters.failures += 1;
            self.events.push_back(Event::Ended {
                call,
                node: c.node,
                reason,
            });
        }
        true
    }

    /// Ends every call waiting in `node`'s queue of `lane` with `reason`, and drops its
    /// notifications.
    pub(super) fn end_queued(&mut self, now: Instant, node: NodeId, lane: Lane, reason: EndReason) {
        let queue = std::mem::take(&mut self.peer(node).way(lane).queue);
        for item in queue {
            if let Queued::Call(call) = item {
                self.end_call(now, call, Some(reason));
            }
        }
        let way = self.peer(node).way(lane);
        way.waiting = 0;
        way.waiting_bytes = 0;
    }
}
