//! The state of one server's edge, shared by its accept loop, its connections and its
//! [`ServerHandle`](super::ServerHandle)s: [`Edge`], what it counts, and whether it stops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tether_core::handshake::HttpResponse;
use tokio::sync::watch;

use super::Admission;

/// What one server counts and decides before any hook: its connections (all, and per IP
/// address), the refusals being written, and whether it is shutting down.
#[derive(Debug)]
pub(crate) struct Edge {
    admission: Admission,
    counts: watch::Sender<Counts>,
    /// `Some(deadline)` once shutting down: handlers running then may finish until it.
    stop: watch::Sender<Option<Instant>>,
}

/// Connections a server holds now.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Counted against the limits.
    pub(crate) open: usize,
    /// Past the limits, being answered `503`.
    pub(crate) refusing: usize,
    /// `open` by IP address (absent: none).
    per_ip: HashMap<IpAddr, usize>,
}

/// What an accepted TCP connection may do.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Be served; the slot counts it until dropped.
    Open(Slot),
    /// Be answered `503`; the slot counts the refusal until dropped.
    Refuse(Slot),
    /// Be closed at once: too many refusals already.
    Close,
}

/// One connection counted by an [`Edge`], until it drops.
#[derive(Debug)]
pub(crate) struct Slot {
    edge: Arc<Edge>,
    /// `None` for a refusal.
    ip: Option<IpAddr>,
}

impl Edge {
    pub(crate) fn new(admission: Admission) -> Arc<Edge> {
        Arc::new(Edge {
            admission,
            counts: watch::Sender::new(Counts::default()),
            stop: watch::Sender::new(None),
        })
    }

    pub(crate) fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Counts a connection from `ip`, if the limits allow (see [`Admission`]).
    pub(crate) fn enter(self: &Arc<Self>, ip: IpAddr) -> Entry {
        let ip = ip.to_canonical();
        let max = self.admission.max_connections.max(1);
        let per_ip = self.admission.max_connections_per_ip.max(1);
        let mut entry = Entry::Close;
        self.counts.send_modify(|counts| {
            let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
            if counts.open < max && from_ip < per_ip {
                counts.open += 1;
                counts.per_ip.insert(ip, from_ip + 1);
                entry = Entry::Open(Slot {
                    edge: self.clone(),
                    ip: Some(ip),
                });
            } else if counts.refusing < Admission::MAX_REFUSING {
                counts.refusing += 1;
                entry = Entry::Refuse(Slot {
                    edge: self.clone(),
                    ip: None,
                });
            }
        });
        entry
    }

    /// The answer to a connection past the limits, or to any once shutting down.
    pub(crate) fn busy(&self) -> HttpResponse {
        let seconds = self.admission.retry_after.as_secs_f64().ceil().max(1.0);
        HttpResponse::new(503).with_header("Retry-After", format!("{seconds}"))
    }

    /// Connections counted against the limits now.
    pub(crate) fn open(&self) -> usize {
        self.counts.borrow().open
    }

    /// When handlers must be done by, once shutting down.
    pub(crate) fn stopping(&self) -> Option<Instant> {
        *self.stop.borrow()
    }

    /// Tells every connection to wind down, handlers finishing by `deadline` (the first
    /// call's deadline stands).
    pub(crate) fn stop(&self, deadline: Instant) {
        self.stop.send_if_modified(|stop| {
            if stop.is_some() {
                return false;
            }
            *stop = Some(deadline);
            true
        });
    }

    /// Where a connection hears that the server is shutting down.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<Option<Instant>> {
        self.stop.subscribe()
    }

    /// Completes once the server is shut down: for its accept loops.
    pub(crate) async fn stopped(&self) {
        let mut stop = self.stop.subscribe();
        // The sender lives as long as `self`.
        let _ = stop.wait_for(Option::is_some).await;
    }

    /// Waits until no connection and no refusal is left.
    pub(crate) async fn emptied(&self) {
        let mut counts = self.counts.subscribe();
        // The sender lives as long as `self`.
        let _ = counts.wait_for(|c| c.open == 0 && c.refusing == 0).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.edge.counts.send_modify(|counts| match self.ip {
            Some(ip) => {
                counts.open -= 1;
                match counts.per_ip.get_mut(&ip) {
                    Some(n) if *n > 1 => *n -= 1,
                    // The last from that address: forget it, so the map holds only
                    // addresses with connections now.
                    _ => {
                        counts.per_ip.remove(&ip);
                    }
                }
            }
            None => counts.refusing -= 1,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn edge(max: usize, per_ip: usize) -> Arc<Edge> {
        Edge::new(Admission {
            max_connections: max,
            max_connections_per_ip: per_ip,
            ..Admission::default()
        })
    }

    #[test]
    fn per_ip_and_global_limits_refuse_and_release() {
        let edge = edge(3, 2);
        let a1 = edge.enter(ip(1));
        let a2 = edge.enter(ip(1));
        assert!(matches!(a1, Entry::Open(_)) && matches!(a2, Entry::Open(_)));
        // A third from the same address is refused; another address still gets in.
        assert!(matches!(edge.enter(ip(1)), Entry::Refuse(_)));
        let b1 = edge.enter(ip(2));
        assert!(matches!(b1, Entry::Open(_)));
        // Now the server is full for everyone.
        assert!(matches!(edge.enter(ip(3)), Entry::Refuse(_)));
        assert_eq!(edge.open(), 3);
        drop(a1);
        assert_eq!(edge.open(), 2);
        assert!(matches!(edge.enter(ip(1)), Entry::Open(_)));
        // The refusals were released as they dropped.
        assert_eq!(edge.counts.borrow().refusing, 0);
    }

    #[test]
    fn the_map_forgets_addresses_without_connections() {
        let edge = edge(100, 100);
        let slots: Vec<_> = (0..50).map(|i| edge.enter(ip(i))).collect();
        assert_eq!(edge.counts.borrow().per_ip.len(), 50);
        drop(slots);
        assert!(edge.counts.borrow().per_ip.is_empty());
        assert_eq!(edge.open(), 0);
    }

    #[test]
    fn refusals_are_bounded_and_then_connections_are_closed() {
        let edge = edge(1, 1);
        let _open = edge.enter(ip(1));
        let refusing: Vec<_> = (0..Admission::MAX_REFUSING)
            .map(|_| edge.enter(ip(2)))
            .collect();
        assert!(refusing.iter().all(|e| matches!(e, Entry::Refuse(_))));
        assert!(matches!(edge.enter(ip(2)), Entry::Close));
        drop(refusing);
        assert!(matches!(edge.enter(ip(2)), Entry::Refuse(_)));
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_their_ipv4_address() {
        let edge = edge(10, 1);
        let _v4 = edge.enter(ip(7));
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped());
        assert!(matches!(edge.enter(mapped), Entry::Refuse(_)));
    }

    #[test]
    fn busy_answers_503_with_whole_seconds() {
        let mut admission = Admission::default();
        for (after, header) in [(0, "1"), (1500, "2"), (3000, "3")] {
            admission.retry_after = Duration::from_millis(after);
            let busy = Edge::new(admission.clone()).busy();
            assert_eq!(busy.status, 503);
            assert_eq!(
                busy.headers,
                [("Retry-After".to_owned(), header.to_owned())]
            );
        }
    }

    #[test]
    fn the_first_stop_deadline_stands() {
        let edge = edge(1, 1);
        let now = Instant::now();
        assert_eq!(edge.stopping(), None);
        edge.stop(now);
        edge.stop(now + Duration::from_secs(9));
        assert_eq!(edge.stopping(), Some(now));
    }
}
