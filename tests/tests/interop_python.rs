//! Interop with Python `websockets`, both directions: tether's client against its server and its client
//! against tether's server, for each adapter and executor. The scenarios are in
//! `tether_tests::interop` (via `tether_tests::runtime`); the peer is
//! `tests/peers/py_peer.py`, installed by `scripts/install-peers.sh` (a missing install fails
//! every test here with that hint). The permessage-deflate scenarios are in
//! `tether_tests::interop_deflate`.

tether_tests::interop_tests!(every_runtime: tether_tests::peer::PeerKind::Python);
/// In a module of its own: `interop_tests!` above declares a `tokio` module at the root.
mod deflate {
    tether_tests::interop_deflate_tests!(tether_tests::peer::PeerKind::Python);
}
