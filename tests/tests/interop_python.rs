//! Interop with Python `websockets`, both directions: tether's client against its server and its client
//! against tether's server, for each adapter and executor. The scenarios are in
//! `tether_tests::interop` (via `tether_tests::runtime`); the peer is
//! `tests/peers/py_peer.py`, installed by `scripts/install-peers.sh` (a missing install fails
//! every test here with that hint).

use tether_tests::peer::PeerKind;

mod tokio {
    tether_tests::interop_tests!(tokio: super::PeerKind::Python);
}

mod async_std {
    tether_tests::interop_tests!(async_std: super::PeerKind::Python);
}

mod smol {
    tether_tests::interop_tests!(smol: super::PeerKind::Python);
}
