//! The runtimes every archive carries, embedded at build time (see `build.rs`), and the
//! generator version that names them in cache keys.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::archive::File;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Which runtime.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Runtime {
    /// `kaa-sdk/` (the Rust runtime crate) and `kaa-idl/` (the endpoint codecs it uses), plus
    /// the archive-only files of `sdk/rust/archive/`.
    Rust,
    /// `sdk/c/`.
    C,
    /// `sdk/python/`.
    Python,
}

impl Runtime {
    fn table(self) -> &'static [(&'static str, &'static [u8])] {
        match self {
            Runtime::Rust => RUST_RUNTIME,
            Runtime::C => C_RUNTIME,
            Runtime::Python => PYTHON_RUNTIME,
        }
    }

    /// The runtime's files, as archive entries (shell scripts executable).
    pub(crate) fn files(self) -> Vec<File> {
        self.table()
            .iter()
            .map(|(path, bytes)| File {
                path: (*path).to_string(),
                contents: bytes.to_vec(),
                executable: path.ends_with(".sh"),
            })
            .collect()
    }

    /// The bytes of one embedded file, if the runtime has it.
    pub(crate) fn file(self, path: &str) -> Option<&'static [u8]> {
        self.table()
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, bytes)| *bytes)
    }
}

/// The generator version: the crate version and a digest of every embedded runtime file and of
/// the lock file the Rust archive's is cut from, so an archive cached under an older runtime is
/// never served by a newer node.
pub fn generator_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut digest = Sha256::new();
        for table in [RUST_RUNTIME, C_RUNTIME, PYTHON_RUNTIME] {
            for (path, bytes) in table {
                digest.update((path.len() as u64).to_le_bytes());
                digest.update(path.as_bytes());
                digest.update((bytes.len() as u64).to_le_bytes());
                digest.update(bytes);
            }
        }
        digest.update(crate::rust::WORKSPACE_LOCK.as_bytes());
        let hash = digest.finalize();
        let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}+{hex}", env!("CARGO_PKG_VERSION"))
    })
}
