//! How a JSON-RPC client connects and a server runs its connections.

use std::time::Duration;

use super::RpcConfig;

/// How a client's `connect` opens a connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits and timeouts of the WebSocket underneath.
    pub ws: tether_core::ws::Config,
    /// Call timeouts and the bound on calls in flight.
    pub rpc: RpcConfig,
    /// Extra headers for the upgrade request, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    /// How long the TCP connect and the opening handshake may take together (default 5 s).
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ws: tether_core::ws::Config::default(),
            rpc: RpcConfig::default(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// How a server runs each connection.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Limits and timeouts of each WebSocket.
    pub ws: tether_core::ws::Config,
    /// Batch limits, and the settings of calls made on the connection.
    pub rpc: RpcConfig,
    /// Handlers running at once on one connection (default 256). Past it, the server
    /// stops reading that connection until one finishes: requests wait, none is refused.
    pub max_handlers_per_connection: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ws: tether_core::ws::Config::default(),
            rpc: RpcConfig::default(),
            max_handlers_per_connection: 256,
        }
    }
}
