//! Liveness of an open link: pings on a timer, and the deadline by which the peer must
//! show it is alive. One implementation for every owner of a link: a
//! [`Session`](crate::session::Session), a [`Pool`](crate::pool::Pool), and a
//! [`Connection`](crate::ws::Connection) whose [`Config::heartbeat`](crate::ws::Config::heartbeat)
//! is set (a server's pings to its clients).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::time::later;

/// Pings kept waiting for their pong; a peer that answers none cannot make us hold more.
const MAX_UNANSWERED: usize = 32;

/// Heartbeat settings: every `interval` a ping goes out on the open link (between the
/// fragments of a large message, never behind it); the link is declared dead when the
/// peer shows no sign of life for `timeout`, what counts as a sign being the `mode`.
///
/// ```
/// use std::time::Duration;
/// use tether_core::session::{Heartbeat, HeartbeatMode};
///
/// let heartbeat = Heartbeat { interval: Duration::from_secs(1), ..Default::default() };
/// assert_eq!(heartbeat.mode, HeartbeatMode::Pong);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Time between pings (default 5 s).
    pub interval: Duration,
    /// How long the peer may stay silent (default 10 s).
    pub timeout: Duration,
    /// What counts as a sign of life.
    pub mode: HeartbeatMode,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            mode: HeartbeatMode::Pong,
        }
    }
}

/// What shows that the peer is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeartbeatMode {
    /// A pong to one of our pings: the link is dead when the oldest unanswered ping is
    /// `timeout` old.
    #[default]
    Pong,
    /// Any bytes at all: the link is dead after `timeout` without input. Suits peers that
    /// stream data but answer pings late. On an idle link the pongs are the only input,
    /// so `timeout` must outlast `interval` plus a round trip, or idle links are dropped.
    AnyInput,
}

/// The heartbeat of one open link.
#[derive(Debug)]
pub(crate) struct Beat {
    config: Heartbeat,
    /// When the next ping goes out.
    next_ping: Option<Instant>,
    /// The payload counter of the last ping sent.
    counter: u64,
    /// Pings sent and not answered yet, oldest first: counter and time sent.
    unanswered: VecDeque<(u64, Instant)>,
    /// The time of the last input (`AnyInput` mode).
    last_input: Instant,
}

/// What a fired heartbeat timer asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing yet.
    Nothing,
    /// Send a ping with this payload.
    Ping([u8; 8]),
    /// The link is dead.
    Dead,
}

impl Beat {
    /// The heartbeat of a link that opened at `now`.
    pub(crate) fn new(config: Heartbeat, now: Instant) -> Beat {
        Beat {
            config,
            next_ping: later(now, config.interval),
            counter: 0,
            unanswered: VecDeque::new(),
            last_input: now,
        }
    }

    /// When the peer must next show a sign of life.
    fn dead_at(&self) -> Option<Instant> {
        #[cfg(feature = "mutants")]
        if crate::mutants::on(crate::mutants::Mutant::HeartbeatNeverFires) {
            return None;
        }
        match self.config.mode {
            HeartbeatMode::Pong => {
                let (_, oldest) = self.unanswered.front()?;
                later(*oldest, self.config.timeout)
            }
            HeartbeatMode::AnyInput => later(self.last_input, self.config.timeout),
        }
    }

    /// The next time [`due`](Self::due) has something to say.
    pub(crate) fn next(&self) -> Option<Instant> {
        match (self.next_ping, self.dead_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What is due at `now`: the death of the link first, else a ping (call again for more).
    pub(crate) fn due(&mut self, now: Instant) -> Due {
        if self.dead_at().is_some_and(|at| at <= now) {
            return Due::Dead;
        }
        match self.next_ping {
            Some(at) if at <= now => {}
            _ => return Due::Nothing,
        }
        self.next_ping = later(now, self.config.interval);
        if self.unanswered.len() == MAX_UNANSWERED {
            match self.config.mode {
                // The oldest ping decides death: keep it, and send no more for now.
                HeartbeatMode::Pong => return Due::Nothing,
                // Pings only draw traffic here: forget the oldest, keep pinging.
                HeartbeatMode::AnyInput => {
                    self.unanswered.pop_front();
                }
            }
        }
        self.counter = self.counter.wrapping_add(1);
        self.unanswered.push_back((self.counter, now));
        Due::Ping(self.counter.to_be_bytes())
    }

    /// The owner reads the link again after a pause (see `Session::set_reading`): the
    /// silence was its own, so the pings sent before are forgotten (a late pong to one is
    /// ignored, and measures no round trip) and the peer has a whole `timeout` from `now`
    /// to show a sign of life. A ping that fell due meanwhile goes out at once.
    pub(crate) fn resume(&mut self, now: Instant) {
        self.unanswered.clear();
        self.last_input = self.last_input.max(now);
    }

    /// Bytes arrived.
    pub(crate) fn on_input(&mut self, now: Instant) {
        #[cfg(feature = "mutants")]
        if crate::mutants::on(crate::mutants::Mutant::BusyLinkDead) {
            return;
        }
        self.last_input = self.last_input.max(now);
    }

    /// A pong arrived; returns the round trip of the ping it answers, if it is one of ours.
    /// A pong answers its ping and every older one (a peer may skip pongs, RFC 6455 §5.5.3).
    /// Pings sent and not answered yet.
    pub(crate) fn unanswered(&self) -> usize {
        self.unanswered.len()
    }

    pub(crate) fn on_pong(&mut self, now: Instant, payload: &[u8]) -> Option<Duration> {
        let counter = u64::from_be_bytes(payload.try_into().ok()?);
        let at = self.unanswered.iter().position(|(c, _)| *c == counter)?;
        let (_, sent) = self.unanswered.get(at).copied()?;
        #[cfg(feature = "mutants")]
        if crate::mutants::on(crate::mutants::Mutant::BusyLinkDead) {
            self.last_input = self.last_input.max(now);
        }
        self.unanswered.drain(..=at);
        Some(now.saturating_duration_since(sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn origin() -> Instant {
        Instant::now()
    }

    fn config(mode: HeartbeatMode) -> Heartbeat {
        Heartbeat {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
            mode,
        }
    }

    #[test]
    fn pong_mode_dies_timeout_after_the_oldest_unanswered_ping() {
        let t0 = origin();
        let mut beat = Beat::new(config(HeartbeatMode::Pong), t0);
        assert_eq!(beat.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(beat.due(t0), Due::Nothing);
        let s = Duration::from_secs;
        assert_eq!(beat.due(t0 + s(1)), Due::Ping(1u64.to_be_bytes()));
        assert_eq!(beat.due(t0 + s(2)), Due::Ping(2u64.to_be_bytes()));
        // The answer to ping 2 answers ping 1 too: the deadline moves on.
        assert_eq!(
            beat.on_pong(t0 + s(2) + Duration::from_millis(5), &2u64.to_be_bytes()),
            Some(Duration::from_millis(5))
        );
        assert_eq!(beat.on_pong(t0 + s(2), &1u64.to_be_bytes()), None);
        assert_eq!(beat.on_pong(t0 + s(2), b"short"), None);
        assert_eq!(beat.due(t0 + s(3)), Due::Ping(3u64.to_be_bytes()));
        assert_eq!(beat.due(t0 + s(4)), Due::Ping(4u64.to_be_bytes()));
        // Input does not count in this mode.
        beat.on_input(t0 + s(5));
        assert_eq!(beat.due(t0 + s(5)), Due::Ping(5u64.to_be_bytes()));
        assert_eq!(beat.next(), Some(t0 + s(6)));
        assert_eq!(beat.due(t0 + s(6)), Due::Dead, "ping 3 went out at 3 s");
    }

    #[test]
    fn any_input_mode_dies_timeout_after_the_last_input() {
        let t0 = origin();
        let s = Duration::from_secs;
        let mut beat = Beat::new(config(HeartbeatMode::AnyInput), t0);
        beat.on_input(t0 + s(2));
        for k in 1..=4 {
            assert_eq!(beat.due(t0 + s(k)), Due::Ping(k.to_be_bytes()));
        }
        assert_eq!(beat.next(), Some(t0 + s(5)));
        assert_eq!(beat.due(t0 + s(5)), Due::Dead);
    }

    #[test]
    fn resuming_forgets_the_pings_before_and_restarts_the_deadline() {
        let t0 = origin();
        let s = Duration::from_secs;
        for mode in [HeartbeatMode::Pong, HeartbeatMode::AnyInput] {
            let mut beat = Beat::new(config(mode), t0);
            assert_eq!(beat.due(t0 + s(1)), Due::Ping(1u64.to_be_bytes()));
            // Paused from 1 s to 10 s (nobody asks `due` meanwhile).
            beat.resume(t0 + s(10));
            assert_eq!(beat.on_pong(t0 + s(10), &1u64.to_be_bytes()), None);
            assert_eq!(beat.due(t0 + s(10)), Due::Ping(2u64.to_be_bytes()));
            assert_eq!(beat.due(t0 + s(12)), Due::Ping(3u64.to_be_bytes()));
            assert_eq!(beat.next(), Some(t0 + s(13)), "{mode:?}");
            assert_eq!(beat.due(t0 + s(13)), Due::Dead, "{mode:?}");
        }
    }

    #[test]
    fn unanswered_pings_are_bounded() {
        let t0 = origin();
        let long = Heartbeat {
            interval: Duration::from_millis(1),
            timeout: Duration::from_secs(3600),
            mode: HeartbeatMode::Pong,
        };
        for mode in [HeartbeatMode::Pong, HeartbeatMode::AnyInput] {
            let mut beat = Beat::new(Heartbeat { mode, ..long }, t0);
            let mut pings = 0;
            for ms in 1..=1000 {
                let now = t0 + Duration::from_millis(ms);
                beat.on_input(now);
                if let Due::Ping(_) = beat.due(now) {
                    pings += 1;
                }
                assert!(beat.unanswered.len() <= MAX_UNANSWERED);
            }
            match mode {
                HeartbeatMode::Pong => assert_eq!(pings, MAX_UNANSWERED),
                HeartbeatMode::AnyInput => assert_eq!(pings, 1000),
            }
        }
    }
}
