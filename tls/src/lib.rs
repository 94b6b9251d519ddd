//! TLS settings for tether's runtime adapters, the same for every runtime.
//!
//! [`ClientTls`] and [`ServerTls`] build [`rustls`] configs (ring provider, TLS 1.3 and
//! 1.2) from PEM text or files, or take one built elsewhere; [`TlsError`] says why a config
//! or a handshake failed, by cause (unknown issuer, expired, name mismatch, client
//! certificate required or refused …). The adapters wrap their sockets with these configs
//! (tether-tokio through tokio-rustls) and map failures with [`TlsError::from_io`]; nothing
//! here touches a socket, a runtime or the WebSocket core.
//!
//! ```
//! use tether_tls::{ClientTls, ServerTls};
//!
//! # fn demo(ca: &[u8], chain: &[u8], key: &[u8]) -> Result<(), tether_tls::TlsError> {
//! // A cluster node: serves with its certificate and asks peers for theirs…
//! let server = ServerTls::from_pem(chain, key)?.require_client_certs(ca)?;
//! // …and connects to peers trusting the cluster CA, presenting the same certificate.
//! let client = ClientTls::with_root_pem(ca)?.with_client_identity(chain, key)?;
//! # let _ = (server, client);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod client;
mod error;
mod names;
mod pem;
mod server;

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

pub use client::{server_name, ClientTls};
pub use error::TlsError;
pub use names::certificate_dns_names;
pub use server::ServerTls;

/// The rustls version tether builds its configs with, for [`ClientTls::from_rustls`] and
/// [`ServerTls::from_rustls`].
pub use rustls;

/// The ALPN protocol tether offers and accepts: a WebSocket upgrade is an HTTP/1.1 request.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The one crypto provider of the configs built here, named explicitly so no process-wide
/// default has to be installed (and none installed by someone else is picked up).
fn provider() -> Arc<CryptoProvider> {
    static RING: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    RING.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}
