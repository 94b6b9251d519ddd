//! What the upgrade hook sees: [`UpgradeRequest`].

use std::net::SocketAddr;

use tether_core::handshake::{HandshakeError, Request};
use tether_tls::rustls::pki_types::CertificateDer;

use super::ConnectionId;

/// A request head a server received, with what it knows of the connection: what a
/// [`Hook`](super::Hook) decides on.
///
/// It is a WebSocket upgrade ([`is_upgrade`](Self::is_upgrade)), or a plain HTTP request
/// (a health check, a metrics scrape, a browser asking for a page) that the hook may
/// answer with [`Decision::Respond`](super::Decision::Respond).
#[derive(Debug)]
pub struct UpgradeRequest {
    request: Box<Request>,
    peer_addr: SocketAddr,
    connection: ConnectionId,
    client_certificates: Vec<CertificateDer<'static>>,
}

impl UpgradeRequest {
    pub(crate) fn new(
        request: Box<Request>,
        peer_addr: SocketAddr,
        connection: ConnectionId,
        client_certificates: Vec<CertificateDer<'static>>,
    ) -> UpgradeRequest {
        UpgradeRequest {
            request,
            peer_addr,
            connection,
            client_certificates,
        }
    }

    /// The method (`GET` for every upgrade).
    pub fn method(&self) -> &str {
        &self.request.method
    }

    /// The request target: path and query, as sent (`/rpc?token=…`).
    pub fn path(&self) -> &str {
        &self.request.path
    }

    /// Every header, names as sent, in order.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.request.headers
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.request.header(name)
    }

    /// The `Origin` header, which browsers send (and other clients may not): the page
    /// that opened the connection. A server that serves browsers checks it against the
    /// origins it trusts, since a browser lets any page open a WebSocket to any address.
    pub fn origin(&self) -> Option<&str> {
        std::str::from_utf8(self.header("Origin")?).ok()
    }

    /// Whether it is a valid WebSocket upgrade. If not, accepting it answers it with the
    /// status of [`not_upgrade_reason`](Self::not_upgrade_reason) (400, 405, 426 …).
    pub fn is_upgrade(&self) -> bool {
        self.request.is_upgrade()
    }

    /// Why it is not a valid WebSocket upgrade; `None` if it is one.
    pub fn not_upgrade_reason(&self) -> Option<&HandshakeError> {
        self.request.upgrade.as_ref().err()
    }

    /// Subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        self.request.protocols()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The connection it came on; handlers see the same id in their
    /// [`Context`](super::Context).
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }

    /// The client's certificate, leaf first, then any intermediates it sent: on a `wss://`
    /// server with mutual TLS ([`ServerTls::require_client_certs`](crate::ServerTls)), a
    /// chain the TLS handshake verified against the server's CA (and its revocation lists).
    /// Empty without mutual TLS. [`client_certificate_names`](Self::client_certificate_names)
    /// reads the names it was issued for.
    pub fn client_certificates(&self) -> &[CertificateDer<'static>] {
        &self.client_certificates
    }

    /// The DNS names the verified client certificate was issued for (its subject
    /// alternative names, see [`tether_tls::certificate_dns_names`]); empty without
    /// mutual TLS. A cluster names each node's certificate after the node, so this is
    /// who the peer is.
    pub fn client_certificate_names(&self) -> Vec<String> {
        self.client_certificates
            .first()
            .map(tether_tls::certificate_dns_names)
            .unwrap_or_default()
    }

    /// The request as the core parsed it, and the certificates.
    pub(crate) fn into_parts(self) -> (Box<Request>, Vec<CertificateDer<'static>>) {
        (self.request, self.client_certificates)
    }
}
