//! The server side: [`ServerTls`].

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateRevocationListDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

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
    /// Mutual TLS: the CAs client certificates must chain to, and the revocation lists
    /// they are checked against (kept to rebuild the verifier when CRLs are added).
    client_auth: Option<ClientAuth>,
}

#[derive(Debug, Clone)]
struct ClientAuth {
    roots: Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
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
            client_auth: None,
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
        let auth = ClientAuth {
            roots: Arc::new(pem::root_store(ca_pem.as_ref())?),
            crls: Vec::new(),
        };
        self.verify_clients(auth)
    }

    /// Mutual TLS with revocation: client certificates are also checked against these
    /// certificate revocation lists (PEM, one or more `X509 CRL` blocks), and one that a
    /// list revokes is refused during the TLS handshake (the client sees
    /// [`TlsError::CertificateRefused`] with `CertificateRevoked`). Call after
    /// [`require_client_certs`](Self::require_client_certs); lists add up over calls.
    ///
    /// Every certificate of a client's chain below its root is checked, so give a list
    /// from each CA that issues client certificates or intermediates: a certificate whose
    /// issuer has no list here is refused, as its status is unknown. A list past its next
    /// update is still used. Lists are read when this is called: to take a newer list,
    /// build the config again and start the server with it.
    ///
    /// ```no_run
    /// use tether_tls::ServerTls;
    ///
    /// # fn demo() -> Result<(), tether_tls::TlsError> {
    /// let tls = ServerTls::from_pem_files("node.crt", "node.key")?
    ///     .require_client_certs(std::fs::read("cluster-ca.crt").unwrap_or_default())?
    ///     .with_crls_file("cluster-ca.crl")?;
    /// # let _ = tls;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_crls(self, crls_pem: impl AsRef<[u8]>) -> Result<ServerTls, TlsError> {
        let Some(mut auth) = self.client_auth.clone() else {
            return Err(TlsError::Config(rustls::Error::General(
                "revocation lists need require_client_certs first".into(),
            )));
        };
        auth.crls.extend(pem::revocation_lists(crls_pem.as_ref())?);
        self.verify_clients(auth)
    }

    /// Like [`with_crls`](Self::with_crls), reading the PEM from a file.
    pub fn with_crls_file(self, path: impl AsRef<Path>) -> Result<ServerTls, TlsError> {
        let crls = pem::read(path.as_ref())?;
        self.with_crls(crls)
    }

    /// This config, asking clients for certificates that `auth` verifies.
    fn verify_clients(self, auth: ClientAuth) -> Result<ServerTls, TlsError> {
        let provider = self.config.crypto_provider().clone();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(auth.roots.clone(), provider.clone())
                .with_crls(auth.crls.iter().cloned())
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
            client_auth: Some(auth),
        })
    }

    /// Uses a rustls config built elsewhere, as it is.
    pub fn from_rustls(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls {
            config,
            client_auth: None,
        }
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

    /// A CA, and a CRL of it revoking serial 7, both PEM.
    fn ca_and_crl() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = params.self_signed(&key).expect("CA");
        let crl = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(7u64),
                revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                reason_code: None,
                invalidity_date: None,
            }],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&ca, &key)
        .expect("CRL");
        (ca.pem(), crl.pem().expect("CRL PEM"))
    }

    #[test]
    fn revocation_lists_need_mutual_tls_and_at_least_one_list() {
        let pair = pair();
        let tls =
            ServerTls::from_pem(pair.cert.pem(), pair.key_pair.serialize_pem()).expect("config");
        let (ca, crl) = ca_and_crl();
        let without_mtls = tls.clone().with_crls(&crl);
        assert!(
            matches!(without_mtls, Err(TlsError::Config(_))),
            "{without_mtls:?}"
        );
        let mtls = tls.require_client_certs(&ca).expect("mTLS config");
        let empty = mtls.clone().with_crls(ca.as_bytes());
        assert!(
            matches!(empty, Err(TlsError::NoRevocationList)),
            "{empty:?}"
        );
        let with_crl = mtls
            .with_crls(&crl)
            .expect("a CRL")
            .with_crls(&crl)
            .expect("lists add up");
        let auth = with_crl.client_auth.as_ref().expect("mutual TLS");
        assert_eq!(auth.crls.len(), 2);
        assert_eq!(with_crl.config.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_list_that_is_not_a_crl_is_refused() {
        let pair = pair();
        let (ca, _) = ca_and_crl();
        let mtls = ServerTls::from_pem(pair.cert.pem(), pair.key_pair.serialize_pem())
            .expect("config")
            .require_client_certs(&ca)
            .expect("mTLS config");
        let garbage = "-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n";
        let refused = mtls.with_crls(garbage);
        assert!(matches!(refused, Err(TlsError::Config(_))), "{refused:?}");
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
