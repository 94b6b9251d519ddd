//! Where a session is in its life, and the names of its transports.

use std::fmt;

/// Where a session is in its life. Every change is reported once as
/// [`Event::State`](super::Event::State).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Before [`start`](super::Session::start), or after [`close`](super::Session::close)
    /// has finished.
    Disconnected,
    /// Trying to open the first link: no link has been open yet.
    Connecting,
    /// A link is open: calls are written as they come.
    Connected,
    /// A link was lost, or an attempt after that failed: waiting out the backoff, or trying again.
    Reconnecting,
    /// Gave up after `max_attempts` consecutive failed attempts. Terminal.
    Failed,
}

impl State {
    /// Whether a session whose backoff has this `max_attempts` may go from `self` to
    /// `next` in one [`Event::State`](super::Event::State): the diagram of the
    /// [module docs](super), as a table that the session's fuzz target and the simulator
    /// check every reported change against.
    ///
    /// ```text
    ///               start                 Open
    /// Disconnected ──────▶ Connecting ─────────────▶ Connected
    ///                          │  ▲                   │     ▲
    ///   max_attempts failures  │  └ failed attempt    │lost │ Open
    ///                          ▼    (backoff)         ▼     │
    ///                        Failed ◀──────────── Reconnecting
    ///                                max_attempts   (backoff, retry)
    /// ```
    /// `close` leads from any state but `Failed` back to `Disconnected`. With
    /// `max_attempts: Some(0)` a lost link goes straight from `Connected` to `Failed`, and
    /// never to `Reconnecting`. Staying in a state is no change (it is never reported), so
    /// it is not a transition: `Connecting`'s failed attempts and `Reconnecting`'s retries
    /// report nothing.
    ///
    /// ```
    /// use tether_core::session::State;
    ///
    /// assert!(State::Connected.can_become(State::Reconnecting, None));
    /// assert!(!State::Connected.can_become(State::Reconnecting, Some(0)));
    /// assert!(State::Connected.can_become(State::Failed, Some(0)));
    /// assert!(!State::Failed.can_become(State::Disconnected, None));
    /// ```
    pub fn can_become(self, next: State, max_attempts: Option<u32>) -> bool {
        // `Some(0)`: the first failure is final, and a lost link is a failure with no
        // attempt left (the session's `schedule_reconnect` gives up at once).
        let never_again = max_attempts == Some(0);
        match (self, next) {
            (State::Disconnected, State::Connecting)
            | (State::Connecting | State::Reconnecting, State::Connected | State::Failed)
            | (State::Connecting | State::Connected | State::Reconnecting, State::Disconnected) => {
                true
            }
            (State::Connected, State::Reconnecting) => !never_again,
            (State::Connected, State::Failed) => never_again,
            _ => false,
        }
    }
}

/// The name of one transport (one connection attempt): inputs carry it, so bytes of a
/// transport the session has abandoned can never reach a newer link. Each attempt gets a
/// larger one than the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attempt(pub(crate) u64);

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [State; 5] = [
        State::Disconnected,
        State::Connecting,
        State::Connected,
        State::Reconnecting,
        State::Failed,
    ];

    /// Every pair of states, for settings that retry forever, give up after a few
    /// attempts, and never retry: the edges of the diagram are allowed, nothing else.
    #[test]
    fn transitions_are_the_diagrams_edges() {
        use State::*;
        // The diagram's edges, read off it one by one; `close` adds the `Disconnected` ones.
        let retrying = [
            (Disconnected, Connecting),
            (Connecting, Connected),
            (Connecting, Failed),
            (Connecting, Disconnected),
            (Connected, Reconnecting),
            (Connected, Disconnected),
            (Reconnecting, Connected),
            (Reconnecting, Failed),
            (Reconnecting, Disconnected),
        ];
        let never_again = [
            (Disconnected, Connecting),
            (Connecting, Connected),
            (Connecting, Failed),
            (Connecting, Disconnected),
            (Connected, Failed),
            (Connected, Disconnected),
            // Never entered with `Some(0)`, but the edges out of it are the same.
            (Reconnecting, Connected),
            (Reconnecting, Failed),
            (Reconnecting, Disconnected),
        ];
        for (max_attempts, edges) in [
            (None, &retrying),
            (Some(1), &retrying),
            (Some(5), &retrying),
            (Some(0), &never_again),
        ] {
            for from in ALL {
                for to in ALL {
                    assert_eq!(
                        from.can_become(to, max_attempts),
                        edges.contains(&(from, to)),
                        "{from:?} -> {to:?} with max_attempts {max_attempts:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn failed_is_terminal_and_no_state_becomes_itself() {
        for max_attempts in [None, Some(0), Some(3)] {
            for state in ALL {
                assert!(!State::Failed.can_become(state, max_attempts));
                assert!(!state.can_become(state, max_attempts));
            }
        }
    }
}
