//! [`HeldGauge`]: what a server's connections hold for their peers, as they count it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tether_core::budget::Held;

/// What a server's connections hold for their peers, as each counts it against its
/// budget ([`Config::budget`](tether_core::ws::Config::budget), see
/// [`tether_core::budget`]): the bytes held now, summed over connections, and the most
/// one connection held at once since the server started. For metrics and tests; a cheap
/// clone that reads shared counters.
#[derive(Debug, Clone, Default)]
pub struct HeldGauge(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    total: AtomicUsize,
    peak: AtomicUsize,
}

impl HeldGauge {
    /// Bytes held now, over every connection.
    pub fn total(&self) -> usize {
        self.0.total.load(Ordering::Relaxed)
    }

    /// The most one connection held at once, since the server started.
    pub fn peak(&self) -> usize {
        self.0.peak.load(Ordering::Relaxed)
    }
}

/// One connection's part of a [`HeldGauge`]: its driver reports what it holds after
/// every turn, and its part leaves the total when the driver is done.
#[derive(Debug, Default)]
pub(crate) struct HeldShare {
    gauge: HeldGauge,
    reported: usize,
}

impl HeldShare {
    pub(crate) fn new(gauge: HeldGauge) -> HeldShare {
        HeldShare { gauge, reported: 0 }
    }

    /// The connection holds `held` now.
    pub(crate) fn report(&mut self, held: Held) {
        let now = held.total();
        if now == self.reported {
            // Drivers report after every turn, mostly unchanged; the counters are shared by
            // every connection of a server, so each write would bounce their cache line
            // between the cores.
            return;
        }
        let counters = &self.gauge.0;
        if now > self.reported {
            counters
                .total
                .fetch_add(now - self.reported, Ordering::Relaxed);
            counters.peak.fetch_max(now, Ordering::Relaxed);
        } else {
            counters
                .total
                .fetch_sub(self.reported - now, Ordering::Relaxed);
        }
        self.reported = now;
    }
}

impl Drop for HeldShare {
    fn drop(&mut self) {
        self.gauge
            .0
            .total
            .fetch_sub(self.reported, Ordering::Relaxed);
    }
}
