//! SHA-1, the hash Kaa uses for profiles, configurations and endpoint keys.

use sha1::{Digest, Sha1};

/// SHA-1 of `bytes`.
pub fn sha1(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}
