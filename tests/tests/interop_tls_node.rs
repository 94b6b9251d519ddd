//! `wss://` interop with Node `ws` over Node's `tls` (OpenSSL), both directions, with
//! certificates the tests make. The scenarios are in `tether_tests::interop_tls`; the peer
//! is `tests/peers/node_peer.js`.

tether_tests::interop_tls_tests!(tether_tests::peer::PeerKind::Node);
