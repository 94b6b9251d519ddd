//! The cluster layer (`Peers`) over loopback TCP: both-way calls on one link, many tasks
//! and peers, a killed and a silent peer, shutdown, unreachable nodes, a plain client
//! (scenarios in `tether_tests::pool` via `tether_tests::runtime`), on tokio, async-std
//! and smol.

tether_tests::pool_tests!();
