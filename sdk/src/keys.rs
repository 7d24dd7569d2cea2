//! The endpoint's RSA key pair, kept in the SDK's state dir as the Java SDK keeps it:
//! `key.private` (PKCS#8 DER) and `key.public` (X.509 DER). The endpoint is known to the
//! server by the SHA-1 of the public key.

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
        std::fs::write(&private, der)?;
        std::fs::write(dir.join("key.public"), &keys.public_der)?;
        Ok(keys)
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
