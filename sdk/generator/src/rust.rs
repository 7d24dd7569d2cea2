//! The rust target. (Being written: for now the runtime and a README only.)

use crate::archive::File;
use crate::embedded::Runtime;
use crate::{GeneratorError, SdkSpec};

/// The files of the rust SDK archive of `spec`.
pub(crate) fn files(spec: &SdkSpec) -> Result<Vec<File>, GeneratorError> {
    let mut files = Runtime::Rust.files();
    files.push(File::new(
        "README.md",
        format!("# Kaa rust SDK for {}\n\nSDK token: {}\n", spec.application_name, spec.sdk_token),
    ));
    Ok(files)
}
