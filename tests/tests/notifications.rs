//! The server's notifications reaching the reconnecting JSON-RPC client, from a Python
//! `websockets` JSON-RPC server: order, the answer behind them, the receiver's bound
//! stopping the client reading, dropped receivers (scenarios in
//! `tether_tests::notifications` via `tether_tests::runtime`), on tokio, async-std and smol.

tether_tests::notifications_tests!();
