//! A throwaway PKI for the TLS tests: a CA and the certificates it issues, made with
//! `rcgen` at run time and written as PEM files into a temporary folder for the peers.
//!
//! Every test makes its own, so no test depends on files in the repository or on the
//! clock of the day they were made.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use tether_tokio::{ClientTls, ServerTls};

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From 2020 to 2100.
    Current,
    /// 2020 to 2021: expired.
    Expired,
    /// From 2090: not valid yet.
    Future,
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A server's certificate (TLS server authentication).
    Server,
    /// A client's certificate, for mutual TLS (TLS client authentication).
    Client,
}

/// A certificate and its key, as PEM text and as files.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The certificate followed by its CA's: a chain, leaf first.
    pub chain_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: String,
    /// `chain_pem` in a file.
    pub chain_path: PathBuf,
    /// `key_pem` in a file.
    pub key_path: PathBuf,
    /// Its serial number, unique in its PKI (what a revocation list names).
    pub serial: u64,
}

impl Leaf {
    /// A server TLS config presenting this certificate.
    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem_files(&self.chain_path, &self.key_path).expect("server TLS config")
    }
}

/// A test CA, its folder, and what it issued. The folder goes when this drops.
pub struct TestPki {
    dir: PathBuf,
    ca: Certificate,
    ca_key: KeyPair,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// `ca_pem` in a file.
    pub ca_path: PathBuf,
    /// The serial number of the next certificate issued.
    next_serial: AtomicU64,
}

impl TestPki {
    /// A fresh CA named `name`, in a fresh temporary folder.
    pub fn new(name: &str) -> TestPki {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tether-pki-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the PKI folder");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, Validity::Current);
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        let ca_pem = ca.pem();
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, &ca_pem).expect("write the CA");
        TestPki {
            dir,
            ca,
            ca_key,
            ca_pem,
            ca_path,
            next_serial: AtomicU64::new(1),
        }
    }

    /// A server certificate for `localhost` and `127.0.0.1`, valid now.
    pub fn server(&self) -> Leaf {
        self.issue(
            "server",
            &["localhost", "127.0.0.1"],
            Usage::Server,
            Validity::Current,
        )
    }

    /// A client certificate for mutual TLS, valid now.
    pub fn client(&self, name: &str) -> Leaf {
        self.issue(name, &[name], Usage::Client, Validity::Current)
    }

    /// Issues a certificate for `names` (DNS names or IP addresses), saved as `file.crt`
    /// and `file.key`.
    pub fn issue(&self, file: &str, names: &[&str], usage: Usage, validity: Validity) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().map_or(file, String::as_str),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        // OpenSSL's strict checks (Python 3.13's default) want it.
        params.use_authority_key_identifier_extension = true;
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        params.serial_number = Some(SerialNumber::from(serial));
        set_validity(&mut params, validity);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("leaf certificate");
        let leaf = Leaf {
            chain_pem: format!("{}{}", cert.pem(), self.ca_pem),
            key_pem: key.serialize_pem(),
            chain_path: self.dir.join(format!("{file}.crt")),
            key_path: self.dir.join(format!("{file}.key")),
            serial,
        };
        std::fs::write(&leaf.chain_path, &leaf.chain_pem).expect("write the chain");
        std::fs::write(&leaf.key_path, &leaf.key_pem).expect("write the key");
        leaf
    }

    /// The CA's certificate revocation list, PEM, revoking `revoked` (valid from 2020 to
    /// 2100, like the certificates).
    pub fn revocation_list(&self, revoked: &[&Leaf]) -> String {
        let crl = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2020, 1, 1),
            next_update: rcgen::date_time_ymd(2100, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|leaf| RevokedCertParams {
                    serial_number: SerialNumber::from(leaf.serial),
                    revocation_time: rcgen::date_time_ymd(2021, 1, 1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.ca, &self.ca_key)
        .expect("revocation list");
        crl.pem().expect("revocation list PEM")
    }

    /// A client TLS config trusting this CA alone.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls::with_root_pem_file(&self.ca_path).expect("client TLS config")
    }

    /// The folder the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn set_validity(params: &mut CertificateParams, validity: Validity) {
    let (from, to) = match validity {
        Validity::Current => (2020, 2100),
        Validity::Expired => (2020, 2021),
        Validity::Future => (2090, 2100),
    };
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(to, 1, 1);
}
