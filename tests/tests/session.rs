//! The reconnecting JSON-RPC client over loopback TCP: heartbeat behind a silent proxy,
//! giving up, queue bounds, close and drop (scenarios in `tether_tests::session` via
//! `tether_tests::runtime`), on tokio, async-std and smol.

tether_tests::session_tests!();
