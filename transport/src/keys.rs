//! The node's RSA-2048 key pair: created on first start, kept in the data dir, shared by every
//! endpoint transport of the node and advertised (public half) in ZooKeeper and bootstrap answers.
//!
//! Files: `<data_dir>/keys/node.private` (PKCS#8 DER, mode 0600) and `node.public` (X.509
//! SubjectPublicKeyInfo DER), the formats Kaa's own tools write.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kaa_idl::endpoint::crypto::{CryptoError, KeyPair};

/// Why the node's keys could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A key file holds no valid key.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: CryptoError,
    },
}

/// The node's key pair, cheap to clone.
#[derive(Clone)]
pub struct NodeKeys {
    pair: Arc<KeyPair>,
    public_der: Arc<[u8]>,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys")
            .field("public_key_bytes", &self.public_der.len())
            .finish_non_exhaustive()
    }
}

impl NodeKeys {
    /// Loads the pair from `<data_dir>/keys`, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let dir = data_dir.join("keys");
        let private_path = dir.join("node.private");
        let public_path = dir.join("node.public");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        if private_path.exists() {
            let der = fs::read(&private_path).map_err(io(&private_path))?;
            let pair = KeyPair::from_pkcs8_der(&der).map_err(|source| KeyError::Invalid {
                path: private_path.clone(),
                source,
            })?;
            return Ok(Self::from_pair(pair));
        }
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let pair = KeyPair::generate().map_err(|source| KeyError::Invalid {
            path: private_path.clone(),
            source,
        })?;
        let private = pair.private_key_der().map_err(|source| KeyError::Invalid {
            path: private_path.clone(),
            source,
        })?;
        write_private(&private_path, &private).map_err(io(&private_path))?;
        fs::write(&public_path, pair.public_key().to_der()).map_err(io(&public_path))?;
        tracing::info!(path = %private_path.display(), "created the node key pair");
        Ok(Self::from_pair(pair))
    }

    /// Wraps an existing pair (tests, SDKs).
    pub fn from_pair(pair: KeyPair) -> Self {
        let public_der = pair.public_key().to_der().into();
        Self {
            pair: Arc::new(pair),
            public_der,
        }
    }

    /// The key pair.
    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER.
    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }
}

fn write_private(path: &Path, der: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(der)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = NodeKeys::load_or_create(dir.path()).unwrap();
        let again = NodeKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_der(), again.public_der());
        assert_eq!(
            fs::read(dir.path().join("keys/node.public")).unwrap(),
            first.public_der()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("keys/node.private"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
