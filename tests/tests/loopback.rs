//! Our client against our server over loopback TCP (scenarios in `tether_tests::loopback`
//! via `tether_tests::runtime`), for each adapter and executor.

// tether-tokio keeps its own runtime-tokio/tests/loopback.rs for now: on a multi-threaded
// runtime its `close` can return before `send` sees the closing state, which fails the
// first scenario now and then. Once its driver records the state before answering a close
// (as tether-async-std's does), `loopback_tests!(tokio)` replaces that file.

mod async_std {
    tether_tests::loopback_tests!(async_std);
}

mod smol {
    tether_tests::loopback_tests!(smol);
}
