//! How internode connections are secured: mutual TLS under the cluster CA, or (only when the
//! operator says so) plaintext.
//!
//! With [`Security::MutualTls`] the server asks every peer for a certificate and refuses the
//! handshake unless one signed by the cluster CA comes back, so nothing a stranger sends is ever
//! decoded as Thrift. Clients check the server's certificate against the same CA and against
//! the host they dialled (the `thriftHost` a peer publishes, an IP address or a DNS name, which
//! its certificate names as a subject alternative name), and present their own. Every node
//! certificate is good for both roles. Both sides use rustls with the ring provider.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::server::danger::ClientCertVerifier;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

use super::certs::TlsFiles;

/// How internode Thrift connections are secured, on the server and in every client.
#[derive(Clone)]
pub enum Security {
    /// Mutual TLS under the cluster CA.
    MutualTls(Arc<MutualTls>),
    /// No TLS: anyone who reaches the port is served (`cluster.insecure_plaintext`).
    Plaintext,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::MutualTls(_) => "MutualTls",
            Security::Plaintext => "Plaintext",
        })
    }
}

impl Security {
    /// Mutual TLS with the identity in `files`.
    pub fn mutual_tls(files: &TlsFiles) -> Result<Self, TlsError> {
        Ok(Self::MutualTls(Arc::new(MutualTls::load(files)?)))
    }
}

/// A node's TLS identity and trust: the server and client configurations built from the
/// cluster CA and the node's certificate and key.
pub struct MutualTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// Why the TLS identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The CA certificate cannot anchor client verification.
    #[error("cluster CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The certificate and key do not form a valid identity.
    #[error("certificate and key: {0}")]
    Config(#[from] rustls::Error),
}

impl MutualTls {
    /// Reads the CA certificate, the node's certificate chain and its private key (PEM).
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let ca = read_certificates(&files.ca)?;
        let chain = read_certificates(&files.cert)?;
        let key = PrivateKeyDer::from_pem_file(&files.key)
            .map_err(|error| file_error(&files.key, error))?;
        let mut roots = RootCertStore::empty();
        for certificate in ca {
            roots
                .add(certificate)
                .map_err(|error| file_error(&files.ca, error))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(default_provider());
        let verifier: Arc<dyn ClientCertVerifier> =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?;
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())?;
        // Nothing but Thrift answers may arrive on a connection between calls: a pooled client
        // takes any unread byte for a peer that went away.
        server.send_tls13_tickets = 0;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(Self {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// The server side: a client certificate under the cluster CA is required.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    /// The client side: presents this node's certificate, trusts only the cluster CA.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|error| file_error(path, error))?
        .collect::<Result<_, _>>()
        .map_err(|error| file_error(path, error))?;
    if certificates.is_empty() {
        return Err(file_error(path, "no certificate in the file"));
    }
    Ok(certificates)
}

fn file_error(path: &Path, reason: impl fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}
