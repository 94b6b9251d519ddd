//! Hostile clients against our JSON-RPC server over loopback TCP (scenarios in
//! `tether_tests::hostile` via `tether_tests::runtime`), on tokio, async-std and smol.

tether_tests::hostile_tests!();
