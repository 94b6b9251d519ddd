//! Deadlines a state machine waits for, kept in a fixed table.
//!
//! The core never reads a clock: deadlines are computed from the `now` passed in and
//! compared against the `now` of a later `handle_timeout`. An early call is harmless.

use std::time::{Duration, Instant};

/// The deadline `after` from `at`, at least a nanosecond later so a timer set while
/// handling a timeout is never already due; `None` if `Instant` cannot hold it (never).
pub(crate) fn later(at: Instant, after: Duration) -> Option<Instant> {
    at.checked_add(after.max(Duration::from_nanos(1)))
}

/// Every deadline a WebSocket connection can wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The opening handshake must finish by then.
    Handshake = 0,
    /// After we sent a close frame (or saw the close exchange end), the peer must finish by then.
    Close = 1,
    /// The heartbeat's next ping, or the time by which the peer must have sent something.
    Heartbeat = 2,
}

const TIMER_COUNT: usize = 3;

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    at: [Option<Instant>; TIMER_COUNT],
}

impl TimerTable {
    /// Arms (or re-arms) `timer` for `deadline`.
    pub fn set(&mut self, timer: Timer, deadline: Instant) {
        self.at[timer as usize] = Some(deadline);
    }

    /// Arms `timer` for `after` from `now`; a delay too long for `Instant` to hold
    /// disarms it instead: that deadline never comes.
    pub fn set_after(&mut self, timer: Timer, now: Instant, after: std::time::Duration) {
        match now.checked_add(after) {
            Some(deadline) => self.set(timer, deadline),
            None => self.stop(timer),
        }
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.at[timer as usize] = None;
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer as usize]
    }

    /// The soonest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// Disarms and returns `timer` if its deadline is at or before `now`.
    pub fn expire(&mut self, timer: Timer, now: Instant) -> bool {
        match self.at[timer as usize] {
            Some(at) if at <= now => {
                self.at[timer as usize] = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn next_is_the_soonest_and_expiry_disarms() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Close, t0 + Duration::from_secs(5));
        t.set(Timer::Handshake, t0 + Duration::from_secs(2));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(2)));
        assert!(!t.expire(Timer::Handshake, t0 + Duration::from_secs(1)));
        assert!(t.expire(Timer::Handshake, t0 + Duration::from_secs(2)));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(5)));
        t.stop(Timer::Close);
        assert_eq!(t.next(), None);
    }
}
