//! The reconnecting JSON-RPC client against a Python `websockets` server that is SIGKILLed
//! and restarted mid-traffic (scenarios in `tether_tests::session_python` via
//! `tether_tests::runtime`), on tokio, async-std and smol.

tether_tests::session_python_tests!();
