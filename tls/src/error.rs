//! What can go wrong with TLS: [`TlsError`], from building a config to the handshake.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::{AlertDescription, CertificateError};

/// A TLS configuration that cannot be built, or a TLS handshake that failed, by cause.
///
/// Certificate problems are told apart so a caller can act on them (an unknown issuer
/// wants a root CA, an expired certificate a renewal); what rustls reports beyond those
/// stays available in the catch-all variants. Cheap to clone.
///
/// ```
/// use tether_tls::TlsError;
///
/// fn advice(e: &TlsError) -> &'static str {
///     match e {
///         TlsError::UnknownIssuer => "add the server's CA with ClientTls::with_root_pem",
///         TlsError::NameMismatch { .. } => "connect by a name the certificate holds",
///         TlsError::CertificateRequired => "present one with with_client_identity",
///         _ => "see the message",
///     }
/// }
/// assert_eq!(advice(&TlsError::UnknownIssuer), "add the server's CA with ClientTls::with_root_pem");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Arc<io::Error>,
    },
    /// PEM text is malformed.
    #[error("invalid PEM in the {what}: {source}")]
    Pem {
        /// Which input: "certificate chain", "private key", "root certificates" or
        /// "revocation lists".
        what: &'static str,
        /// What the parser said.
        source: Arc<rustls::pki_types::pem::Error>,
    },
    /// PEM text holds no certificate where at least one is needed.
    #[error("no certificate in the {what}")]
    NoCertificate {
        /// Which input: "certificate chain" or "root certificates".
        what: &'static str,
    },
    /// PEM text holds no private key (PKCS#8, PKCS#1 or SEC1).
    #[error("no private key in the PEM")]
    NoPrivateKey,
    /// PEM text holds no certificate revocation list (`X509 CRL`) where one is needed.
    #[error("no certificate revocation list in the PEM")]
    NoRevocationList,
    /// rustls refused the settings: a key it cannot use, a key that does not belong to the
    /// certificate, a root it cannot parse …
    #[error("invalid TLS configuration: {0}")]
    Config(rustls::Error),
    /// The URL's host cannot be a TLS server name.
    #[error("{0:?} is not a valid TLS server name")]
    InvalidServerName(String),

    /// The peer's certificate does not chain to a trusted root (a self-signed or private-CA
    /// certificate the trust store does not hold).
    #[error("the peer's certificate is signed by an unknown issuer")]
    UnknownIssuer,
    /// The peer's certificate has expired.
    #[error("the peer's certificate has expired")]
    Expired,
    /// The peer's certificate is not valid yet (or a clock is wrong).
    #[error("the peer's certificate is not valid yet")]
    NotYetValid,
    /// The server's certificate is not for the host we connected to.
    #[error("the server's certificate is not valid for this host (it names {presented:?})")]
    NameMismatch {
        /// The names the certificate holds (empty if rustls did not say).
        presented: Vec<String>,
    },
    /// The peer's certificate has been revoked.
    #[error("the peer's certificate has been revoked")]
    Revoked,
    /// The peer's certificate is unusable for another reason (bad signature or encoding,
    /// wrong key usage …).
    #[error("the peer's certificate is invalid: {0:?}")]
    InvalidCertificate(CertificateError),
    /// A client certificate was required and none was presented. The client sees this when
    /// the server asks for a certificate it lacks; the server when a client sends none.
    #[error("a client certificate is required and none was presented")]
    CertificateRequired,
    /// The peer refused the certificate we presented, with this alert (`UnknownCA`,
    /// `BadCertificate`, `CertificateExpired` …).
    #[error("the peer refused our certificate ({0:?})")]
    CertificateRefused(AlertDescription),
    /// The peer ended the handshake with this alert for a reason other than certificates
    /// (no protocol version or cipher suite in common, say).
    #[error("the peer sent TLS alert {0:?}")]
    Alert(AlertDescription),
    /// Any other TLS failure: a message that is not TLS (a plain server behind a `wss://`
    /// URL), a decryption error …
    #[error("TLS failed: {0}")]
    Protocol(rustls::Error),
}

impl TlsError {
    /// The TLS error inside an I/O error, if there is one.
    ///
    /// tokio-rustls and futures-rustls report a failed handshake or record as an
    /// [`io::Error`] wrapping the [`rustls::Error`]; this recovers it and says what it means.
    ///
    /// ```
    /// use std::io;
    /// use tether_tls::{rustls, TlsError};
    ///
    /// let e = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::NoCertificatesPresented);
    /// assert!(matches!(TlsError::from_io(&e), Some(TlsError::CertificateRequired)));
    /// assert!(TlsError::from_io(&io::Error::other("not TLS")).is_none());
    /// ```
    pub fn from_io(error: &io::Error) -> Option<TlsError> {
        let inner = error.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some(TlsError::from(inner.clone()))
    }
}

impl From<rustls::Error> for TlsError {
    fn from(error: rustls::Error) -> Self {
        match error {
            rustls::Error::InvalidCertificate(e) => certificate_error(e),
            rustls::Error::NoCertificatesPresented => TlsError::CertificateRequired,
            rustls::Error::AlertReceived(alert) => alert_received(alert),
            other => TlsError::Protocol(other),
        }
    }
}

fn certificate_error(error: CertificateError) -> TlsError {
    match error {
        CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => TlsError::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            TlsError::NotYetValid
        }
        CertificateError::NotValidForName => TlsError::NameMismatch {
            presented: Vec::new(),
        },
        CertificateError::NotValidForNameContext { presented, .. } => {
            TlsError::NameMismatch { presented }
        }
        CertificateError::Revoked => TlsError::Revoked,
        other => TlsError::InvalidCertificate(other),
    }
}

/// An alert from the peer. Alerts about certificates can only concern the one we
/// presented: our own verdict on the peer's certificate is never an alert we receive.
fn alert_received(alert: AlertDescription) -> TlsError {
    match alert {
        AlertDescription::CertificateRequired => TlsError::CertificateRequired,
        AlertDescription::BadCertificate
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::CertificateRevoked
        | AlertDescription::CertificateExpired
        | AlertDescription::CertificateUnknown
        | AlertDescription::UnknownCA
        | AlertDescription::AccessDenied => TlsError::CertificateRefused(alert),
        other => TlsError::Alert(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_causes_are_told_apart() {
        let cases = [
            (CertificateError::UnknownIssuer, "UnknownIssuer"),
            (CertificateError::Expired, "Expired"),
            (CertificateError::NotValidYet, "NotYetValid"),
            (CertificateError::NotValidForName, "NameMismatch"),
            (CertificateError::Revoked, "Revoked"),
            (CertificateError::BadSignature, "InvalidCertificate"),
        ];
        for (cause, want) in cases {
            let got = TlsError::from(rustls::Error::InvalidCertificate(cause.clone()));
            assert!(format!("{got:?}").starts_with(want), "{cause:?} -> {got:?}");
        }
    }

    #[test]
    fn names_presented_are_kept() {
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: rustls::pki_types::ServerName::try_from("a.example")
                .expect("a valid name")
                .to_owned(),
            presented: vec!["b.example".into()],
        });
        match TlsError::from(e) {
            TlsError::NameMismatch { presented } => assert_eq!(presented, ["b.example"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alerts_about_our_certificate_are_refusals() {
        let refused = TlsError::from(rustls::Error::AlertReceived(AlertDescription::UnknownCA));
        assert!(matches!(
            refused,
            TlsError::CertificateRefused(AlertDescription::UnknownCA)
        ));
        let required = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(matches!(
            TlsError::from(required),
            TlsError::CertificateRequired
        ));
        let other = rustls::Error::AlertReceived(AlertDescription::ProtocolVersion);
        assert!(matches!(
            TlsError::from(other),
            TlsError::Alert(AlertDescription::ProtocolVersion)
        ));
    }

    #[test]
    fn io_errors_without_tls_inside_are_not_tls_errors() {
        let plain = io::Error::new(io::ErrorKind::InvalidData, "garbage");
        assert!(TlsError::from_io(&plain).is_none());
        let bare = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(TlsError::from_io(&bare).is_none());
    }
}
