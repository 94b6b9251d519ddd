//! Interop with Node `ws`, both directions: tether's client against its server and its client
//! against tether's server. The scenarios are in `tether_tests::interop`; the peer is
//! `tests/peers/node_peer.js`, installed by `scripts/install-peers.sh` (a missing install fails
//! every test here with that hint). The permessage-deflate scenarios are in
//! `tether_tests::interop_deflate`.

tether_tests::interop_tests!(tether_tests::peer::PeerKind::Node);
tether_tests::interop_deflate_tests!(tether_tests::peer::PeerKind::Node);
