//! `wss://` between our own client and server, with certificates made by the test
//! (scenarios in `tether_tests::tls` via `tether_tests::runtime`), on tokio, async-std and
//! smol. Interop with other TLS stacks is in `interop_tls_*.rs`.

tether_tests::tls_tests!();
