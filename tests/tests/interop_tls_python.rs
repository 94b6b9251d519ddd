//! `wss://` interop with Python `websockets` over Python's `ssl` (OpenSSL), both
//! directions, with certificates the tests make. The scenarios are in
//! `tether_tests::interop_tls`; the peer is `tests/peers/py_peer.py`.

tether_tests::interop_tls_tests!(tether_tests::peer::PeerKind::Python);
