//! A deterministic `tar.gz`: files in the order given, under one top folder, with fixed
//! owners, modes and times, so the same input gives the same bytes (and the same cache key
//! means the same archive).

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::GeneratorError;

/// One file of an archive, its path relative to the archive's top folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative path with `/` separators, no `..`.
    pub path: String,
    /// Contents.
    pub contents: Vec<u8>,
    /// Whether it is a program (mode 0755 instead of 0644).
    pub executable: bool,
}

impl File {
    /// A regular, non-executable file.
    pub fn new(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            contents: contents.into(),
            executable: false,
        }
    }
}

/// 2026-01-01T00:00:00Z: the modification time of every entry.
const MTIME: u64 = 1_767_225_600;

/// Writes `files` under `top/` into a gzip-compressed tar.
pub(crate) fn tar_gz(top: &str, files: &[File]) -> Result<Vec<u8>, GeneratorError> {
    let gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for file in files {
        if file
            .path
            .split('/')
            .any(|part| part.is_empty() || part == "..")
        {
            return Err(GeneratorError::Internal(format!(
                "bad archive path {:?}",
                file.path
            )));
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(file.contents.len() as u64);
        header.set_mode(if file.executable { 0o755 } else { 0o644 });
        header.set_mtime(MTIME);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(
            &mut header,
            format!("{top}/{}", file.path),
            file.contents.as_slice(),
        )?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    Ok(gz.finish()?)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use flate2::read::GzDecoder;

    use super::*;

    #[test]
    fn archives_hold_their_files_and_are_reproducible() {
        let files = vec![
            File::new("README.md", "hello"),
            File {
                path: "bin/run.sh".into(),
                contents: b"#!/bin/sh\n".to_vec(),
                executable: true,
            },
        ];
        let first = tar_gz("top", &files).unwrap();
        assert_eq!(first, tar_gz("top", &files).unwrap());
        let mut archive = tar::Archive::new(GzDecoder::new(first.as_slice()));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            seen.push((path, mode, text));
        }
        assert_eq!(
            seen,
            vec![
                ("top/README.md".to_string(), 0o644, "hello".to_string()),
                (
                    "top/bin/run.sh".to_string(),
                    0o755,
                    "#!/bin/sh\n".to_string()
                ),
            ]
        );
    }

    #[test]
    fn paths_that_climb_out_are_refused() {
        for path in ["../x", "a//b", "a/../../b", ""] {
            assert!(tar_gz("top", &[File::new(path, "x")]).is_err(), "{path}");
        }
    }
}
