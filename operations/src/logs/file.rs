//! The `file` appender: JSON lines `{header, event}` appended to a file that rolls over by size
//! (`name` → `name.1` → … → `name.<max_files>`, the oldest deleted). A batch counts as stored
//! once its lines are on disk (`fsync`); a batch that fails part-way (a full disk) is cut off
//! the file again, so the next batch does not begin inside half a record.
//!
//! The file is confined to the operator's root: it lives at
//! `<root>/<tenant id>/<application id>/<name>`, where the tenant gives only `name`. Below the
//! root every step is opened relative to its parent directory with `O_NOFOLLOW`, so a symbolic
//! link planted anywhere on the way (the tenant's or application's directory, the file) is
//! refused instead of followed; the file must be a regular file with one link (no hard link to
//! a file elsewhere). Rolling over renames and deletes names inside the application's directory
//! only. The operator caps `max_file_bytes` and `max_files`.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use kaa_model::appender::{FileSettings, HeaderField, file_name_problem};
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, SFlag, fstat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use tokio::fs::File;
use tokio::io::AsyncWriteExt;

use super::SinkError;
use super::record::LogBatch;

/// Default size at which the file rolls over.
const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Default number of rolled files kept.
const DEFAULT_MAX_FILES: u32 = 10;

/// Where this node keeps file appenders' files, and the largest limits it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRoot {
    /// The root directory (`operations.file_appender_root`); created when missing.
    pub path: PathBuf,
    /// Cap on an appender's `max_file_bytes`.
    pub max_file_bytes: u64,
    /// Cap on an appender's `max_files`.
    pub max_files: u32,
}

/// An open file appender.
pub struct FileSink {
    /// The application's directory under the root.
    dir: Arc<OwnedFd>,
    name: String,
    max_file_bytes: u64,
    max_files: u32,
    fields: Vec<HeaderField>,
    file: File,
    size: u64,
}

impl FileSink {
    /// Opens (creating it and its directories) the current file of an appender of application
    /// `app_id` of tenant `tenant_id`.
    pub async fn open(
        settings: &FileSettings,
        root: &FileRoot,
        tenant_id: &str,
        app_id: &str,
        fields: Vec<HeaderField>,
    ) -> Result<Self, SinkError> {
        for (what, name) in [
            ("file name", settings.path.as_str()),
            ("tenant id", tenant_id),
            ("application id", app_id),
        ] {
            if let Some(problem) = file_name_problem(name) {
                return Err(SinkError::Internal(format!(
                    "log file: {what} {name:?} {problem}"
                )));
            }
        }
        let name = settings.path.clone();
        let (dir, file) = blocking({
            let root = root.path.clone();
            let steps = [tenant_id.to_owned(), app_id.to_owned()];
            let name = name.clone();
            move || {
                let dir = app_directory(&root, &steps)?;
                let file = open_file(&dir, &name)?;
                Ok((Arc::new(dir), file))
            }
        })
        .await?;
        let file = File::from_std(file);
        let size = file.metadata().await.map_err(io)?.len();
        Ok(Self {
            dir,
            name,
            max_file_bytes: settings
                .max_file_bytes
                .unwrap_or(DEFAULT_MAX_FILE_BYTES)
                .min(root.max_file_bytes),
            max_files: settings
                .max_files
                .unwrap_or(DEFAULT_MAX_FILES)
                .min(root.max_files),
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
        if let Err(error) = self.append(&lines).await {
            // Part of the batch may be in the file (a disk that filled up mid-write): cut it
            // off, so that the next batch does not begin inside half a record.
            if let Err(cut) = self.file.set_len(self.size).await {
                tracing::warn!(file = %self.name, error = %cut, "log file: could not cut off a batch written in part");
            }
            return Err(error);
        }
        self.size += lines.len() as u64;
        Ok(())
    }

    /// Appends `lines` and returns once they are on disk. Tokio writes a file in the background
    /// and reports that write's error on `flush` (`sync_data` alone would succeed after a failed
    /// write, acknowledging records that never reached the disk).
    async fn append(&mut self, lines: &[u8]) -> Result<(), SinkError> {
        self.file.write_all(lines).await.map_err(io)?;
        self.file.flush().await.map_err(io)?;
        self.file.sync_data().await.map_err(io)
    }

    async fn roll_over(&mut self) -> Result<(), SinkError> {
        self.file.sync_all().await.map_err(io)?;
        let dir = self.dir.clone();
        let name = self.name.clone();
        let max_files = self.max_files;
        let file = blocking(move || {
            let rolled = |n: u32| format!("{name}.{n}");
            match unlinkat(
                &*dir,
                rolled(max_files).as_str(),
                UnlinkatFlags::NoRemoveDir,
            ) {
                Err(errno) if errno != Errno::ENOENT => return Err(errno),
                _ => {}
            }
            for n in (1..max_files).rev() {
                match renameat(&*dir, rolled(n).as_str(), &*dir, rolled(n + 1).as_str()) {
                    Err(errno) if errno != Errno::ENOENT => return Err(errno),
                    _ => {}
                }
            }
            renameat(&*dir, name.as_str(), &*dir, rolled(1).as_str())?;
            open_file(&dir, &name)
        })
        .await?;
        self.file = File::from_std(file);
        self.size = 0;
        Ok(())
    }
}

/// Runs file-system calls off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Errno> + Send + 'static,
) -> Result<T, SinkError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SinkError::Internal(format!("log file: {e}")))?
        .map_err(|errno| match errno {
            Errno::ELOOP | Errno::ENOTDIR | Errno::EMLINK => SinkError::Internal(format!(
                "log file: a symbolic link, hard link or other non-regular entry is on the way under the file appender root; refused ({errno})"
            )),
            other => io(std::io::Error::from(other)),
        })
}

/// Opens `<root>/<steps…>`, creating what is missing, without following a link below the root.
fn app_directory(root: &std::path::Path, steps: &[String]) -> Result<OwnedFd, Errno> {
    std::fs::create_dir_all(root).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    let directory = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let mut dir = nix::fcntl::open(root, directory, Mode::empty())?;
    for step in steps {
        match mkdirat(&dir, step.as_str(), Mode::from_bits_truncate(0o750)) {
            Err(errno) if errno != Errno::EEXIST => return Err(errno),
            _ => {}
        }
        dir = openat(
            &dir,
            step.as_str(),
            directory | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )?;
    }
    Ok(dir)
}

/// Opens `name` in `dir` for appending, creating it; refuses a link or anything but a regular
/// file (`O_NONBLOCK` keeps a planted FIFO from blocking the open).
fn open_file(dir: &OwnedFd, name: &str) -> Result<std::fs::File, Errno> {
    let flags = OFlag::O_WRONLY
        | OFlag::O_APPEND
        | OFlag::O_CREAT
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::from_bits_truncate(0o640))?;
    let stat = fstat(&fd)?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(Errno::ENOTDIR);
    }
    if stat.st_nlink != 1 {
        return Err(Errno::EMLINK);
    }
    Ok(std::fs::File::from(fd))
}

fn io(error: std::io::Error) -> SinkError {
    SinkError::Internal(format!("log file: {error}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::{Value, json};

    use super::*;
    use crate::logs::record::LogHeader;

    const TENANT: &str = "019af0c2-7b1e-7c3d-9e8f-0123456789ab";
    const APP: &str = "019af0c2-8000-7c3d-9e8f-0123456789ab";

    fn batch(n: usize) -> LogBatch {
        LogBatch {
            header: LogHeader::new(&[9], "token", 1, 1),
            events: (0..n).map(|i| json!({"i": i})).collect(),
            bytes: 0,
        }
    }

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    fn root(path: &Path) -> FileRoot {
        FileRoot {
            path: path.join("appenders"),
            max_file_bytes: u64::MAX,
            max_files: 2,
        }
    }

    fn settings(name: &str) -> FileSettings {
        FileSettings {
            path: name.into(),
            max_file_bytes: Some(200),
            max_files: Some(5),
        }
    }

    #[tokio::test]
    async fn appends_json_lines_under_the_root_and_rolls_over_keeping_the_capped_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = root(dir.path());
        let settings = settings("app.log");
        let mut sink = FileSink::open(&settings, &root, TENANT, APP, vec![HeaderField::Token])
            .await
            .unwrap();
        let path = root.path.join(TENANT).join(APP).join("app.log");
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
        assert!(!rolled(3).exists(), "the node caps max_files at 2");

        // Reopening continues the current file.
        drop(sink);
        let mut sink = FileSink::open(&settings, &root, TENANT, APP, vec![])
            .await
            .unwrap();
        assert!(sink.size > 0);
        sink.write(&batch(1)).await.unwrap();
        assert_eq!(lines(&path).len(), 3, "appended to the reopened file");
        assert_eq!(lines(&path)[2], json!({"header": {}, "event": {"i": 0}}));
    }

    #[tokio::test]
    async fn names_that_leave_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = root(dir.path());
        for name in ["../escape.log", "/tmp/escape.log", "a/b.log", "..", ""] {
            let opened = FileSink::open(&settings(name), &root, TENANT, APP, vec![]).await;
            assert!(opened.is_err(), "{name:?} was opened");
        }
        let opened = FileSink::open(&settings("ok.log"), &root, "..", APP, vec![]).await;
        assert!(opened.is_err(), "a tenant id of .. was used as a directory");
        assert!(!dir.path().join("escape.log").exists());
    }

    #[tokio::test]
    async fn links_planted_under_the_root_are_refused_and_nothing_is_written_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = root(dir.path());
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(root.path.join(TENANT)).unwrap();
        let victim = outside.join("victim.db");
        std::fs::write(&victim, "precious").unwrap();

        // The application's directory is a link to a directory outside the root.
        std::os::unix::fs::symlink(&outside, root.path.join(TENANT).join(APP)).unwrap();
        let opened = FileSink::open(&settings("victim.db"), &root, TENANT, APP, vec![]).await;
        assert!(opened.is_err(), "followed a linked directory");
        std::fs::remove_file(root.path.join(TENANT).join(APP)).unwrap();

        // The file itself is a link, or a hard link, to a file outside.
        let app_dir = root.path.join(TENANT).join(APP);
        std::fs::create_dir_all(&app_dir).unwrap();
        std::os::unix::fs::symlink(&victim, app_dir.join("soft.log")).unwrap();
        let opened = FileSink::open(&settings("soft.log"), &root, TENANT, APP, vec![]).await;
        assert!(opened.is_err(), "followed a linked file");
        std::fs::hard_link(&victim, app_dir.join("hard.log")).unwrap();
        let opened = FileSink::open(&settings("hard.log"), &root, TENANT, APP, vec![]).await;
        assert!(opened.is_err(), "wrote through a hard link");

        // A link where a rolled file goes is renamed, not followed.
        let mut sink = FileSink::open(&settings("roll.log"), &root, TENANT, APP, vec![])
            .await
            .unwrap();
        std::os::unix::fs::symlink(&victim, app_dir.join("roll.log.1")).unwrap();
        for _ in 0..3 {
            sink.write(&batch(2)).await.unwrap();
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    }
}
