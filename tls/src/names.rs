//! What a certificate names: [`certificate_dns_names`].

use rustls::pki_types::CertificateDer;

/// The DNS names `certificate` was issued for (its subject alternative names), for a
/// server's upgrade hook to tell which node or client a verified client certificate
/// belongs to. Empty if it names none, or is not a certificate rustls could have verified.
///
/// Only use it on a certificate the TLS handshake verified (an upgrade hook's
/// `client_certificates`): the names of an unverified one prove nothing.
///
/// ```
/// let pair = rcgen::generate_simple_self_signed(vec!["node-2.cluster".into()]).unwrap();
/// let names = tether_tls::certificate_dns_names(pair.cert.der());
/// assert_eq!(names, ["node-2.cluster"]);
/// ```
pub fn certificate_dns_names(certificate: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(certificate) {
        Ok(parsed) => parsed.valid_dns_names().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dns_name_and_nothing_from_garbage() {
        let pair = rcgen::generate_simple_self_signed(vec![
            "node-1.cluster".into(),
            "127.0.0.1".into(),
            "*.node.cluster".into(),
        ])
        .expect("rcgen");
        // The IP address is not a DNS name.
        assert_eq!(
            certificate_dns_names(pair.cert.der()),
            ["node-1.cluster", "*.node.cluster"]
        );
        assert!(certificate_dns_names(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])).is_empty());
    }
}
