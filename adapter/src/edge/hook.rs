//! The upgrade hook: [`Hook`], and what it decides, [`Decision`].

use std::fmt;
use std::sync::Arc;

use tether_core::handshake::HttpResponse;

use super::{Identity, UpgradeRequest};

/// What a [`Hook`] decides for a request head.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Open the connection; its handlers see this identity in their
    /// [`Context`](super::Context). A request that is not a valid upgrade cannot be
    /// opened: it is answered with its error's status (400, 405, 426 …), as a server
    /// without a hook would.
    Accept(Identity),
    /// Refuse it with this HTTP status (401 without credentials, 403 with the wrong ones,
    /// 404 for a path nobody serves …) and close the connection. A status outside
    /// 200..=999 is sent as 500.
    Refuse(u16),
    /// Answer it with this plain HTTP response and close the connection: a page for a
    /// plain request, or a refusal with headers (`WWW-Authenticate`, `Retry-After`). A
    /// response that cannot be sent (see
    /// [`encode_response`](tether_core::handshake::encode_response)) is answered 500.
    Respond(HttpResponse),
}

/// Decides every request head a server receives: the upgrade hook of an
/// [`Admission`](super::Admission), the same for every server of the crate (the WebSocket
/// [`Server`](crate::Server), [`rpc::Server`](crate::rpc::Server), a node's
/// [`Peers`](crate::pool::Peers)).
///
/// It sees an [`UpgradeRequest`] (method, path, headers, Origin, the peer's address, the
/// client certificate verified by mutual TLS) and gives a [`Decision`]: accept with an
/// [`Identity`], refuse with a status, or answer a plain HTTP request (`GET /health`,
/// `GET /metrics`, a page) on the same port. Handlers then get a
/// [`Context`](super::Context) holding that identity.
///
/// ```no_run
/// use tether_adapter::rpc::{ErrorObject, ServerConfig};
/// use tether_adapter::{Context, Decision, Hook, HttpResponse, Identity, Runtime};
///
/// # async fn demo<R: Runtime>() -> std::io::Result<()> {
/// let mut config = ServerConfig::default();
/// config.admission.hook = Some(Hook::new(|request| {
///     if !request.is_upgrade() {
///         // Plain HTTP on the same port: a health check, and 404 for the rest.
///         return match request.path() {
///             "/health" => Decision::Respond(HttpResponse::new(200).with_body("ok\n")),
///             _ => Decision::Refuse(404),
///         };
///     }
///     match request.header("authorization") {
///         Some(b"Bearer ops-token") => Decision::Accept(Identity::new("ops")),
///         Some(_) => Decision::Refuse(403),
///         None => Decision::Refuse(401),
///     }
/// }));
/// let server = tether_adapter::rpc::Server::<R>::bind("127.0.0.1:9001", config)
///     .await?
///     // Simple handlers stay simple…
///     .route("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) })
///     // …and those that authorise per caller take the context.
///     .route_with_context("whoami", |_: (), context: Context| async move {
///         let who = context.identity().get::<&str>().copied().unwrap_or("anonymous");
///         Ok::<_, ErrorObject>(format!("{who} from {:?}", context.peer_addr()))
///     });
/// server.serve().await
/// # }
/// ```
///
/// A hook is a plain function, not an async one: it runs in the middle of the
/// connection's handshake, so it must be quick (a map lookup, a comparison, a signature
/// check) and never block. That keeps every driver's handshake a step of its loop rather
/// than a wait of its own. It runs on the connection's own task, or, for a request that
/// came with a plain connection, on the task that accepted it, which tries the handshake
/// at once (see [`Server::serve`](crate::Server::serve)): a slow hook slows accepting too.
/// (A node's [`Peers`](crate::pool::Peers) always opens on the connection's task.)
/// Work that waits on I/O belongs before (keys and tokens loaded at start, refreshed by a
/// task of the application's) or after (in a handler, with its [`Context`](super::Context)).
///
/// Cheap to clone.
#[derive(Clone)]
pub struct Hook(Arc<dyn Fn(&UpgradeRequest) -> Decision + Send + Sync>);

impl Hook {
    /// A hook that decides with `decide`.
    pub fn new(decide: impl Fn(&UpgradeRequest) -> Decision + Send + Sync + 'static) -> Hook {
        Hook(Arc::new(decide))
    }

    /// Decides `request`.
    pub fn decide(&self, request: &UpgradeRequest) -> Decision {
        (self.0)(request)
    }
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hook")
    }
}
