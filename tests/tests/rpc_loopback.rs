//! tether-async-std's JSON-RPC client against its server over loopback TCP (scenarios in
//! `tether_tests::rpc_loopback` via `tether_tests::runtime`), on async-std and smol.
//! tether-tokio's own are in runtime-tokio/tests/rpc.rs.

mod async_std {
    tether_tests::rpc_loopback_tests!(async_std);
}

mod smol {
    tether_tests::rpc_loopback_tests!(smol);
}
