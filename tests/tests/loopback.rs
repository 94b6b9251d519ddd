//! Our client against our server over loopback TCP (scenarios in `tether_tests::loopback`
//! via `tether_tests::runtime`), on tokio, async-std and smol.

tether_tests::loopback_tests!();
