//! The edge of every tether server (the WebSocket `Server`, `rpc::Server`, a node's
//! `Peers`) against Python `websockets` and `urllib` (`tests/peers/py_edge.py`): the
//! upgrade hook's refusals, identities and plain HTTP answers. The scenarios are in
//! `tether_tests::edge` (via `tether_tests::runtime`), on tokio, async-std and smol; the
//! peer library is installed by `scripts/install-peers.sh`.

tether_tests::edge_tests!();
