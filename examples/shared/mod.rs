//! The examples' bodies, written once. Each runtime crate's examples include this folder
//! as a module (`#[path = "../../examples/shared/mod.rs"] mod shared;`) beside `adapter`
//! (the runtime crate) and `rt` (its executor: `block_on`, `spawn`, `sleep`, and the
//! Autobahn agent name), and call one body with [`cli::main`].

// Each example runs one body; the others are compiled in and unused.
#![allow(dead_code)]

use super::{adapter, rt};

pub mod autobahn_client;
pub mod cli;
pub mod cluster;
pub mod echo_client;
pub mod echo_server;
pub mod rpc_client;
pub mod rpc_methods;
pub mod rpc_server;
