//! Shared harness of the core's scenario tests.

#![allow(dead_code)]

mod cluster;
mod duo;
mod pair;
mod rpc_pair;
mod session;

// Each test file uses one of them.
#[allow(unused_imports)]
pub use cluster::Cluster;
#[allow(unused_imports)]
pub use pair::Pair;
#[allow(unused_imports)]
pub use rpc_pair::RpcPair;
#[allow(unused_imports)]
pub use session::{Dial, SessionNet, SessionSide};
