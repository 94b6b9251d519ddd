//! The JSON-RPC pieces both adapters share: how a call can fail ([`CallError`]), params
//! as JSON ([`encode_params`]), the method table of a server ([`Router`]), the routing of
//! a driver's events and commands ([`dispatch`]), and the configs of a client and a
//! server. The protocol itself is the core's [`Endpoint`](tether_core::rpc::Endpoint).

mod config;
pub mod dispatch;
mod error;
mod router;

pub use config::{ClientConfig, ServerConfig};
pub use error::{encode_params, CallError};
pub use router::{Outcome, Router, Running};
pub use tether_core::rpc::{Config as RpcConfig, ErrorObject, Stats};
