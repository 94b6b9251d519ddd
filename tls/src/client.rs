//! The client side: [`ClientTls`] and the server name a URL's host gives.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};

use crate::{pem, provider, TlsError, ALPN_HTTP_1_1};

/// How a client sets up TLS for `wss://`: whom it trusts and, for mutual TLS, the
/// certificate it presents.
///
/// [`ClientTls::default()`] trusts the Mozilla roots of `webpki-roots`, as a browser
/// would; [`with_root_pem`](Self::with_root_pem) trusts a private CA instead (the usual
/// case between the nodes of a cluster). Cheap to clone: the rustls config is shared.
///
/// ```
/// use tether_tls::ClientTls;
///
/// # fn demo(ca_pem: &[u8], chain_pem: &[u8], key_pem: &[u8]) -> Result<(), tether_tls::TlsError> {
/// // Public servers: the default trust store.
/// let public = ClientTls::default();
/// // Cluster nodes: our own CA, and our node's certificate for mutual TLS.
/// let cluster = ClientTls::with_root_pem(ca_pem)?.with_client_identity(chain_pem, key_pem)?;
/// # let _ = (public, cluster);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl Default for ClientTls {
    /// Trusts the `webpki-roots` CAs and presents no certificate. Built once per process.
    fn default() -> Self {
        static WEBPKI: OnceLock<Arc<ClientConfig>> = OnceLock::new();
        let config = WEBPKI.get_or_init(|| {
            let roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            match build(roots) {
                Ok(config) => Arc::new(config),
                // The defaults of the provider we ship always hold a protocol version.
                Err(e) => unreachable!("ring's default protocol versions: {e}"),
            }
        });
        ClientTls {
            config: config.clone(),
        }
    }
}

impl ClientTls {
    /// Trusts exactly the CA certificates in `pem` (one or more), and no others.
    pub fn with_root_pem(pem: impl AsRef<[u8]>) -> Result<ClientTls, TlsError> {
        let roots = pem::root_store(pem.as_ref())?;
        Ok(ClientTls {
            config: Arc::new(build(roots)?),
        })
    }

    /// Like [`with_root_pem`](Self::with_root_pem), reading the PEM from a file.
    pub fn with_root_pem_file(path: impl AsRef<Path>) -> Result<ClientTls, TlsError> {
        Self::with_root_pem(pem::read(path.as_ref())?)
    }

    /// Presents this certificate chain (leaf first) and key to servers that ask for one:
    /// mutual TLS. Fails if the key is unusable or does not belong to the leaf.
    pub fn with_client_identity(
        self,
        chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<ClientTls, TlsError> {
        let chain = pem::certificates(chain_pem.as_ref(), "certificate chain")?;
        let key = pem::private_key(key_pem.as_ref())?;
        let identity = CertifiedKey::from_der(chain, key, self.config.crypto_provider())
            .map_err(TlsError::Config)?;
        let mut config = (*self.config).clone();
        config.client_auth_cert_resolver = Arc::new(Identity(Arc::new(identity)));
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// Like [`with_client_identity`](Self::with_client_identity), reading the PEM from files.
    pub fn with_client_identity_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ClientTls, TlsError> {
        let chain = pem::read(chain.as_ref())?;
        let key = pem::read(key.as_ref())?;
        self.with_client_identity(chain, key)
    }

    /// Uses a rustls config built elsewhere, as it is (its roots, verifier, ALPN …).
    /// [`with_client_identity`](Self::with_client_identity) still applies to it.
    pub fn from_rustls(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls { config }
    }

    /// The rustls config, for an adapter's connector.
    pub fn rustls_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }
}

/// The name a client checks the server's certificate against, and sends as SNI: a DNS name
/// (sent) or an IP address (checked against the certificate's IP entries, not sent). `host`
/// is a URL's host, IPv6 without brackets.
///
/// ```
/// assert!(tether_tls::server_name("node-1.cluster.internal").is_ok());
/// assert!(tether_tls::server_name("::1").is_ok());
/// assert!(tether_tls::server_name("not a name").is_err());
/// ```
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host)
        .map(|name| name.to_owned())
        .map_err(|_| TlsError::InvalidServerName(host.to_owned()))
}

/// A client config as tether builds them: ring, TLS 1.3 and 1.2, `http/1.1` offered by
/// ALPN (WebSocket upgrades are HTTP/1.1), no client certificate.
fn build(roots: RootCertStore) -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(config)
}

/// Always presents one certificate. rustls checks that the server accepts its signature
/// scheme, and the server decides whether it trusts the chain.
#[derive(Debug)]
struct Identity(Arc<CertifiedKey>);

impl ResolvesClientCert for Identity {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_trusts_the_webpki_roots_and_is_shared() {
        let a = ClientTls::default();
        let b = ClientTls::default();
        assert!(Arc::ptr_eq(&a.config, &b.config));
        assert_eq!(a.config.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(!a.config.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn an_identity_is_presented() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).expect("rcgen");
        let node = rcgen::generate_simple_self_signed(vec!["node".into()]).expect("rcgen");
        let tls = ClientTls::with_root_pem(ca.cert.pem())
            .and_then(|tls| {
                tls.with_client_identity(node.cert.pem(), node.key_pair.serialize_pem())
            })
            .expect("identity");
        assert!(tls.config.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let node = rcgen::generate_simple_self_signed(vec!["node".into()]).expect("rcgen");
        let other = rcgen::generate_simple_self_signed(vec!["other".into()]).expect("rcgen");
        let result = ClientTls::default()
            .with_client_identity(node.cert.pem(), other.key_pair.serialize_pem());
        assert!(matches!(result, Err(TlsError::Config(_))), "{result:?}");
    }

    #[test]
    fn hosts_become_server_names() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("localhost"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("a b"),
            Err(TlsError::InvalidServerName(h)) if h == "a b"
        ));
    }
}
