//! Three nodes of a replicated map linked by the peer pool, on tokio. The body is `examples/shared/cluster.rs`.
//!
//! ```text
//! cargo run --release -p tether-tokio --example cluster
//! ```

use std::process::ExitCode;

use tether_tokio as adapter;

#[path = "common/rt.rs"]
mod rt;
#[path = "../../examples/shared/mod.rs"]
mod shared;

fn main() -> ExitCode {
    shared::cli::main("cluster", shared::cluster::run())
}
