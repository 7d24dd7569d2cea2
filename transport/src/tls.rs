//! Optional TLS in front of an endpoint transport, from PEM files: a certificate chain and its
//! private key. Kaa's own session crypto still runs inside; TLS adds transport secrecy with
//! modern ciphers and lets endpoints authenticate the server by certificate.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The server side of TLS, as [`server_config`] builds it.
pub use tokio_rustls::rustls::ServerConfig;

/// Why TLS could not be set up.
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
    /// The certificate and key do not form a valid server identity.
    #[error("certificate and key: {0}")]
    Config(#[from] rustls::Error),
}

/// The server side of TLS for a service's listeners.
pub fn server_config(
    certificate: &Path,
    private_key: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let file_error = |path: &Path, reason: String| TlsError::File {
        path: path.display().to_string(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| file_error(certificate, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(certificate, e.to_string()))?;
    if chain.is_empty() {
        return Err(file_error(certificate, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| file_error(private_key, e.to_string()))?;
    let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}
