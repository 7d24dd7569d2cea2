//! The node's RSA-2048 key pair: created on first start, kept in the data dir, shared by every
//! endpoint transport of the node and advertised (public half) in ZooKeeper and bootstrap answers.
//!
//! Files: `<data_dir>/keys/node.private` (PKCS#8 DER, mode 0600) and `node.public` (X.509
//! SubjectPublicKeyInfo DER), the formats Kaa's own tools write.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kaa_idl::endpoint::crypto::{CryptoError, KeyPair, SessionKey};

use crate::SyncFailure;
use crate::key_work::KeyWork;

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

/// The node's key pair, cheap to clone, and the bounded pool its private-key work runs on.
#[derive(Clone)]
pub struct NodeKeys {
    pair: Arc<KeyPair>,
    public_der: Arc<[u8]>,
    work: Arc<KeyWork>,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys")
            .field("public_key_bytes", &self.public_der.len())
            .finish_non_exhaustive()
    }
}

impl NodeKeys {
    /// Whether `<data_dir>/keys` holds a key pair already.
    pub fn exist(data_dir: &Path) -> bool {
        data_dir.join("keys").join("node.private").exists()
    }

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

    /// Installs an existing key pair as the node's (`kaa-node keys import`): a Kaa 0.10 server's
    /// keys, so devices that carry its public key keep working after a move. `private` is PKCS#8,
    /// `public` (optional: derived from the private key) X.509 SubjectPublicKeyInfo, each DER or
    /// PEM. An existing different key is refused unless `replace`, which keeps it as
    /// `node.private.old` / `node.public.old`. Returns the installed pair.
    pub fn import(
        data_dir: &Path,
        private: &[u8],
        public: Option<&[u8]>,
        replace: bool,
    ) -> Result<Self, KeyError> {
        let dir = data_dir.join("keys");
        let private_path = dir.join("node.private");
        let public_path = dir.join("node.public");
        let invalid = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Invalid { path, source }
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        let private_der = der_or_pem(private, "PRIVATE KEY").map_err(invalid(&private_path))?;
        let pair = match public {
            Some(public) => {
                let public_der = der_or_pem(public, "PUBLIC KEY").map_err(invalid(&public_path))?;
                KeyPair::from_der(&private_der, &public_der)
            }
            None => KeyPair::from_pkcs8_der(&private_der),
        }
        .map_err(invalid(&private_path))?;
        if private_path.exists() {
            let existing = fs::read(&private_path).map_err(io(&private_path))?;
            let same = KeyPair::from_pkcs8_der(&existing)
                .is_ok_and(|old| old.public_key().to_der() == pair.public_key().to_der());
            if same {
                return Ok(Self::from_pair(pair));
            }
            if !replace {
                return Err(KeyError::Io {
                    path: private_path,
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "the node already has another key pair; --replace keeps it as node.private.old and installs this one",
                    ),
                });
            }
            for path in [&private_path, &public_path] {
                let mut old = path.clone().into_os_string();
                old.push(".old");
                if path.exists() {
                    fs::rename(path, &old).map_err(io(path))?;
                }
            }
        }
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let stored = pair.private_key_der().map_err(invalid(&private_path))?;
        write_private(&private_path, &stored).map_err(io(&private_path))?;
        fs::write(&public_path, pair.public_key().to_der()).map_err(io(&public_path))?;
        tracing::info!(path = %private_path.display(), "imported the node key pair");
        Ok(Self::from_pair(pair))
    }

    /// Wraps an existing pair (tests, SDKs).
    pub fn from_pair(pair: KeyPair) -> Self {
        let public_der = pair.public_key().to_der().into();
        Self {
            pair: Arc::new(pair),
            public_der,
            work: Arc::new(KeyWork::default()),
        }
    }

    /// The same keys, their private-key work on `work` instead of the default pool.
    pub fn with_key_work(self, work: KeyWork) -> Self {
        Self {
            work: Arc::new(work),
            ..self
        }
    }

    /// The pool private-key work runs on.
    pub fn key_work(&self) -> &KeyWork {
        &self.work
    }

    /// Unwraps an endpoint's session key on the private-key pool: the outer error when the pool
    /// is full, the inner one when the key does not unwrap.
    pub(crate) async fn unwrap_session_key(
        &self,
        wrapped: &[u8],
    ) -> Result<Result<SessionKey, CryptoError>, SyncFailure> {
        let (pair, wrapped) = (self.pair.clone(), wrapped.to_vec());
        self.work
            .run(move || pair.unwrap_session_key(&wrapped))
            .await
    }

    /// Signs `data` (SHA1withRSA) on the private-key pool.
    pub(crate) async fn sign(
        &self,
        data: Vec<u8>,
    ) -> Result<Result<Vec<u8>, CryptoError>, SyncFailure> {
        let pair = self.pair.clone();
        self.work.run(move || pair.sign(&data)).await
    }

    /// The key pair.
    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER.
    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }

    /// The public key's fingerprint as the admin UI's cluster page shows it and
    /// `openssl dgst -sha256 -c` prints it: the SHA-256 of the DER in colon-separated hex.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(&self.public_der);
        let bytes: Vec<String> = digest.iter().map(|b| format!("{b:02x}")).collect();
        bytes.join(":")
    }
}

/// The DER inside `bytes`: `bytes` itself, or the base64 body of its PEM block `-----BEGIN
/// <label>-----`.
fn der_or_pem(bytes: &[u8], label: &'static str) -> Result<Vec<u8>, CryptoError> {
    use base64::Engine as _;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let begin = format!("-----BEGIN {label}-----");
    let Some(start) = text.find(&begin) else {
        return if text.contains("-----BEGIN") {
            Err(CryptoError::BadKey(if label == "PUBLIC KEY" {
                "public (expected a PEM block BEGIN PUBLIC KEY, X.509)"
            } else {
                "private (expected a PEM block BEGIN PRIVATE KEY, PKCS#8)"
            }))
        } else {
            Ok(bytes.to_vec())
        };
    };
    let body = &text[start + begin.len()..];
    let end = body
        .find("-----END")
        .ok_or(CryptoError::BadKey("PEM block without its END line"))?;
    let base64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|_| CryptoError::BadKey("PEM body is not base64"))
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

    fn pem(label: &str, der: &[u8]) -> String {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn keys_are_seen_and_fingerprinted_as_openssl_does() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!NodeKeys::exist(dir.path()));
        let created = NodeKeys::load_or_create(dir.path()).unwrap();
        assert!(NodeKeys::exist(dir.path()));
        // SHA-256 of a DER known by `printf abc | openssl dgst -sha256 -c`.
        let abc = NodeKeys {
            public_der: b"abc".as_slice().into(),
            ..created.clone()
        };
        assert_eq!(
            abc.fingerprint(),
            "ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:\
             b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad"
        );
        let fingerprint = created.fingerprint();
        assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");
    }

    #[test]
    fn imported_keys_replace_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let created = NodeKeys::load_or_create(dir.path()).unwrap();
        let kaa = KeyPair::generate().unwrap();
        let private = kaa.private_key_der().unwrap();
        let public = kaa.public_key().to_der().to_vec();
        // PEM or DER, with or without the public half.
        let refused = NodeKeys::import(
            dir.path(),
            pem("PRIVATE KEY", &private).as_bytes(),
            None,
            false,
        );
        assert!(refused.unwrap_err().to_string().contains("--replace"));
        let imported = NodeKeys::import(
            dir.path(),
            pem("PRIVATE KEY", &private).as_bytes(),
            Some(pem("PUBLIC KEY", &public).as_bytes()),
            true,
        )
        .unwrap();
        assert_eq!(imported.public_der(), public.as_slice());
        assert_eq!(
            NodeKeys::load_or_create(dir.path()).unwrap().public_der(),
            public.as_slice()
        );
        assert_eq!(
            fs::read(dir.path().join("keys/node.public.old")).unwrap(),
            created.public_der()
        );
        // Importing the installed pair again is fine; a mismatched public half is not.
        NodeKeys::import(dir.path(), &private, Some(&public), false).unwrap();
        let other = KeyPair::generate().unwrap();
        let other_public = other.public_key().to_der().to_vec();
        assert!(NodeKeys::import(dir.path(), &private, Some(&other_public), true).is_err());
        assert!(
            NodeKeys::import(
                dir.path(),
                b"-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n",
                None,
                true
            )
            .is_err()
        );
    }

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
