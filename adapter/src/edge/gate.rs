//! How one accepted connection's upgrade is decided: [`Gate`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tether_core::handshake::{HttpResponse, Request};
use tether_core::rpc::Channel;
use tether_core::ws::{Connection, SendError};
use tether_tls::rustls::pki_types::CertificateDer;
use tracing::debug;

use super::{ConnectionId, Context, Decision, Edge, Identity, UpgradeRequest};

/// What the driver of an accepted connection knows when its request head arrives, and
/// the server's edge (its hook, whether it stops) to decide it with.
#[derive(Debug)]
pub(crate) struct Gate {
    edge: Arc<Edge>,
    /// Past the server's limits: answered `503` whatever the request.
    refusing: bool,
    peer_addr: SocketAddr,
    connection: ConnectionId,
    client_certificates: Vec<CertificateDer<'static>>,
}

/// What the driver does with the request head.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Accept it (the core answers a request that is no upgrade with its error's status);
    /// handlers get this context.
    Accept(Context),
    /// Refuse it with this status.
    Reject(u16),
    /// Answer it with this response.
    Respond(HttpResponse),
}

impl Gate {
    /// The gate of a new connection from `peer_addr` to the server of `edge`, which
    /// presented `client_certificates` (empty without mutual TLS).
    pub(crate) fn new(
        edge: &Arc<Edge>,
        peer_addr: SocketAddr,
        client_certificates: Vec<CertificateDer<'static>>,
    ) -> Gate {
        Gate {
            edge: edge.clone(),
            refusing: false,
            peer_addr,
            connection: ConnectionId::next(),
            client_certificates,
        }
    }

    /// The gate of a connection past the limits of the server of `edge`: it answers `503`.
    pub(crate) fn refusing(edge: &Arc<Edge>, peer_addr: SocketAddr) -> Gate {
        Gate {
            refusing: true,
            ..Gate::new(edge, peer_addr, Vec::new())
        }
    }

    /// The connection's id.
    pub(crate) fn connection(&self) -> ConnectionId {
        self.connection
    }

    /// Decides `request` with the hook (every request is accepted without one); past the
    /// limits or once the server stops, it is answered `503` without asking the hook.
    /// Gives the request back, for what the driver still reads of it (the subprotocols).
    pub(crate) fn decide(&mut self, request: Box<Request>) -> (Box<Request>, Verdict) {
        if self.refusing || self.edge.stopping().is_some() {
            return (request, Verdict::Respond(self.edge.busy()));
        }
        let Some(hook) = self.edge.admission().hook.clone() else {
            let context = self.context(Identity::anonymous());
            return (request, Verdict::Accept(context));
        };
        let certificates = std::mem::take(&mut self.client_certificates);
        let upgrade = UpgradeRequest::new(request, self.peer_addr, self.connection, certificates);
        let decision = hook.decide(&upgrade);
        let (request, certificates) = upgrade.into_parts();
        self.client_certificates = certificates;
        let verdict = match decision {
            Decision::Accept(identity) => Verdict::Accept(self.context(identity)),
            Decision::Refuse(status) => Verdict::Reject(status),
            Decision::Respond(response) => Verdict::Respond(response),
        };
        (request, verdict)
    }

    fn context(&self, identity: Identity) -> Context {
        Context::new(identity, Some(self.peer_addr), self.connection)
    }
}

/// The core objects whose pending request a [`Verdict`] answers: a WebSocket
/// [`Connection`] or an RPC [`Channel`], both server role.
pub(crate) trait Answer {
    fn accept(&mut self, now: Instant, protocol: Option<&str>) -> Result<(), SendError>;
    fn reject(&mut self, now: Instant, status: u16) -> Result<(), SendError>;
    fn answer_http(&mut self, now: Instant, response: &HttpResponse) -> Result<(), SendError>;
}

impl Answer for Connection {
    fn accept(&mut self, now: Instant, protocol: Option<&str>) -> Result<(), SendError> {
        Connection::accept(self, now, protocol, &[])
    }
    fn reject(&mut self, now: Instant, status: u16) -> Result<(), SendError> {
        Connection::reject(self, now, status)
    }
    fn answer_http(&mut self, now: Instant, response: &HttpResponse) -> Result<(), SendError> {
        Connection::answer_http(self, now, response)
    }
}

impl Answer for Channel {
    fn accept(&mut self, now: Instant, protocol: Option<&str>) -> Result<(), SendError> {
        Channel::accept(self, now, protocol, &[])
    }
    fn reject(&mut self, now: Instant, status: u16) -> Result<(), SendError> {
        Channel::reject(self, now, status)
    }
    fn answer_http(&mut self, now: Instant, response: &HttpResponse) -> Result<(), SendError> {
        Channel::answer_http(self, now, response)
    }
}

impl Verdict {
    /// Answers the pending request of `target` (opening with `protocol` if accepted);
    /// the context of an accepted connection, once open.
    pub(crate) fn apply(
        self,
        now: Instant,
        target: &mut impl Answer,
        protocol: Option<&str>,
    ) -> Option<Context> {
        match self {
            Verdict::Accept(context) => match target.accept(now, protocol) {
                Ok(()) => return Some(context),
                Err(e) => {
                    debug!(error = %e, "not accepted");
                    // A request that is no upgrade has its answer from the core already,
                    // and this does nothing; an accept we could not write is our fault.
                    let _ = target.reject(now, 500);
                }
            },
            Verdict::Reject(status) => {
                debug!(status, "refused by the hook");
                let _ = target.reject(now, status);
            }
            Verdict::Respond(response) => {
                debug!(status = response.status, "answered by the hook");
                if let Err(e) = target.answer_http(now, &response) {
                    debug!(error = %e, "the hook's answer cannot be sent");
                    let _ = target.reject(now, 500);
                }
            }
        }
        None
    }
}
