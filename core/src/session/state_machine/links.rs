//! How a [`Session`] keeps its link: asking for a transport, dropping it, the backoff
//! between attempts, giving up, the heartbeat, and what the link's channel reports.
//! (The [`Link`](crate::session::Link) view a driver holds is in `session/link.rs`.)

use std::time::Instant;

use bytes::Bytes;

use super::{LinkSlot, Session};
use crate::frame::CloseCode;
use crate::heartbeat::{Beat, Due};
use crate::rpc::{self, Channel, ErrorObject};
use crate::session::{later, Attempt, EndReason, Event, State};

/// An abandoned link's last bytes (a heartbeat close frame) are handed out only if this
/// little is pending: a dead link is not worth encoding a backlog for.
const MAX_FAREWELL_BYTES: usize = 4 << 10;

impl Session {
    /// Asks for a new transport, dropping an ending one first.
    pub(super) fn connect(&mut self, now: Instant) {
        if self.link.is_some() {
            self.abandon(now, false);
        }
        // Last bytes of an older link can no longer be written anywhere.
        self.farewell.clear();
        self.attempt_error = None;
        let attempt = Attempt(self.next_attempt);
        self.next_attempt = self.next_attempt.saturating_add(1);
        self.link = Some(LinkSlot {
            attempt,
            channel: None,
            connect_deadline: later(now, self.config.connect_timeout),
            opened: false,
            up_since: None,
            beat: None,
            ending: false,
        });
        self.events.push_back(Event::Connect { attempt });
    }

    /// Drops the current link: its transport goes ([`Event::Disconnect`]), calls in flight
    /// on it are lost. With `farewell`, what it still has to write (a close frame) is
    /// handed out first, if it is little.
    pub(super) fn abandon(&mut self, now: Instant, farewell: bool) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        if let Some(mut channel) = link.channel.take() {
            if farewell && channel.connection().pending_transmit() <= MAX_FAREWELL_BYTES {
                while let Some(bytes) = channel.poll_transmit() {
                    self.farewell.push_back((link.attempt, bytes));
                }
            }
        }
        self.stop_uptime(&mut link, now);
        self.events.push_back(Event::Disconnect {
            attempt: link.attempt,
        });
        self.lose_in_flight();
    }

    fn stop_uptime(&mut self, link: &mut LinkSlot, now: Instant) {
        if let Some(since) = link.up_since.take() {
            let up = now.saturating_duration_since(since);
            let total = &mut self.counters.closed_links_uptime;
            *total = total.saturating_add(up);
        }
    }

    /// The current transport failed or ended before the session was done with it.
    pub(super) fn link_failed(&mut self, now: Instant) {
        let Some(link) = &self.link else {
            return;
        };
        let (opened, ending) = (link.opened, link.ending);
        self.abandon(now, false);
        if self.closed {
            self.set_state(State::Disconnected);
        } else if !opened {
            self.attempt_failed(now);
        } else if !ending {
            self.schedule_reconnect(now);
        }
        // Opened and ending: the reconnect was scheduled when its WebSocket closed.
    }

    fn attempt_failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.counters.error();
        self.schedule_reconnect(now);
    }

    /// Waits out the backoff before the next attempt, or gives up after `max_attempts`.
    fn schedule_reconnect(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if let Some(max) = self.config.backoff.max_attempts {
            if self.failures >= max {
                self.give_up();
                return;
            }
        }
        // k = the consecutive failed attempts; a lost open link (k = 0) waits d_1 as well.
        let delay = self
            .config
            .backoff
            .delay(self.failures.max(1), &mut self.rng);
        // A wait too long for `Instant` is forever: the session stays Reconnecting.
        self.backoff_at = later(now, delay);
        self.set_state(if self.ever_connected {
            State::Reconnecting
        } else {
            State::Connecting
        });
    }

    fn give_up(&mut self) {
        self.backoff_at = None;
        self.set_state(State::Failed);
        self.end_queued(EndReason::Failed);
    }

    /// Drops an ending link whose channel is finished; finishes a close.
    pub(super) fn settle(&mut self, now: Instant) {
        let finished = self.link.as_ref().is_some_and(|link| {
            link.ending && link.channel.as_ref().is_none_or(Channel::is_finished)
        });
        if finished {
            self.abandon(now, false);
            if self.closed {
                self.set_state(State::Disconnected);
            }
        }
    }

    pub(super) fn after_input(&mut self, now: Instant) {
        self.pump(now);
        self.flush(now);
        self.settle(now);
    }

    /// Handles what the current link's channel reported.
    pub(super) fn pump(&mut self, now: Instant) {
        loop {
            let event = self
                .link
                .as_mut()
                .and_then(|link| link.channel.as_mut())
                .and_then(Channel::poll_event);
            match event {
                Some(event) => self.on_link_event(now, event),
                None => break,
            }
        }
    }

    fn on_link_event(&mut self, now: Instant, event: rpc::Event) {
        match event {
            // A session's channels parse every message themselves (`parse_aside` is off);
            // were one handed out, it is parsed here.
            rpc::Event::Parse(unparsed) => {
                if let Some(channel) = self.link.as_mut().and_then(|l| l.channel.as_mut()) {
                    channel.handle_parsed(now, unparsed.parse());
                }
            }
            rpc::Event::Open { .. } => self.on_open(now),
            rpc::Event::Response { id, result } => self.on_response(now, id, result),
            rpc::Event::Ended { id, reason } => match reason {
                // Every lost call is handled at `Closed`, in submission order.
                rpc::EndReason::ConnectionLost { .. } => {}
                // Our own cancels: already unmapped. The channel's deadlines never fire.
                rpc::EndReason::Cancelled | rpc::EndReason::TimedOut => {
                    self.wire.remove(&id);
                }
                // A channel never ends a call so; only a session or a pool does.
                rpc::EndReason::Failed | rpc::EndReason::Closed | rpc::EndReason::Unreachable => {}
            },
            rpc::Event::Request { reply, .. } => {
                self.counters.message(now, false);
                if let Some(channel) = self.link.as_mut().and_then(|l| l.channel.as_mut()) {
                    let error = ErrorObject::method_not_found();
                    // Closing: the server gets no answer, and needs none.
                    let _ = channel.respond(now, reply, Err(&error));
                }
            }
            rpc::Event::Notification { method, params } => {
                self.counters.message(now, false);
                self.events
                    .push_back(Event::Notification { method, params });
            }
            rpc::Event::Pong(payload) => {
                let rtt = self
                    .link
                    .as_mut()
                    .and_then(|link| link.beat.as_mut())
                    .and_then(|beat| beat.on_pong(now, &payload));
                if let Some(rtt) = rtt {
                    self.counters.rtt.record(rtt);
                }
            }
            rpc::Event::Invalid(_) => self.counters.error(),
            rpc::Event::WsError(error) => {
                // Before the link opened, the failed attempt is what counts.
                if self.link.as_ref().is_some_and(|link| link.opened) {
                    self.counters.error();
                } else {
                    self.attempt_error = Some(error);
                }
            }
            rpc::Event::Closed(_) => self.on_ws_closed(now),
            // A client is never asked to accept an upgrade.
            rpc::Event::Upgrade(_) => {}
        }
    }

    fn on_open(&mut self, now: Instant) {
        let heartbeat = self.config.heartbeat;
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.opened = true;
        link.connect_deadline = None;
        link.up_since = Some(now);
        link.beat = heartbeat.map(|config| Beat::new(config, now));
        self.failures = 0;
        self.ever_connected = true;
        self.counters.links_opened = self.counters.links_opened.saturating_add(1);
        self.set_state(State::Connected);
        self.flush(now);
    }

    /// The link's WebSocket closed: before it opened, the attempt failed; after, the link
    /// is lost and the transport goes once everything is written.
    fn on_ws_closed(&mut self, now: Instant) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        if !link.opened {
            self.link = Some(link);
            self.link_failed(now);
            return;
        }
        let was_ending = link.ending;
        link.ending = true;
        link.beat = None;
        self.stop_uptime(&mut link, now);
        self.link = Some(link);
        self.lose_in_flight();
        if !was_ending {
            self.schedule_reconnect(now);
        }
    }

    /// Runs the heartbeat of the open link, unless the owner does not read it.
    pub(super) fn beat(&mut self, now: Instant) {
        if !self.reading {
            return;
        }
        loop {
            let Some(link) = self.link.as_mut().filter(|link| !link.ending) else {
                return;
            };
            let (Some(beat), Some(channel)) = (link.beat.as_mut(), link.channel.as_mut()) else {
                return;
            };
            match beat.due(now) {
                Due::Nothing => return,
                Due::Ping(payload) => {
                    // Open and not ending, so accepted; a refused ping is just not sent.
                    let _ = channel.ping(now, Bytes::copy_from_slice(&payload));
                }
                Due::Dead => {
                    let attempt = link.attempt;
                    // Best effort: the peer is probably not reading any more.
                    let _ = channel.close(now, CloseCode::INTERNAL_ERROR, "heartbeat timeout");
                    self.counters.error();
                    self.events.push_back(Event::HeartbeatTimeout { attempt });
                    self.abandon(now, true);
                    self.schedule_reconnect(now);
                    return;
                }
            }
        }
    }
}
