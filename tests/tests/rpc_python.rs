//! Raw JSON-RPC from Python `websockets` (`tests/peers/py_rpc_raw.py`, no JSON-RPC library)
//! against a tether `rpc::Server` in this process, for each adapter and executor: calls,
//! notifications, batches and every error the script provokes. The scenario is in
//! `tether_tests::rpc_python` (via `tether_tests::runtime`); the peer library is installed
//! by `scripts/install-peers.sh` (a missing install fails every test here with that hint).

tether_tests::rpc_python_tests!();
