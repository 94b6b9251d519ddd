//! The server side: [`ServerTls`].

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use crate::{pem, provider, TlsError, ALPN_HTTP_1_1};

/// How a server sets up TLS for `wss://`: the certificate chain and key it presents and,
/// for mutual TLS, the CA its clients' certificates must chain to.
///
/// Cheap to clone: the rustls config is shared.
///
/// ```no_run
/// use tether_tls::ServerTls;
///
/// # fn demo() -> Result<(), tether_tls::TlsError> {
/// let tls = ServerTls::from_pem_files("node.crt", "node.key")?
///     // Only nodes with a certificate from the cluster CA get in.
///     .require_client_certs(std::fs::read("cluster-ca.crt").unwrap_or_default())?;
/// # let _ = tls;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// Presents this certificate chain (leaf first) and private key (PKCS#8, PKCS#1 or SEC1),
    /// both PEM; asks clients for no certificate. Fails if the key is unusable or does not
    /// belong to the leaf.
    pub fn from_pem(
        chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<ServerTls, TlsError> {
        let chain = pem::certificates(chain_pem.as_ref(), "certificate chain")?;
        let key = pem::private_key(key_pem.as_ref())?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(TlsError::Config)?;
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// Like [`from_pem`](Self::from_pem), reading the PEM from files.
    pub fn from_pem_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ServerTls, TlsError> {
        let chain = pem::read(chain.as_ref())?;
        let key = pem::read(key.as_ref())?;
        Self::from_pem(chain, key)
    }

    /// Mutual TLS: refuses clients that present no certificate, or one that does not chain
    /// to a CA in `ca_pem`. The client is told by a TLS alert (it sees
    /// [`TlsError::CertificateRequired`] or [`TlsError::CertificateRefused`]); the server
    /// goes on serving others.
    ///
    /// Keeps the certificate and ALPN protocols of this config; on a config from
    /// [`from_rustls`](Self::from_rustls), its other settings go back to rustls' defaults
    /// (set client verification in rustls instead to keep them).
    pub fn require_client_certs(self, ca_pem: impl AsRef<[u8]>) -> Result<ServerTls, TlsError> {
        let roots = Arc::new(pem::root_store(ca_pem.as_ref())?);
        let provider = self.config.crypto_provider().clone();
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.config.cert_resolver.clone());
        config.alpn_protocols = self.config.alpn_protocols.clone();
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// Uses a rustls config built elsewhere, as it is.
    pub fn from_rustls(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls { config }
    }

    /// The rustls config, for an adapter's acceptor.
    pub fn rustls_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> rcgen::CertifiedKey {
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen")
    }

    #[test]
    fn a_chain_and_its_key_make_a_config() {
        let pair = pair();
        let tls =
            ServerTls::from_pem(pair.cert.pem(), pair.key_pair.serialize_pem()).expect("config");
        assert_eq!(tls.config.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let result = ServerTls::from_pem(pair().cert.pem(), pair().key_pair.serialize_pem());
        assert!(matches!(result, Err(TlsError::Config(_))), "{result:?}");
    }

    #[test]
    fn client_certs_need_a_ca() {
        let pair = pair();
        let tls =
            ServerTls::from_pem(pair.cert.pem(), pair.key_pair.serialize_pem()).expect("config");
        let no_ca = tls.clone().require_client_certs("");
        assert!(
            matches!(no_ca, Err(TlsError::NoCertificate { .. })),
            "{no_ca:?}"
        );
        let with_ca = tls
            .require_client_certs(pair.cert.pem())
            .expect("mTLS config");
        assert_eq!(with_ca.config.alpn_protocols, [b"http/1.1".to_vec()]);
    }
}
