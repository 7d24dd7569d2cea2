//! The runtimes every archive carries, embedded at build time (see `build.rs`).

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

/// Feeds every embedded runtime file (path and bytes) into `digest`, for the generator version.
pub(crate) fn digest_runtimes(digest: &mut Sha256) {
    for table in [RUST_RUNTIME, C_RUNTIME, PYTHON_RUNTIME] {
        for (path, bytes) in table {
            digest.update((path.len() as u64).to_le_bytes());
            digest.update(path.as_bytes());
            digest.update((bytes.len() as u64).to_le_bytes());
            digest.update(bytes);
        }
    }
}
