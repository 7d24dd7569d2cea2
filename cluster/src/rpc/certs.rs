//! The certificates of internode mutual TLS: a cluster CA, and per-node certificates it signs.
//!
//! `kaa-node certs init` calls [`init_ca`] (a self-signed CA in `ca.pem` and `ca.key`);
//! `kaa-node certs issue` calls [`issue`] (a node's `<name>.pem` and `<name>.key`, plus a copy
//! of `ca.pem`, so the three paths of `[cluster]` sit in one folder). A standalone node that was
//! given no certificates makes its own CA and node certificate with [`standalone`].
//!
//! Keys are ECDSA P-256 and are written with mode 0600. A node certificate carries the IP
//! addresses and DNS names peers dial it by (its `thriftHost` in ZooKeeper) as subject
//! alternative names, and is good for both TLS roles, since every node serves Thrift and calls
//! its peers. The CA's common name is derived from its public key, so a CA can sign again from
//! its two files alone, without a certificate parser, and two clusters' CAs never share a name.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// The CA certificate's file name in a CA folder and next to each node's files.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key's file name in a CA folder.
pub const CA_KEY_FILE: &str = "ca.key";
/// How long a CA made by [`init_ca`] is valid.
pub const CA_VALIDITY_DAYS: u32 = 3650;
/// How long a node certificate is valid unless the caller says otherwise.
pub const NODE_VALIDITY_DAYS: u32 = 825;

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The folder already holds a CA; making another would orphan every certificate it signed.
    #[error("{0} already exists: this folder already holds a cluster CA")]
    CaExists(PathBuf),
    /// A node certificate needs at least one address to be reached by.
    #[error("a node certificate needs at least one --ip or --dns name")]
    NoSubjectNames,
    /// A node name is also a file name: letters, digits, `.`, `-` and `_` only.
    #[error("invalid node name {0:?}: use letters, digits, '.', '-' and '_'")]
    BadName(String),
    /// A DNS name is not a valid name.
    #[error("invalid DNS name {0:?}")]
    BadDnsName(String),
    /// Key generation, parsing or signing failed.
    #[error("{context}: {source}")]
    Rcgen {
        /// What was being done.
        context: &'static str,
        /// The generator's error.
        source: rcgen::Error,
    },
}

/// The three PEM files a node's internode TLS is configured with (`cluster.tls_ca`,
/// `cluster.tls_cert`, `cluster.tls_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The cluster CA certificate, the one trust anchor for peers.
    pub ca: PathBuf,
    /// This node's certificate.
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
}

/// A node certificate's subject: its name and the addresses peers reach it at.
#[derive(Debug, Clone, Default)]
pub struct NodeSubject {
    /// Common name, also the base of the file names.
    pub name: String,
    /// IP address subject alternative names.
    pub ips: Vec<IpAddr>,
    /// DNS subject alternative names.
    pub dns: Vec<String>,
}

/// Creates a cluster CA in `dir`: `ca.pem` and `ca.key` (0600). Refuses to replace an existing
/// CA key. Returns the certificate's path.
pub fn init_ca(dir: &Path) -> Result<PathBuf, CertError> {
    let key_path = dir.join(CA_KEY_FILE);
    if key_path.exists() {
        return Err(CertError::CaExists(key_path));
    }
    create_dir(dir)?;
    let key = KeyPair::generate().map_err(rcgen_error("cannot generate the CA key"))?;
    let mut params = ca_params(&key);
    params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(CA_VALIDITY_DAYS.into());
    let cert = params
        .self_signed(&key)
        .map_err(rcgen_error("cannot sign the CA certificate"))?;
    write_file(&key_path, key.serialize_pem().as_bytes(), true)?;
    let cert_path = dir.join(CA_CERT_FILE);
    write_file(&cert_path, cert.pem().as_bytes(), false)?;
    Ok(cert_path)
}

/// Issues a node certificate signed by the CA in `ca_dir`, valid for `days`, into `out`:
/// `<name>.pem`, `<name>.key` (0600) and a copy of `ca.pem`. Replaces earlier files of the same
/// name.
pub fn issue(
    ca_dir: &Path,
    subject: &NodeSubject,
    days: u32,
    out: &Path,
) -> Result<TlsFiles, CertError> {
    let name_ok = !subject.name.is_empty()
        && !subject.name.starts_with('.')
        && subject
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !name_ok {
        return Err(CertError::BadName(subject.name.clone()));
    }
    if subject.ips.is_empty() && subject.dns.is_empty() {
        return Err(CertError::NoSubjectNames);
    }
    let ca_key_path = ca_dir.join(CA_KEY_FILE);
    let ca_key = KeyPair::from_pem(&read_file(&ca_key_path)?)
        .map_err(rcgen_error("cannot parse the CA key"))?;
    let ca_cert = read_file(&ca_dir.join(CA_CERT_FILE))?;
    let issuer = Issuer::new(ca_params(&ca_key), ca_key);

    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, subject.name.as_str());
    params.subject_alt_names = subject
        .ips
        .iter()
        .copied()
        .map(SanType::IpAddress)
        .collect();
    for name in &subject.dns {
        let dns = name
            .as_str()
            .try_into()
            .map_err(|_| CertError::BadDnsName(name.clone()))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(days.into());
    let key = KeyPair::generate().map_err(rcgen_error("cannot generate the node key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(rcgen_error("cannot sign the node certificate"))?;

    create_dir(out)?;
    let files = TlsFiles {
        ca: out.join(CA_CERT_FILE),
        cert: out.join(format!("{}.pem", subject.name)),
        key: out.join(format!("{}.key", subject.name)),
    };
    write_file(&files.key, key.serialize_pem().as_bytes(), true)?;
    write_file(&files.cert, cert.pem().as_bytes(), false)?;
    if files.ca != ca_dir.join(CA_CERT_FILE) {
        write_file(&files.ca, ca_cert.as_bytes(), false)?;
    }
    Ok(files)
}

/// A standalone node's own TLS files under `dir`: the CA is made on first start and kept (so
/// client certificates issued from it stay good); the node certificate, for `subject`, is
/// issued anew on every start, so it always names the current Thrift host.
pub fn standalone(dir: &Path, subject: &NodeSubject) -> Result<TlsFiles, CertError> {
    if !dir.join(CA_KEY_FILE).exists() {
        init_ca(dir)?;
    }
    issue(dir, subject, NODE_VALIDITY_DAYS, dir)
}

/// The CA's parameters, rebuilt the same from its key whenever it signs.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let fingerprint = Sha256::digest(key.public_key_raw());
    let id: String = fingerprint[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "kaa-rs");
    params
        .distinguished_name
        .push(DnType::CommonName, format!("kaa-rs cluster CA {id}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn rcgen_error(context: &'static str) -> impl FnOnce(rcgen::Error) -> CertError {
    move |source| CertError::Rcgen { context, source }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.to_owned(),
        source,
    }
}

fn create_dir(dir: &Path) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))
}

fn read_file(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(io_error(path))
}

/// Writes `contents` to `path`; a secret is only ever readable by its owner, even when it
/// replaces a file that was not.
fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), CertError> {
    let mode = if secret { 0o600 } else { 0o644 };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io_error(path))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_error(path))?;
    file.write_all(contents).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_ca_signs_node_certificates_with_private_keys_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        init_ca(&ca_dir).unwrap();
        assert_eq!(mode(&ca_dir.join(CA_KEY_FILE)), 0o600);
        let subject = NodeSubject {
            name: "node-1".into(),
            ips: vec!["10.0.0.1".parse().unwrap()],
            dns: vec!["node-1.example".into()],
        };
        let files = issue(&ca_dir, &subject, 30, &dir.path().join("node-1")).unwrap();
        assert_eq!(mode(&files.key), 0o600);
        assert_eq!(
            std::fs::read(&files.ca).unwrap(),
            std::fs::read(ca_dir.join(CA_CERT_FILE)).unwrap()
        );
        assert!(
            std::fs::read_to_string(&files.cert)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
    }

    #[test]
    fn an_existing_ca_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path()).unwrap();
        let before = std::fs::read(dir.path().join(CA_KEY_FILE)).unwrap();
        assert!(matches!(init_ca(dir.path()), Err(CertError::CaExists(_))));
        assert_eq!(std::fs::read(dir.path().join(CA_KEY_FILE)).unwrap(), before);
    }

    #[test]
    fn a_node_certificate_needs_an_address() {
        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path()).unwrap();
        let subject = NodeSubject {
            name: "nameless".into(),
            ..NodeSubject::default()
        };
        let error = issue(dir.path(), &subject, 30, dir.path()).unwrap_err();
        assert!(matches!(error, CertError::NoSubjectNames), "{error}");
    }
}
