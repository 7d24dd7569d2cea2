//! The `file` appender: JSON lines `{header, event}` appended to a file that rolls over by size
//! (`path` → `path.1` → … → `path.<max_files>`, the oldest deleted). A batch counts as stored
//! once its lines are on disk (`fsync`).

use std::path::{Path, PathBuf};

use kaa_model::appender::{FileSettings, HeaderField};
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use super::SinkError;
use super::record::LogBatch;

/// Default size at which the file rolls over.
const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Default number of rolled files kept.
const DEFAULT_MAX_FILES: u32 = 10;

/// An open file appender.
pub struct FileSink {
    path: PathBuf,
    max_file_bytes: u64,
    max_files: u32,
    fields: Vec<HeaderField>,
    file: File,
    size: u64,
}

impl FileSink {
    /// Opens (creating it and its directory) the appender's current file.
    pub async fn open(
        settings: &FileSettings,
        fields: Vec<HeaderField>,
    ) -> Result<Self, SinkError> {
        let path = PathBuf::from(&settings.path);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let file = append(&path).await?;
        let size = file.metadata().await.map_err(io)?.len();
        Ok(Self {
            path,
            max_file_bytes: settings.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES),
            max_files: settings.max_files.unwrap_or(DEFAULT_MAX_FILES),
            fields,
            file,
            size,
        })
    }

    /// Appends every record of `batch` and syncs the file.
    pub async fn write(&mut self, batch: &LogBatch) -> Result<(), SinkError> {
        let mut lines = Vec::new();
        for document in batch.documents(&self.fields) {
            serde_json::to_writer(&mut lines, &document)
                .map_err(|e| SinkError::Internal(e.to_string()))?;
            lines.push(b'\n');
        }
        if self.size > 0 && self.size + lines.len() as u64 > self.max_file_bytes {
            self.roll_over().await?;
        }
        self.file.write_all(&lines).await.map_err(io)?;
        self.file.sync_data().await.map_err(io)?;
        self.size += lines.len() as u64;
        Ok(())
    }

    async fn roll_over(&mut self) -> Result<(), SinkError> {
        self.file.sync_all().await.map_err(io)?;
        let rolled = |n: u32| -> PathBuf {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            name.into()
        };
        remove_if_present(&rolled(self.max_files)).await?;
        for n in (1..self.max_files).rev() {
            rename_if_present(&rolled(n), &rolled(n + 1)).await?;
        }
        tokio::fs::rename(&self.path, rolled(1)).await.map_err(io)?;
        self.file = append(&self.path).await?;
        self.size = 0;
        Ok(())
    }
}

async fn append(path: &Path) -> Result<File, SinkError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(io)
}

async fn remove_if_present(path: &Path) -> Result<(), SinkError> {
    match tokio::fs::remove_file(path).await {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io(error)),
        _ => Ok(()),
    }
}

async fn rename_if_present(from: &Path, to: &Path) -> Result<(), SinkError> {
    match tokio::fs::rename(from, to).await {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(io(error)),
        _ => Ok(()),
    }
}

fn io(error: std::io::Error) -> SinkError {
    SinkError::Internal(format!("log file: {error}"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::logs::record::LogHeader;

    fn batch(n: usize) -> LogBatch {
        LogBatch {
            header: LogHeader::new(&[9], "token", 1, 1),
            events: (0..n).map(|i| json!({"i": i})).collect(),
        }
    }

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn appends_json_lines_and_rolls_over_keeping_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/app.log");
        let settings = FileSettings {
            path: path.display().to_string(),
            max_file_bytes: Some(200),
            max_files: Some(2),
        };
        let mut sink = FileSink::open(&settings, vec![HeaderField::Token])
            .await
            .unwrap();
        sink.write(&batch(2)).await.unwrap();
        assert_eq!(
            lines(&path),
            vec![
                json!({"header": {"applicationToken": "token"}, "event": {"i": 0}}),
                json!({"header": {"applicationToken": "token"}, "event": {"i": 1}}),
            ]
        );
        // Each two-record batch is about 120 bytes: every write after the first rolls over.
        for _ in 0..4 {
            sink.write(&batch(2)).await.unwrap();
        }
        let rolled = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        assert_eq!(lines(&path).len(), 2);
        assert_eq!(lines(&rolled(1)).len(), 2);
        assert_eq!(lines(&rolled(2)).len(), 2);
        assert!(!rolled(3).exists());

        // Reopening continues the current file.
        drop(sink);
        let mut sink = FileSink::open(&settings, vec![]).await.unwrap();
        assert!(sink.size > 0);
        sink.write(&batch(1)).await.unwrap();
        assert_eq!(lines(&path).len(), 3, "appended to the reopened file");
        assert_eq!(lines(&path)[2], json!({"header": {}, "event": {"i": 0}}));
    }
}
