//! Reading certificates and keys from PEM text and files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::RootCertStore;

use crate::TlsError;

/// Every certificate in `pem`, in order (leaf first, for a chain); at least one.
pub(crate) fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(what, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { what });
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey,
        other => pem_error("private key", other),
    })
}

/// A trust store holding exactly the certificates in `pem`.
pub(crate) fn root_store(pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(pem, "root certificates")? {
        roots.add(cert).map_err(TlsError::Config)?;
    }
    Ok(roots)
}

/// Every certificate revocation list in `pem`, in order; at least one.
pub(crate) fn revocation_lists(
    pem: &[u8],
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let crls = CertificateRevocationListDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("revocation lists", e))?;
    if crls.is_empty() {
        return Err(TlsError::NoRevocationList);
    }
    Ok(crls)
}

/// The contents of a PEM file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::ReadFile {
        path: path.to_owned(),
        source: Arc::new(e),
    })
}

fn pem_error(what: &'static str, e: pem::Error) -> TlsError {
    TlsError::Pem {
        what,
        source: Arc::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> rcgen::CertifiedKey {
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen")
    }

    #[test]
    fn a_chain_keeps_its_order() {
        let a = self_signed();
        let b = self_signed();
        let pem = format!("{}{}", a.cert.pem(), b.cert.pem());
        let certs = certificates(pem.as_bytes(), "certificate chain").expect("two certs");
        assert_eq!(certs, [a.cert.der().clone(), b.cert.der().clone()]);
    }

    #[test]
    fn text_without_a_certificate_says_so() {
        let key = self_signed().key_pair.serialize_pem();
        assert!(matches!(
            certificates(key.as_bytes(), "certificate chain"),
            Err(TlsError::NoCertificate {
                what: "certificate chain"
            })
        ));
        assert!(matches!(
            private_key(self_signed().cert.pem().as_bytes()),
            Err(TlsError::NoPrivateKey)
        ));
    }

    #[test]
    fn a_key_is_found_among_certificates() {
        let pair = self_signed();
        let pem = format!("{}{}", pair.cert.pem(), pair.key_pair.serialize_pem());
        let key = private_key(pem.as_bytes()).expect("a key");
        assert_eq!(key.secret_der(), pair.key_pair.serialize_der());
    }

    #[test]
    fn broken_pem_is_a_pem_error() {
        let broken =
            b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            certificates(broken, "root certificates"),
            Err(TlsError::Pem {
                what: "root certificates",
                ..
            })
        ));
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let path = Path::new("/nonexistent/tether-tls/cert.pem");
        match read(path) {
            Err(TlsError::ReadFile { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{other:?}"),
        }
    }
}
