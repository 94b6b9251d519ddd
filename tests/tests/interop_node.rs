//! Interop with Node `ws`, both directions: tether's client against its server and its client
//! against tether's server, for each adapter and executor, without and with
//! permessage-deflate. The scenarios are in `tether_tests::interop` and
//! `tether_tests::interop_deflate` (via `tether_tests::runtime`); the peer is
//! `tests/peers/node_peer.js`, installed by `scripts/install-peers.sh` (a missing install fails
//! every test here with that hint).

tether_tests::interop_tests!(every_runtime: tether_tests::peer::PeerKind::Node);
