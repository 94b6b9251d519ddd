//! How a [`Session`] handles calls and notifications: checking them, writing them on the
//! open link or queueing them, matching answers, and ending each call exactly once.

use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::Session;
use crate::rpc::{ErrorObject, RequestId};
use crate::session::call::{Call, Place, Request};
use crate::session::queue::Item;
use crate::session::{CallId, EndReason, Event, Refused, State};
use crate::ws;

impl Session {
    pub(super) fn check_callable(&self, params: Option<&RawValue>) -> Result<(), Refused> {
        if self.closed {
            return Err(Refused::Closed);
        }
        if self.state == State::Failed {
            return Err(Refused::Failed);
        }
        match params.map(|p| p.get().as_bytes().first()) {
            None | Some(Some(b'{' | b'[')) => Ok(()),
            Some(_) => Err(Refused::InvalidParams),
        }
    }

    /// A link is open and taking new messages.
    pub(super) fn writable(&self) -> bool {
        !self.closed
            && self.link.as_ref().is_some_and(|link| {
                link.opened
                    && !link.ending
                    && link
                        .channel
                        .as_ref()
                        .is_some_and(|e| e.state() == ws::State::Open)
            })
    }

    /// A new call may be written at once: nothing waits before it and a slot is free.
    pub(super) fn has_room(&self) -> bool {
        self.writable() && self.queue.is_empty() && self.wire.len() < self.config.rpc.max_in_flight
    }

    /// Files a new call under a fresh id.
    pub(super) fn insert(
        &mut self,
        deadline: Option<Instant>,
        resends: u32,
        request: Option<Request>,
        place: Place,
    ) -> CallId {
        let id = CallId(self.next_call);
        self.next_call = self.next_call.saturating_add(1);
        let call = Call {
            deadline,
            resends,
            request,
            place,
        };
        self.calls.insert(id, call);
        if let Place::InFlight { wire, .. } = place {
            self.wire.insert(wire, id);
        }
        id
    }

    /// Writes a call on the current link; `None` if the link refused it.
    pub(super) fn write(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<&RawValue>,
    ) -> Option<Place> {
        let link = self.link.as_mut()?;
        let channel = link.channel.as_mut()?;
        // The session keeps the deadline: the channel's call never times out.
        let wire = channel
            .call(now, method, params, Some(Duration::MAX))
            .ok()?;
        self.counters.message(now, true);
        Some(Place::InFlight {
            wire,
            attempt: link.attempt,
            written_at: now,
        })
    }

    pub(super) fn write_notify(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<&RawValue>,
    ) -> bool {
        let Some(channel) = self.link.as_mut().and_then(|l| l.channel.as_mut()) else {
            return false;
        };
        if channel.notify(now, method, params).is_err() {
            return false;
        }
        self.counters.message(now, true);
        true
    }

    /// Writes queued items, in order, while the link takes them.
    pub(super) fn flush(&mut self, now: Instant) {
        while self.writable() {
            let calls = &self.calls;
            let item = self.queue.pop_front(|id| {
                let call = calls.get(&id).filter(|c| c.place == Place::Queued)?;
                Some(call.request.as_ref().map_or(0, |r| r.size))
            });
            let Some(item) = item else {
                return;
            };
            let written = match &item {
                Item::Call(id) => self.write_queued(now, *id),
                Item::Notify { method, params, .. } => {
                    #[cfg(feature = "mutants")]
                    if crate::mutants::on(crate::mutants::Mutant::DropQueued) {
                        continue;
                    }
                    #[cfg(feature = "mutants")]
                    if crate::mutants::on(crate::mutants::Mutant::DuplicateQueued) {
                        self.write_notify(now, method, params.as_deref());
                    }
                    self.write_notify(now, method, params.as_deref())
                }
            };
            if !written {
                let size = match &item {
                    Item::Call(id) => self.queued_size(*id),
                    Item::Notify { size, .. } => *size,
                };
                self.queue.unpop(item, size);
                return;
            }
        }
    }

    fn queued_size(&self, id: CallId) -> usize {
        self.calls
            .get(&id)
            .and_then(|call| call.request.as_ref())
            .map_or(0, |request| request.size)
    }

    /// Writes queued call `id` if a slot is free.
    fn write_queued(&mut self, now: Instant, id: CallId) -> bool {
        if self.wire.len() >= self.config.rpc.max_in_flight {
            return false;
        }
        // Take the request out while writing, so the call table is not borrowed.
        let Some(request) = self.calls.get_mut(&id).and_then(|c| c.request.take()) else {
            return false;
        };
        let place = self.write(now, &request.method, request.params.as_deref());
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        match place {
            Some(place) => {
                if call.resends > 0 {
                    call.request = Some(request);
                }
                call.place = place;
                if let Place::InFlight { wire, .. } = place {
                    self.wire.insert(wire, id);
                }
                true
            }
            None => {
                call.request = Some(request);
                false
            }
        }
    }

    pub(super) fn on_response(
        &mut self,
        now: Instant,
        wire: RequestId,
        result: Result<Box<RawValue>, ErrorObject>,
    ) {
        self.counters.message(now, false);
        let Some(id) = self.wire.remove(&wire) else {
            return;
        };
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if let Place::InFlight { written_at, .. } = call.place {
            self.counters
                .latency
                .record(now.saturating_duration_since(written_at));
        }
        self.events.push_back(Event::Response { id, result });
    }

    /// Ends a call already taken out of the table, wherever it was.
    pub(super) fn end_removed(&mut self, now: Instant, id: CallId, call: Call, reason: EndReason) {
        match call.place {
            Place::Queued => {
                let size = call.request.as_ref().map_or(0, |r| r.size);
                let calls = &self.calls;
                self.queue.forget(size, |item| match item {
                    Item::Call(id) => calls.get(id).is_some_and(|c| c.place == Place::Queued),
                    Item::Notify { .. } => true,
                });
            }
            Place::InFlight { wire, attempt, .. } => {
                self.wire.remove(&wire);
                if let Some(link) = self.link.as_mut().filter(|l| l.attempt == attempt) {
                    if let Some(channel) = link.channel.as_mut() {
                        channel.cancel(now, wire);
                    }
                }
            }
        }
        self.events.push_back(Event::Ended { id, reason });
    }

    /// Every call in flight on the current link lost it: resendable ones go back to the
    /// front of the queue in submission order, the others end.
    pub(super) fn lose_in_flight(&mut self) {
        let mut lost: Vec<CallId> = std::mem::take(&mut self.wire).into_values().collect();
        lost.sort_unstable();
        let mut requeued = Vec::new();
        for id in lost {
            let resend = !self.closed
                && self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.resends > 0 && c.request.is_some());
            if resend {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.resends -= 1;
                    call.place = Place::Queued;
                    requeued.push((id, call.request.as_ref().map_or(0, |r| r.size)));
                }
            } else if self.calls.remove(&id).is_some() {
                self.events.push_back(Event::Ended {
                    id,
                    reason: EndReason::ConnectionLost { sent: true },
                });
            }
        }
        for (id, size) in requeued.into_iter().rev() {
            self.queue.push_front(id, size);
        }
    }

    /// Ends every queued call with `reason`, in queue order; queued notifications are dropped.
    pub(super) fn end_queued(&mut self, reason: EndReason) {
        let items: Vec<Item> = self.queue.drain().collect();
        for item in items {
            let Item::Call(id) = item else {
                continue;
            };
            let queued = self
                .calls
                .get(&id)
                .is_some_and(|c| c.place == Place::Queued);
            if queued && self.calls.remove(&id).is_some() {
                self.events.push_back(Event::Ended { id, reason });
            }
        }
    }
}
