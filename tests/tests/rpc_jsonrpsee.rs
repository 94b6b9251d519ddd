//! JSON-RPC 2.0 interop with jsonrpsee 0.26 over `ws://`, both directions: jsonrpsee's
//! WebSocket client against tether's `rpc::Server` and tether's `rpc::Client` against
//! jsonrpsee's server, with tether on each adapter and executor (jsonrpsee always on
//! tokio). The scenarios are in `tether_tests::rpc_jsonrpsee` (via `tether_tests::runtime`).

tether_tests::rpc_jsonrpsee_tests!();
