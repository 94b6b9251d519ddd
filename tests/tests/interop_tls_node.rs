//! `wss://` interop with Node `ws` over Node's `tls` (OpenSSL), both directions, with
//! certificates the tests make, for each adapter and executor. The scenarios are in
//! `interop_tls` of `tether_tests::runtime`'s modules; the peer is
//! `tests/peers/node_peer.js`.

tether_tests::interop_tls_tests!(every_runtime: tether_tests::peer::PeerKind::Node);
