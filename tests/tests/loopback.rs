//! Our client against our server over loopback TCP (scenarios in `tether_tests::loopback`
//! via `tether_tests::runtime`), for each adapter and executor.

mod tokio {
    tether_tests::loopback_tests!(tokio);
}

mod async_std {
    tether_tests::loopback_tests!(async_std);
}

mod smol {
    tether_tests::loopback_tests!(smol);
}
