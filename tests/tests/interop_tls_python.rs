//! `wss://` interop with Python `websockets` over Python's `ssl` (OpenSSL), both
//! directions, with certificates the tests make, for each adapter and executor. The
//! scenarios are in `interop_tls` of `tether_tests::runtime`'s modules; the peer is
//! `tests/peers/py_peer.py`.

tether_tests::interop_tls_tests!(every_runtime: tether_tests::peer::PeerKind::Python);
