//! SDK generation: one archive per (SDK profile, target language) that a device maker unpacks,
//! builds with the language's own tools and runs.
//!
//! Control assembles an [`SdkSpec`] (token, pinned schemas, event classes, default
//! configuration, the bootstrap list of the live cluster) and calls [`generate`]. Each target
//! module turns the spec into files: the runtime embedded in this crate at build time
//! ([`embedded`]), code generated from the schemas, the baked-in properties, a README and an
//! example program. Generation is templating, never compiling, so it takes milliseconds.
//!
//! - [`rust`]: a cargo workspace (the generated crate, the `kaa-sdk` runtime and the endpoint
//!   codecs it uses).
//! - [`c`]: a C99 CMake project (runtime with a POSIX platform layer, generated structs).
//! - [`python`]: a pip-installable package (runtime and generated dataclasses).

mod archive;
mod c;
mod embedded;
pub mod naming;
mod python;
mod rust;
mod spec;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub use archive::File;
pub use spec::{BootstrapServer, EventClass, EventDirection, EventFamily, PinnedSchema, SdkSpec};

/// The generator version: the crate version and a digest of every embedded runtime file and of
/// the lock file the Rust archive's is cut from, so an archive cached under an older runtime is
/// never served by a newer node.
pub fn generator_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut digest = Sha256::new();
        embedded::digest_runtimes(&mut digest);
        digest.update(rust::WORKSPACE_LOCK.as_bytes());
        let hash = digest.finalize();
        let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}+{hex}", env!("CARGO_PKG_VERSION"))
    })
}

/// A target language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Rust: services and gateways.
    Rust,
    /// C99: embedded devices.
    C,
    /// Python: scripts, test rigs, gateways.
    Python,
}

impl Target {
    /// Every target, in the order the admin UI offers them.
    pub const ALL: [Target; 3] = [Target::Rust, Target::C, Target::Python];

    /// Its name in URLs and archive names.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Rust => "rust",
            Target::C => "c",
            Target::Python => "python",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = GeneratorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| GeneratorError::UnknownTarget(s.to_string()))
    }
}

/// Why no archive came out.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The target is not one of `rust`, `c`, `python`.
    #[error("unknown target {0:?}: expected rust, c or python")]
    UnknownTarget(String),
    /// The SDK profile cannot be generated for (a schema the target cannot express, say).
    #[error("{0}")]
    Unsupported(String),
    /// Writing the archive failed.
    #[error("archive: {0}")]
    Archive(#[from] std::io::Error),
    /// A bug in the generator.
    #[error("generator: {0}")]
    Internal(String),
}

/// A generated SDK archive.
#[derive(Debug, Clone)]
pub struct Archive {
    /// `kaa-<target>-sdk-<token>.tar.gz`.
    pub file_name: String,
    /// The gzip-compressed tar; every entry under `kaa-<target>-sdk-<token>/`.
    pub bytes: Vec<u8>,
}

/// The top folder of a target's archive for an SDK token.
pub fn top_folder(target: Target, sdk_token: &str) -> String {
    format!("kaa-{target}-sdk-{sdk_token}")
}

/// Generates the SDK archive of `spec` for `target`: [`files`], then [`pack`].
pub fn generate(spec: &SdkSpec, target: Target) -> Result<Archive, GeneratorError> {
    let files = files(spec, target)?;
    pack(target, &spec.sdk_token, &files)
}

/// Every file of the `target` SDK of `spec` (runtime, generated code, properties, README,
/// example), paths relative to the archive's top folder.
pub fn files(spec: &SdkSpec, target: Target) -> Result<Vec<File>, GeneratorError> {
    if spec.sdk_token.is_empty()
        || !spec
            .sdk_token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(GeneratorError::Unsupported(format!(
            "SDK token {:?} is not a file-name-safe token",
            spec.sdk_token
        )));
    }
    match target {
        Target::Rust => rust::files(spec),
        Target::C => c::files(spec),
        Target::Python => python::files(spec),
    }
}

/// Packs `files` into the `target` archive for `sdk_token`: a deterministic `tar.gz` under
/// `kaa-<target>-sdk-<token>/`.
pub fn pack(target: Target, sdk_token: &str, files: &[File]) -> Result<Archive, GeneratorError> {
    let top = top_folder(target, sdk_token);
    Ok(Archive {
        file_name: format!("{top}.tar.gz"),
        bytes: archive::tar_gz(&top, files)?,
    })
}
