//! [`runtime_api!`](crate::runtime_api): the public API of a runtime crate, declared once.

/// Declares, in a runtime crate, tether's whole public API bound to its runtime `$rt`: the
/// same items, type for type, in every runtime crate. The shared types are re-exported;
/// the ones that need a runtime (`Server`, `rpc::Client`, `rpc::Server`) are aliases of
/// the generic ones for `$rt`; `connect` opens a WebSocket on `$rt`.
///
/// A runtime crate is its [`Runtime`](crate::Runtime) implementation, its crate docs and
/// one line: `tether_adapter::runtime_api!(crate::Tokio);` (a path that resolves inside
/// the crate's modules too).
#[macro_export]
macro_rules! runtime_api {
    ($rt:ty) => {
        pub use $crate::{
            rustls, Admission, ClientConfig, ClientTls, CloseCode, CloseInfo, Config, ConnectError,
            ConnectionId, Context, Decision, Deflate, DeflateParams, Error, Event, HeldGauge, Hook,
            HttpResponse, Identity, Initiator, Message, Receiver, Runtime, Sender, ServerConfig,
            ServerHandle, ServerTls, TlsError, UpgradeRequest, UrlError, WebSocket,
        };

        /// A listening WebSocket server: [`tether_adapter::Server`] on this runtime.
        pub type Server = $crate::Server<$rt>;

        /// Opens a WebSocket to `url` on this runtime: see [`tether_adapter::connect`].
        ///
        /// Cancel-safe: dropping the future drops the half-open socket.
        pub async fn connect(url: &str, config: ClientConfig) -> Result<WebSocket, ConnectError> {
            $crate::connect::<$rt>(url, config).await
        }

        /// The cluster layer on this runtime: see [`tether_adapter::pool`].
        pub mod pool {
            pub use $crate::pool::{
                CallOutcome, Fault, HedgeBudget, Lane, LinkId, MetricsConfig, NodeError, NodeId,
                NodeOutcome, Observation, Order, Outcome, PeerState, PeerStats, PeersConfig,
                PoolConfig, ReadError, ReplicaConfig, RetryBudget, RetryPolicy, Stats, Verdict,
                WriteError, WriteReport, LANE_HEADER, NODE_ID_HEADER,
            };

            /// A node's links to its peers: [`tether_adapter::pool::Peers`] on this runtime.
            pub type Peers = $crate::pool::Peers<$rt>;

            /// A set of replicas called through a node's `Peers`:
            /// [`tether_adapter::pool::Replicas`] on this runtime.
            pub type Replicas = $crate::pool::Replicas<$rt>;
        }

        /// JSON-RPC 2.0 over WebSocket on this runtime: see [`tether_adapter::rpc`].
        pub mod rpc {
            pub use $crate::rpc::{
                encode_params, Backoff, CallError, CallOptions, ClientConfig, ErrorObject,
                Heartbeat, HeartbeatMode, Metrics, Notification, Notifications, QueueLimits, Retry,
                Router, RpcConfig, ServerConfig, State, States,
            };

            /// A reconnecting JSON-RPC client: [`tether_adapter::rpc::Client`] on this runtime.
            pub type Client = $crate::rpc::Client<$rt>;

            /// A JSON-RPC server: [`tether_adapter::rpc::Server`] on this runtime.
            pub type Server = $crate::rpc::Server<$rt>;
        }
    };
}
