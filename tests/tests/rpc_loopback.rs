//! Our JSON-RPC client against our server over loopback TCP (scenarios in
//! `tether_tests::rpc_loopback` via `tether_tests::runtime`), on tokio, async-std and smol.

tether_tests::rpc_loopback_tests!();
