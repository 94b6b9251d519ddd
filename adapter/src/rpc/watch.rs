//! A session's state as its handles see it: [`States`], a receiver of every change, on
//! any executor.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use event_listener::Event as Signal;
use tether_core::session::State;

/// The latest state, a count of changes, and a signal for waiters.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    version: AtomicU64,
    /// The session's driver has ended: no change will come again.
    ended: AtomicBool,
    changed: Signal,
}

/// The driver's end: it publishes each new state.
#[derive(Debug)]
pub(crate) struct Publisher {
    shared: Arc<Shared>,
}

impl Publisher {
    /// A publisher starting at `state`, and a receiver that has seen it.
    pub(crate) fn new(state: State) -> (Publisher, States) {
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            version: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            changed: Signal::new(),
        });
        let states = States {
            shared: shared.clone(),
            seen: 0,
        };
        (Publisher { shared }, states)
    }

    /// The session is now in `state`.
    pub(crate) fn publish(&self, state: State) {
        *self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = state;
        self.shared.version.fetch_add(1, Ordering::AcqRel);
        self.shared.changed.notify(usize::MAX);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.shared.ended.store(true, Ordering::Release);
        self.shared.changed.notify(usize::MAX);
    }
}

/// Every change of a [`Client`](super::Client)'s [`State`], from
/// [`Client::states`](super::Client::states).
///
/// [`changed`](Self::changed) waits for a state this receiver has not seen yet (the latest
/// one, if several came before it looked). It does not keep the client alive: once the
/// session has ended and its last state was seen, `changed` returns `None`. Cloning gives
/// a receiver that has seen what this one has.
///
/// ```no_run
/// # async fn demo<R: tether_adapter::Runtime>(client: tether_adapter::rpc::Client<R>) {
/// let mut states = client.states();
/// while let Some(state) = states.changed().await {
///     println!("now {state:?}");
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct States {
    shared: Arc<Shared>,
    seen: u64,
}

impl States {
    /// A receiver that has seen the current state: it waits for the next change.
    pub(crate) fn unseen_from_now(&self) -> States {
        States {
            shared: self.shared.clone(),
            seen: self.shared.version.load(Ordering::Acquire),
        }
    }

    /// The latest state, without waiting (and without marking it seen).
    pub fn get(&self) -> State {
        *self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a change not seen yet and returns the latest state; `None` once the
    /// session has ended and every change was seen.
    ///
    /// Cancel-safe: dropping the future marks nothing seen.
    pub async fn changed(&mut self) -> Option<State> {
        loop {
            // Listening before looking: a change made after the look wakes us.
            let listener = self.shared.changed.listen();
            let version = self.shared.version.load(Ordering::Acquire);
            if version != self.seen {
                self.seen = version;
                return Some(self.get());
            }
            if self.shared.ended.load(Ordering::Acquire) {
                return None;
            }
            listener.await;
        }
    }

    /// Waits until the state satisfies `condition` (the current one included) and returns
    /// it; `None` if the session ended without getting there.
    ///
    /// Cancel-safe.
    pub async fn wait_for(&mut self, mut condition: impl FnMut(State) -> bool) -> Option<State> {
        let now = self.get();
        if condition(now) {
            return Some(now);
        }
        while let Some(state) = self.changed().await {
            if condition(state) {
                return Some(state);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;

    use super::*;

    #[test]
    fn changes_are_seen_once_and_the_end_after_the_last() {
        let (publisher, mut states) = Publisher::new(State::Disconnected);
        publisher.publish(State::Connecting);
        publisher.publish(State::Connected);
        // Two changes before it looked: it sees the latest, once.
        assert_eq!(block_on(states.changed()), Some(State::Connected));
        let mut late = states.clone();
        publisher.publish(State::Reconnecting);
        drop(publisher);
        assert_eq!(block_on(states.changed()), Some(State::Reconnecting));
        assert_eq!(block_on(states.changed()), None);
        assert_eq!(block_on(late.changed()), Some(State::Reconnecting));
        assert_eq!(states.get(), State::Reconnecting);
        assert_eq!(
            block_on(late.wait_for(|s| s == State::Reconnecting)),
            Some(State::Reconnecting)
        );
        assert_eq!(block_on(late.wait_for(|s| s == State::Failed)), None);
    }
}
