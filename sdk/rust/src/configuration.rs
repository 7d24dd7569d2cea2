//! The configuration kept across restarts: the last configuration body the server sent is
//! stored in the state dir (`configuration`, Avro binary of the configuration schema, replaced
//! atomically), so an endpoint starts with it before any connection, and announces its hash
//! (SHA-1 of the body, as the server computes it) in its first sync: the server sends the
//! configuration again only when it changed meanwhile.

use std::io;
use std::path::{Path, PathBuf};

use kaa_idl::endpoint::crypto::sha1;

use crate::logs::replace;

const FILE: &str = "configuration";

/// The stored configuration of one endpoint.
#[derive(Debug, Clone)]
pub struct ConfigurationStore {
    path: PathBuf,
}

/// A configuration body and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfiguration {
    /// Avro binary of the configuration schema.
    pub body: Vec<u8>,
    /// SHA-1 of the body: what the endpoint tells the server it holds.
    pub hash: [u8; 20],
}

impl StoredConfiguration {
    fn new(body: Vec<u8>) -> Self {
        let hash = sha1(&body);
        Self { body, hash }
    }
}

impl ConfigurationStore {
    /// The store in the state dir `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE),
        }
    }

    /// The configuration stored by an earlier run, if any.
    pub fn load(&self) -> io::Result<Option<StoredConfiguration>> {
        match std::fs::read(&self.path) {
            Ok(body) => Ok(Some(StoredConfiguration::new(body))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Keeps `body` as the endpoint's configuration; returns it with its hash.
    pub fn save(&self, body: Vec<u8>) -> io::Result<StoredConfiguration> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        replace(&self.path, &body)?;
        Ok(StoredConfiguration::new(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_configuration_is_loaded_with_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigurationStore::new(&dir.path().join("state"));
        assert_eq!(store.load().unwrap(), None);
        let saved = store.save(vec![2, b'h', b'i']).unwrap();
        assert_eq!(saved.hash, sha1(&[2, b'h', b'i']));
        assert_eq!(store.load().unwrap(), Some(saved));
        let replaced = store.save(vec![0]).unwrap();
        assert_eq!(
            ConfigurationStore::new(&dir.path().join("state"))
                .load()
                .unwrap(),
            Some(replaced)
        );
    }
}
