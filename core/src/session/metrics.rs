//! What a session counts, and the snapshot it hands out.

use std::time::{Duration, Instant};

use super::State;
use crate::histogram::Histogram;

/// A snapshot of a session's counters, from [`Session::metrics`](super::Session::metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// JSON-RPC messages written: calls (each re-send too) and notifications.
    pub messages_sent: u64,
    /// JSON-RPC messages read: answers, the server's requests and notifications.
    pub messages_received: u64,
    /// Transport bytes handed out by `poll_transmit`, over every link so far.
    pub bytes_sent: u64,
    /// Transport bytes fed to `handle_input` over every link so far (input naming an
    /// abandoned attempt is ignored and not counted).
    pub bytes_received: u64,
    /// How long the current link has been open, if one is.
    pub connected_for: Option<Duration>,
    /// How long links have been open in all, the current one included.
    pub total_connected: Duration,
    /// The last time a JSON-RPC message was written or read.
    pub last_message_at: Option<Instant>,
    /// Mean heartbeat round trip (ping to pong).
    pub rtt_mean: Option<Duration>,
    /// 99th percentile of the heartbeat round trips (within 12.5 %).
    pub rtt_p99: Option<Duration>,
    /// Mean time from writing a call to its answer.
    pub call_latency_mean: Option<Duration>,
    /// 99th percentile of call latencies (within 12.5 %).
    pub call_latency_p99: Option<Duration>,
    /// Links opened after the first one.
    pub reconnections: u64,
    /// Failed attempts, heartbeat timeouts, and protocol errors of the server.
    pub errors: u64,
    /// Items waiting in the queue of unsent calls and notifications.
    pub queue_depth: usize,
    /// Their encoded size.
    pub queue_bytes: usize,
    /// Calls written and waiting for their answer.
    pub in_flight: usize,
    /// Where the session is.
    pub state: State,
}

/// The running counters behind [`Metrics`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) messages_sent: u64,
    pub(crate) messages_received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    /// Open time of links already closed.
    pub(crate) closed_links_uptime: Duration,
    pub(crate) last_message_at: Option<Instant>,
    pub(crate) rtt: Histogram,
    pub(crate) latency: Histogram,
    pub(crate) links_opened: u64,
    pub(crate) errors: u64,
}

impl Counters {
    pub(crate) fn message(&mut self, now: Instant, sent: bool) {
        if sent {
            self.messages_sent = self.messages_sent.saturating_add(1);
        } else {
            self.messages_received = self.messages_received.saturating_add(1);
        }
        self.last_message_at = Some(self.last_message_at.map_or(now, |at| at.max(now)));
    }

    pub(crate) fn error(&mut self) {
        self.errors = self.errors.saturating_add(1);
    }

    /// The part of [`Metrics`] the counters know; the session fills in the rest.
    pub(crate) fn snapshot(&self, connected_for: Option<Duration>, state: State) -> Metrics {
        Metrics {
            messages_sent: self.messages_sent,
            messages_received: self.messages_received,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            connected_for,
            total_connected: self
                .closed_links_uptime
                .saturating_add(connected_for.unwrap_or_default()),
            last_message_at: self.last_message_at,
            rtt_mean: self.rtt.mean(),
            rtt_p99: self.rtt.quantile(99, 100),
            call_latency_mean: self.latency.mean(),
            call_latency_p99: self.latency.quantile(99, 100),
            reconnections: self.links_opened.saturating_sub(1),
            errors: self.errors,
            queue_depth: 0,
            queue_bytes: 0,
            in_flight: 0,
            state,
        }
    }
}
