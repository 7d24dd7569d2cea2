//! Log upload: records the application logs are kept in a persistent local buffer until the
//! server acknowledges them, so nothing acknowledged is lost and nothing unacknowledged is
//! dropped by a crash or restart of the endpoint.
//!
//! Flow: [`LogBuffer::append`] writes the record to `<state_dir>/logs/records` (append-only
//! frames `u64 id | u32 length | record`, little-endian) and gives it the next id. The client's
//! session sends the oldest unacknowledged records as one batch (a `LogSyncRequest` whose request
//! id is the batch's bucket id), one batch in flight at a time. A `SUCCESS` delivery status for
//! that bucket moves the acknowledged mark (`<state_dir>/logs/acked`, replaced atomically) past
//! the batch; a `FAILURE`, a missing status after the delivery timeout, or the end of the session
//! leaves the records in the buffer to be sent again. The server may thus store a batch twice
//! (when its status was lost), never zero times once it said `SUCCESS`.
//!
//! Writes go to the operating system at once (no user-space buffering), so records survive the
//! endpoint process being killed; they are not synced to the disk on every record, so a power
//! loss can take the last records with it. A torn last frame (the process died mid-write) is
//! dropped on open. When the acknowledged prefix of the file grows past half of it, the file is
//! rewritten with only the pending records.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kaa_idl::endpoint::sync::{
    LogDeliveryErrorCode, LogDeliveryStatus, LogEntry, LogSyncRequest, SyncResponseResultType,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::SdkError;

/// How the client uploads logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Most records in one batch.
    pub batch_records: usize,
    /// Most unacknowledged records kept; [`LogBuffer::append`] refuses more.
    pub buffer_records: usize,
    /// How long a batch waits for its delivery status before it is sent again.
    pub delivery_timeout: Duration,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            batch_records: 256,
            buffer_records: 100_000,
            delivery_timeout: Duration::from_secs(30),
        }
    }
}

/// A batch to send: the ids of its first and last records and the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Id of the first record.
    pub first: u64,
    /// Id of the last record.
    pub last: u64,
    /// The records, oldest first.
    pub entries: Vec<LogEntry>,
}

const RECORDS_FILE: &str = "records";
const ACKED_FILE: &str = "acked";
/// Frame header: record id and length.
const HEADER_LEN: usize = 12;
/// Below this many acknowledged records in the file, it is never rewritten.
const COMPACT_AFTER: usize = 4096;

/// The buffer shared by the application (which appends) and the session (which uploads).
pub struct SharedLogs {
    buffer: Mutex<LogBuffer>,
    appended: Notify,
}

impl SharedLogs {
    /// Shares `buffer`.
    pub fn new(buffer: LogBuffer) -> Arc<Self> {
        Arc::new(Self {
            buffer: Mutex::new(buffer),
            appended: Notify::new(),
        })
    }

    /// Stores a record (see [`LogBuffer::append`]) and wakes the uploader.
    pub fn append(&self, record: Vec<u8>) -> Result<u64, SdkError> {
        let id = self.buffer().append(record)?;
        self.appended.notify_one();
        Ok(id)
    }

    /// Resolves after a record was appended (at once if one was appended since the last call).
    pub async fn appended(&self) {
        self.appended.notified().await;
    }

    fn buffer(&self) -> MutexGuard<'_, LogBuffer> {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What became of a batch, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server stored records `first..=last`.
    Delivered {
        /// First record id.
        first: u64,
        /// Last record id.
        last: u64,
    },
    /// Records `first..=last` were not stored (a failure status, or no status in time); they
    /// are sent again.
    Failed {
        /// First record id.
        first: u64,
        /// Last record id.
        last: u64,
        /// The server's reason, if it gave one.
        code: Option<LogDeliveryErrorCode>,
    },
}

/// The batch in flight.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    bucket: i32,
    first: u64,
    last: u64,
    deadline: Instant,
}

/// A session's side of the upload: one batch in flight, resent after a failure or a timeout.
pub struct Uploader {
    logs: Arc<SharedLogs>,
    timeout: Duration,
    retry_delay: Duration,
    in_flight: Option<InFlight>,
    retry_at: Option<Instant>,
    next_bucket: i32,
}

impl Uploader {
    /// An uploader of `logs`; a batch without a status after `timeout` is sent again, a failed
    /// one after `retry_delay`.
    pub fn new(logs: Arc<SharedLogs>, timeout: Duration, retry_delay: Duration) -> Self {
        Self {
            logs,
            timeout,
            retry_delay,
            in_flight: None,
            retry_at: None,
            next_bucket: 0,
        }
    }

    /// The buffer this uploader sends from.
    pub fn logs(&self) -> &Arc<SharedLogs> {
        &self.logs
    }

    /// The next batch to send, if one is due: none is in flight, no retry pause runs, and
    /// records wait.
    pub fn next(&mut self, now: Instant) -> Option<LogSyncRequest> {
        if self.in_flight.is_some() || self.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        self.retry_at = None;
        let batch = self.logs.buffer().batch()?;
        self.next_bucket = self.next_bucket.wrapping_add(1);
        self.in_flight = Some(InFlight {
            bucket: self.next_bucket,
            first: batch.first,
            last: batch.last,
            deadline: now + self.timeout,
        });
        Some(LogSyncRequest {
            request_id: self.next_bucket,
            log_entries: Some(batch.entries),
        })
    }

    /// When [`Uploader::on_deadline`] must run: the in-flight batch's timeout or the end of a
    /// retry pause.
    pub fn deadline(&self) -> Option<Instant> {
        self.in_flight.map(|f| f.deadline).or(self.retry_at)
    }

    /// A deadline passed: a batch without a status counts as failed and is sent again.
    pub fn on_deadline(&mut self, now: Instant) -> Option<Delivery> {
        match self.in_flight {
            Some(flight) if flight.deadline <= now => {
                self.in_flight = None;
                Some(Delivery::Failed {
                    first: flight.first,
                    last: flight.last,
                    code: None,
                })
            }
            _ => {
                if self.retry_at.is_some_and(|at| at <= now) {
                    self.retry_at = None;
                }
                None
            }
        }
    }

    /// Takes in delivery statuses; statuses of other buckets (answers to batches already sent
    /// again) are ignored.
    pub fn on_statuses(
        &mut self,
        statuses: &[LogDeliveryStatus],
        now: Instant,
    ) -> io::Result<Vec<Delivery>> {
        let mut outcomes = Vec::new();
        for status in statuses {
            let Some(flight) = self.in_flight.filter(|f| f.bucket == status.request_id) else {
                tracing::debug!(
                    bucket = status.request_id,
                    "status of a batch no longer in flight"
                );
                continue;
            };
            self.in_flight = None;
            if status.result == SyncResponseResultType::Success {
                self.logs.buffer().acknowledge(flight.last)?;
                outcomes.push(Delivery::Delivered {
                    first: flight.first,
                    last: flight.last,
                });
            } else {
                self.retry_at = Some(now + self.retry_delay);
                outcomes.push(Delivery::Failed {
                    first: flight.first,
                    last: flight.last,
                    code: status.error_code,
                });
            }
        }
        Ok(outcomes)
    }

    /// The session ended: a batch in flight is sent again on the next one.
    pub fn session_ended(&mut self) {
        self.in_flight = None;
    }
}

/// The endpoint's unacknowledged log records, on disk and in memory.
pub struct LogBuffer {
    dir: PathBuf,
    file: File,
    pending: VecDeque<(u64, Vec<u8>)>,
    next_id: u64,
    acked: u64,
    /// Acknowledged records still in the file.
    acked_in_file: usize,
    settings: LogSettings,
}

impl LogBuffer {
    /// Opens (or creates) the buffer in `dir`, loading the records not yet acknowledged.
    pub fn open(dir: &Path, settings: LogSettings) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let acked = match std::fs::read(dir.join(ACKED_FILE)) {
            Ok(bytes) => bytes
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "acked file is torn"))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => 0,
            Err(error) => return Err(error),
        };
        let path = dir.join(RECORDS_FILE);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes)?;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let (frames, whole) = parse_frames(&bytes);
        let mut pending = VecDeque::new();
        let mut acked_in_file = 0;
        let mut next_id = acked + 1;
        for (id, record) in frames {
            next_id = next_id.max(id + 1);
            if id <= acked {
                acked_in_file += 1;
            } else {
                pending.push_back((id, record));
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if whole < bytes.len() {
            tracing::warn!(
                torn_bytes = bytes.len() - whole,
                "dropping a torn last log record"
            );
            file.set_len(whole as u64)?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            file,
            pending,
            next_id,
            acked,
            acked_in_file,
            settings,
        })
    }

    /// Stores `record` and returns its id; refuses it when the buffer holds
    /// `buffer_records` unacknowledged records already.
    pub fn append(&mut self, record: Vec<u8>) -> Result<u64, SdkError> {
        if self.pending.len() >= self.settings.buffer_records {
            return Err(SdkError::LogBufferFull(self.settings.buffer_records));
        }
        let length = u32::try_from(record.len())
            .map_err(|_| SdkError::Protocol("a log record is over 4 GiB".into()))?;
        let id = self.next_id;
        let mut frame = Vec::with_capacity(HEADER_LEN + record.len());
        frame.extend_from_slice(&id.to_le_bytes());
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(&record);
        self.file.write_all(&frame)?;
        self.next_id += 1;
        self.pending.push_back((id, record));
        Ok(id)
    }

    /// The oldest unacknowledged records, at most `batch_records` of them.
    pub fn batch(&self) -> Option<Batch> {
        let records: Vec<&(u64, Vec<u8>)> = self
            .pending
            .iter()
            .take(self.settings.batch_records.max(1))
            .collect();
        let (first, last) = (records.first()?.0, records.last()?.0);
        Some(Batch {
            first,
            last,
            entries: records
                .into_iter()
                .map(|(_, data)| LogEntry { data: data.clone() })
                .collect(),
        })
    }

    /// Records through `last` are stored by the server: forget them, durably.
    pub fn acknowledge(&mut self, last: u64) -> io::Result<()> {
        if last <= self.acked {
            return Ok(());
        }
        while self.pending.front().is_some_and(|(id, _)| *id <= last) {
            self.pending.pop_front();
            self.acked_in_file += 1;
        }
        self.acked = last;
        replace(&self.dir.join(ACKED_FILE), &last.to_le_bytes())?;
        if self.acked_in_file >= COMPACT_AFTER && self.acked_in_file > self.pending.len() {
            self.compact()?;
        }
        Ok(())
    }

    /// How many records wait for acknowledgement.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Rewrites the records file with only the pending records.
    fn compact(&mut self) -> io::Result<()> {
        let mut bytes = Vec::new();
        for (id, record) in &self.pending {
            bytes.extend_from_slice(&id.to_le_bytes());
            bytes.extend_from_slice(&(record.len() as u32).to_le_bytes());
            bytes.extend_from_slice(record);
        }
        let path = self.dir.join(RECORDS_FILE);
        replace(&path, &bytes)?;
        self.file = OpenOptions::new().append(true).open(&path)?;
        self.acked_in_file = 0;
        Ok(())
    }
}

/// The whole frames of a records file and the length they cover.
fn parse_frames(bytes: &[u8]) -> (Vec<(u64, Vec<u8>)>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + HEADER_LEN) {
        let id = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
        let length = u32::from_le_bytes(header[8..].try_into().expect("4 bytes")) as usize;
        let Some(record) = bytes.get(at + HEADER_LEN..at + HEADER_LEN + length) else {
            break;
        };
        frames.push((id, record.to_vec()));
        at += HEADER_LEN + length;
    }
    (frames, at)
}

/// Replaces `path` with `bytes` atomically (write a sibling, sync it, rename).
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("new");
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(batch: usize, buffer: usize) -> LogSettings {
        LogSettings {
            batch_records: batch,
            buffer_records: buffer,
            ..LogSettings::default()
        }
    }

    #[test]
    fn records_survive_a_restart_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut buffer = LogBuffer::open(dir.path(), settings(2, 10)).unwrap();
        for n in 0..5u8 {
            assert_eq!(buffer.append(vec![n; 3]).unwrap(), u64::from(n) + 1);
        }
        let batch = buffer.batch().unwrap();
        assert_eq!((batch.first, batch.last), (1, 2));
        assert_eq!(batch.entries[1].data, vec![1; 3]);
        buffer.acknowledge(2).unwrap();
        drop(buffer);

        let mut reopened = LogBuffer::open(dir.path(), settings(10, 10)).unwrap();
        assert_eq!(reopened.pending(), 3);
        let batch = reopened.batch().unwrap();
        assert_eq!((batch.first, batch.last), (3, 5));
        assert_eq!(reopened.append(vec![9]).unwrap(), 6, "ids keep increasing");
    }

    #[test]
    fn a_torn_last_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut buffer = LogBuffer::open(dir.path(), settings(10, 10)).unwrap();
        buffer.append(b"whole".to_vec()).unwrap();
        drop(buffer);
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(RECORDS_FILE))
            .unwrap();
        file.write_all(&[2, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, b'x'])
            .unwrap();
        let mut reopened = LogBuffer::open(dir.path(), settings(10, 10)).unwrap();
        assert_eq!(reopened.pending(), 1);
        assert_eq!(reopened.append(b"next".to_vec()).unwrap(), 2);
        drop(reopened);
        let again = LogBuffer::open(dir.path(), settings(10, 10)).unwrap();
        let batch = again.batch().unwrap();
        assert_eq!(batch.entries.len(), 2);
        assert_eq!(batch.entries[1].data, b"next");
    }

    #[test]
    fn a_full_buffer_refuses_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut buffer = LogBuffer::open(dir.path(), settings(10, 2)).unwrap();
        buffer.append(vec![1]).unwrap();
        buffer.append(vec![2]).unwrap();
        assert!(matches!(
            buffer.append(vec![3]),
            Err(SdkError::LogBufferFull(2))
        ));
        buffer.acknowledge(1).unwrap();
        assert_eq!(buffer.append(vec![3]).unwrap(), 3);
    }

    #[test]
    fn compaction_keeps_only_pending_records() {
        let dir = tempfile::tempdir().unwrap();
        let count = COMPACT_AFTER as u64 + 10;
        let mut buffer = LogBuffer::open(dir.path(), settings(100, 10_000)).unwrap();
        for n in 0..count {
            buffer.append(n.to_le_bytes().to_vec()).unwrap();
        }
        buffer.acknowledge(count - 3).unwrap();
        let size = std::fs::metadata(dir.path().join(RECORDS_FILE))
            .unwrap()
            .len();
        assert_eq!(size, 3 * (HEADER_LEN as u64 + 8), "only 3 records remain");
        buffer.append(vec![7]).unwrap();
        drop(buffer);
        let reopened = LogBuffer::open(dir.path(), settings(100, 10_000)).unwrap();
        let batch = reopened.batch().unwrap();
        assert_eq!((batch.first, batch.last), (count - 2, count + 1));
    }

    #[test]
    fn stale_acknowledgements_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut buffer = LogBuffer::open(dir.path(), settings(10, 10)).unwrap();
        buffer.append(vec![1]).unwrap();
        buffer.append(vec![2]).unwrap();
        buffer.acknowledge(2).unwrap();
        buffer.acknowledge(1).unwrap();
        assert_eq!(buffer.pending(), 0);
        assert!(buffer.batch().is_none());
    }
}
