//! The endpoint's RSA key pair, kept in the SDK's state dir as the Java SDK keeps it:
//! `key.private` (PKCS#8 DER, mode 0600: readable by the device's user only) and `key.public`
//! (X.509 DER). The endpoint is known to the server by the SHA-1 of the public key.

use std::io::Write;
use std::path::Path;

use kaa_idl::endpoint::crypto::{KeyPair, key_hash};

use crate::SdkError;

/// An endpoint's key pair and identity.
pub struct EndpointKeys {
    pair: KeyPair,
    public_der: Vec<u8>,
    key_hash: [u8; 20],
}

impl EndpointKeys {
    /// A new random pair (not stored).
    pub fn generate() -> Result<Self, SdkError> {
        KeyPair::generate()
            .map(Self::from_pair)
            .map_err(|e| SdkError::Keys(e.to_string()))
    }

    /// Loads the pair from `dir`, creating and storing one on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, SdkError> {
        let private = dir.join("key.private");
        if private.exists() {
            let der = std::fs::read(&private)?;
            return KeyPair::from_pkcs8_der(&der)
                .map(Self::from_pair)
                .map_err(|e| SdkError::Keys(format!("{}: {e}", private.display())));
        }
        std::fs::create_dir_all(dir)?;
        let keys = Self::generate()?;
        let der = keys
            .pair
            .private_key_der()
            .map_err(|e| SdkError::Keys(e.to_string()))?;
        write_private(&private, &der)?;
        std::fs::write(dir.join("key.public"), &keys.public_der)?;
        Ok(keys)
    }

    /// A pair from its private key, PKCS#8 DER (as `key.private` holds it); the public key is
    /// derived from it.
    pub fn from_private_der(der: &[u8]) -> Result<Self, SdkError> {
        KeyPair::from_pkcs8_der(der)
            .map(Self::from_pair)
            .map_err(|e| SdkError::Keys(e.to_string()))
    }

    fn from_pair(pair: KeyPair) -> Self {
        let public_der = pair.public_key().to_der().to_vec();
        let key_hash = key_hash(&public_der);
        Self {
            pair,
            public_der,
            key_hash,
        }
    }

    /// The key pair.
    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The public key, X.509 DER.
    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }

    /// SHA-1 of the public key: the endpoint's identity.
    pub fn key_hash(&self) -> &[u8; 20] {
        &self.key_hash
    }
}

/// Writes a new private key file readable and writable by its owner only.
fn write_private(path: &Path, der: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
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
    fn the_private_key_is_stored_for_its_owner_only_and_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let created = EndpointKeys::load_or_create(&state).unwrap();
        let mode = std::fs::metadata(state.join("key.private"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key.private mode {mode:o}");
        let loaded = EndpointKeys::load_or_create(&state).unwrap();
        assert_eq!(loaded.key_hash(), created.key_hash());
    }
}
