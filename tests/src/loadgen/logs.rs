//! `kaa-loadgen logs`: each endpoint uploads log batches over its session and counts what the
//! node acknowledges: the log-ingest figure (acknowledged records/s through the application's
//! appenders, ack latency, failures by Kaa's delivery error code).
//!
//! Once every session is open, each endpoint sends a batch of `--batch` [`Reading`]s (its next
//! sequence numbers) `--rate` times a second for `--duration`, each batch in its own sync whose
//! request id is also the batch's id; the node answers each with a delivery status
//! (`LogSyncResponse`), SUCCESS only once every confirming appender stored the batch. Without
//! `--confirm` batches go out on time whatever is outstanding; with it an endpoint sends its
//! next batch only after the status of the last one (as Kaa's SDKs do with one batch in flight),
//! so a slow appender slows the senders down instead of piling up. A batch answered FAILURE
//! holds its endpoint's next batch back for `--retry-after` (Kaa's SDKs wait their upload
//! strategy's retry period), so a refusing node is not hammered by endpoints in a tight loop.
//! After `--duration` the endpoints send no more and wait (at most `--timeout`) for the statuses
//! still due.
//!
//! Counting: a batch counts once, by its first status (its records acknowledged on SUCCESS, the
//! batch failed under its error code on FAILURE); a status for a batch not outstanding is counted
//! apart (`unexpected_statuses`) and nothing else; batches without a status at the end are
//! `unanswered`. The latency of a batch is from its send to its status.
//!
//! Result fields: `records_acked` and `acked_records_per_s` (over `ack_window_s`, from the first
//! send to the last status), `ack_latency`, `failed_batches` (by error code), `records_failed`,
//! `unexpected_statuses`, `unanswered_batches`, `batches_sent`, `records_sent`.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kaa_sdk::avro::{AvroError, AvroRecord, Reader, Writer};
use kaa_sdk::idl::endpoint::sync::{
    LogEntry, LogSyncRequest, SyncRequest, SyncResponse, SyncResponseResultType,
};
use serde_json::{Map, Value, json};
use tokio::time::{Instant, MissedTickBehavior};

use crate::loadgen::Run;
use crate::loadgen::progress::Progress;
use crate::loadgen::report::{latency, rss_bytes, seconds};
use crate::loadgen::session::{Session, SessionError};

/// The application's log schema the benchmark creates; [`Reading`] is its Avro binary.
pub const READING_SCHEMA: &str = r#"{"type":"record","name":"Reading","fields":[{"name":"seq","type":"long"},{"name":"endpoint","type":"int"},{"name":"payload","type":"string"}]}"#;

/// Bytes of a record's payload.
pub const PAYLOAD_BYTES: usize = 64;

/// One log record: its place in its endpoint's sequence, the endpoint's index in the run, and
/// [`PAYLOAD_BYTES`] of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The record's sequence number at its endpoint (from 0 in every run).
    pub seq: i64,
    /// The endpoint's index in the run.
    pub endpoint: i32,
    /// Text naming the record, padded to [`PAYLOAD_BYTES`].
    pub payload: String,
}

impl Reading {
    /// Record `seq` of endpoint `endpoint`.
    pub fn new(endpoint: i32, seq: i64) -> Self {
        let mut payload = format!("endpoint {endpoint} record {seq} ");
        payload.truncate(PAYLOAD_BYTES);
        let padding = PAYLOAD_BYTES - payload.len();
        payload.extend(std::iter::repeat_n('.', padding));
        Self {
            seq,
            endpoint,
            payload,
        }
    }
}

impl AvroRecord for Reading {
    fn write_avro(&self, writer: &mut Writer) {
        writer.long(self.seq);
        writer.int(self.endpoint);
        writer.string(&self.payload);
    }

    fn read_avro(reader: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            seq: reader.long()?,
            endpoint: reader.int()?,
            payload: reader.string()?.to_owned(),
        })
    }
}

/// How each endpoint uploads.
#[derive(Debug, Clone, Copy)]
pub struct LogsOptions {
    /// Records per batch.
    pub batch: usize,
    /// Batches per endpoint per second (with `confirm`, 0 means back to back).
    pub rate: f64,
    /// Wait for each batch's status before the next.
    pub confirm: bool,
    /// The pause before an endpoint's next batch after one answered FAILURE.
    pub retry_after: Duration,
    /// How long endpoints send.
    pub duration: Duration,
}

impl LogsOptions {
    /// Refuses options that would send nothing or flood without bound.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.batch == 0 {
            anyhow::bail!("--batch must be at least 1");
        }
        if !(self.rate > 0.0 || (self.confirm && self.rate == 0.0)) {
            anyhow::bail!("--rate must be above 0 (or 0 with --confirm: back to back)");
        }
        Ok(())
    }

    /// The pause between two batches of one endpoint, if any.
    fn period(&self) -> Option<Duration> {
        (self.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / self.rate))
    }
}

/// A batch waiting for its status.
struct Outstanding {
    sent: Instant,
    records: u64,
}

/// What one endpoint saw; [`Tally::merge`] adds endpoints up.
#[derive(Debug, Default)]
pub struct Tally {
    /// Batches sent.
    pub batches_sent: u64,
    /// Records sent.
    pub records_sent: u64,
    /// Records of batches answered SUCCESS.
    pub records_acked: u64,
    /// Send-to-status time of each batch answered SUCCESS.
    pub ack_latencies: Vec<Duration>,
    /// Batches answered FAILURE, by error code (`none` when the status has none).
    pub failures: BTreeMap<String, u64>,
    /// Records of failed batches.
    pub records_failed: u64,
    /// Statuses for batches not outstanding (never counted otherwise).
    pub unexpected_statuses: u64,
    /// Batches still without a status at the end (their session ended, or the drain did).
    pub unanswered: u64,
    /// When the last status came.
    pub last_status: Option<Instant>,
}

impl Tally {
    /// Adds `other` in.
    pub fn merge(&mut self, other: Tally) {
        self.batches_sent += other.batches_sent;
        self.records_sent += other.records_sent;
        self.records_acked += other.records_acked;
        self.ack_latencies.extend(other.ack_latencies);
        for (code, count) in other.failures {
            *self.failures.entry(code).or_default() += count;
        }
        self.records_failed += other.records_failed;
        self.unexpected_statuses += other.unexpected_statuses;
        self.unanswered += other.unanswered;
        self.last_status = self.last_status.max(other.last_status);
    }

    /// Counts the delivery statuses of `response` against the outstanding batches.
    /// Acknowledged records count as the progress line's operations.
    fn see(
        &mut self,
        response: &SyncResponse,
        outstanding: &mut HashMap<i32, Outstanding>,
        progress: &Progress,
    ) {
        let statuses = response
            .log_sync_response
            .as_ref()
            .and_then(|logs| logs.delivery_statuses.as_deref())
            .unwrap_or_default();
        let now = Instant::now();
        for status in statuses {
            let Some(batch) = outstanding.remove(&status.request_id) else {
                self.unexpected_statuses += 1;
                continue;
            };
            self.last_status = Some(now);
            match status.result {
                SyncResponseResultType::Success => {
                    self.records_acked += batch.records;
                    progress
                        .operations
                        .fetch_add(batch.records, Ordering::Relaxed);
                    self.ack_latencies.push(now - batch.sent);
                }
                _ => {
                    let code = status
                        .error_code
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), |code| format!("{code:?}"));
                    *self.failures.entry(code).or_default() += 1;
                    self.records_failed += batch.records;
                }
            }
        }
    }

    /// The mode's fields of the result: `started` is when sending began.
    pub fn report(mut self, options: &LogsOptions, started: Instant) -> Map<String, Value> {
        let window = self
            .last_status
            .map_or(Duration::ZERO, |last| last - started);
        let per_second = if window > Duration::ZERO {
            (self.records_acked as f64 / window.as_secs_f64()).round()
        } else {
            0.0
        };
        let fields = json!({
            "batch": options.batch,
            "rate": options.rate,
            "confirm": options.confirm,
            "batches_sent": self.batches_sent,
            "records_sent": self.records_sent,
            "records_acked": self.records_acked,
            "acked_records_per_s": per_second,
            "ack_window_s": seconds(window),
            "ack_latency": latency(&mut self.ack_latencies),
            "failed_batches": self.failures,
            "records_failed": self.records_failed,
            "unexpected_statuses": self.unexpected_statuses,
            "unanswered_batches": self.unanswered,
        });
        match fields {
            Value::Object(fields) => fields,
            _ => unreachable!("a JSON object literal"),
        }
    }
}

/// `request` carrying records `first..first + count` of endpoint `endpoint` as the batch whose
/// id is the request's.
pub fn with_batch(request: SyncRequest, endpoint: i32, first: i64, count: usize) -> SyncRequest {
    let entries = (first..first + count as i64)
        .map(|seq| LogEntry {
            data: Reading::new(endpoint, seq).to_avro(),
        })
        .collect();
    SyncRequest {
        log_sync_request: Some(LogSyncRequest {
            request_id: request.request_id,
            log_entries: Some(entries),
        }),
        ..request
    }
}

/// Runs `logs`: opens every session, then every endpoint uploads for `--duration` from the
/// same moment, and the run waits (at most `--timeout`) for the statuses still due.
pub async fn run(run: &Arc<Run>, options: LogsOptions) -> anyhow::Result<ExitCode> {
    options.validate()?;
    let mut ramp = run.open_sessions(true).await?;
    let rss = rss_bytes();
    let sessions = std::mem::take(&mut ramp.sessions);
    run.progress.phase("logs");
    let start = Instant::now();
    let drain = run.options.load.timeout;
    let tallies = run
        .each(sessions, |mut session| {
            let run = run.clone();
            async move {
                let (tally, lost) = upload(&mut session, &options, start, drain, &run).await;
                match lost {
                    Some(error) => run.lost(&error),
                    None => session.close().await,
                }
                tally
            }
        })
        .await?;
    let mut total = Tally::default();
    for tally in tallies {
        total.merge(tally);
    }
    let mut fields = total.report(&options, start);
    fields.insert("connect".into(), latency(&mut ramp.connect));
    run.finish("logs", &ramp, rss, fields)
}

/// Uploads over `session` from `start` for `options.duration` (or until the run stops), then
/// waits at most `drain` for the statuses still due. Endpoints are staggered over one period
/// so they do not send in step. Returns what the endpoint saw, and the error that ended its
/// session early.
async fn upload(
    session: &mut Session,
    options: &LogsOptions,
    start: Instant,
    drain: Duration,
    run: &Run,
) -> (Tally, Option<SessionError>) {
    let endpoint = session.index() as i32;
    let mut tally = Tally::default();
    let mut outstanding: HashMap<i32, Outstanding> = HashMap::new();
    let mut next_seq = 0i64;
    let period = options.period();
    let offset = period.map_or(Duration::ZERO, |p| {
        p.mul_f64(f64::from(endpoint.rem_euclid(1000)) / 1000.0)
    });
    let end = start + options.duration;
    // Without a period the ticks are never awaited.
    let mut ticks =
        tokio::time::interval_at(start + offset, period.unwrap_or(Duration::from_secs(3600)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Ready: the next batch is due (with --confirm, it goes once nothing is outstanding).
    let mut ready = period.is_none();
    // After a FAILURE: no batch before this moment.
    let mut held_until: Option<Instant> = None;
    let lost = loop {
        if ready && held_until.is_none() && (!options.confirm || outstanding.is_empty()) {
            let request = with_batch(session.request(), endpoint, next_seq, options.batch);
            let sent = Instant::now();
            if let Err(error) = session.send(&request).await {
                break Some(error);
            }
            let records = options.batch as u64;
            outstanding.insert(request.request_id, Outstanding { sent, records });
            tally.batches_sent += 1;
            tally.records_sent += records;
            next_seq += records as i64;
            ready = period.is_none();
        }
        tokio::select! {
            () = run.stop.cancelled() => break None,
            () = tokio::time::sleep_until(end) => break None,
            _ = ticks.tick(), if period.is_some() && !ready => ready = true,
            () = sleep_until_some(held_until) => held_until = None,
            answer = session.receive() => match answer {
                Ok(response) => {
                    let failed_before = tally.records_failed;
                    tally.see(&response, &mut outstanding, &run.progress);
                    if tally.records_failed > failed_before {
                        held_until = Some(Instant::now() + options.retry_after);
                    }
                }
                Err(error) => break Some(error),
            },
        }
    };
    let lost = match lost {
        Some(error) => Some(error),
        None => {
            let deadline = Instant::now() + drain;
            let mut lost = None;
            while !outstanding.is_empty() {
                match tokio::time::timeout_at(deadline, session.receive()).await {
                    Ok(Ok(response)) => tally.see(&response, &mut outstanding, &run.progress),
                    Ok(Err(error)) => {
                        lost = Some(error);
                        break;
                    }
                    Err(_) => break,
                }
            }
            lost
        }
    };
    tally.unanswered += outstanding.len() as u64;
    (tally, lost)
}

/// Sleeps until `moment`, or forever without one.
async fn sleep_until_some(moment: Option<Instant>) {
    match moment {
        Some(moment) => tokio::time::sleep_until(moment).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaa_sdk::idl::endpoint::sync::{LogDeliveryErrorCode, LogDeliveryStatus, LogSyncResponse};

    #[test]
    fn a_reading_is_the_schema_s_avro_with_a_64_byte_payload() {
        let reading = Reading::new(7, 300);
        assert_eq!(reading.payload.len(), PAYLOAD_BYTES);
        assert!(reading.payload.starts_with("endpoint 7 record 300 ..."));
        let bytes = reading.to_avro();
        // seq 300 zig-zag = 600 = [0xd8, 0x04], endpoint 7 = [0x0e], length 64 = [0x80, 0x01].
        assert_eq!(&bytes[..5], &[0xd8, 0x04, 0x0e, 0x80, 0x01]);
        assert_eq!(bytes.len(), 5 + PAYLOAD_BYTES);
        assert_eq!(Reading::from_avro(&bytes), Ok(reading));
        let huge = Reading::new(i32::MAX, i64::MAX);
        assert_eq!(huge.payload.len(), PAYLOAD_BYTES);
    }

    #[test]
    fn a_batch_is_one_sync_whose_id_is_the_batch_id() {
        let request = SyncRequest {
            request_id: 9,
            ..SyncRequest::default()
        };
        let request = with_batch(request, 2, 10, 3);
        assert_eq!(request.request_id, 9);
        let logs = request.log_sync_request.unwrap();
        assert_eq!(logs.request_id, 9);
        let seqs: Vec<i64> = logs
            .log_entries
            .unwrap()
            .iter()
            .map(|entry| Reading::from_avro(&entry.data).unwrap().seq)
            .collect();
        assert_eq!(seqs, [10, 11, 12]);
    }

    fn statuses(list: &[(i32, bool)]) -> SyncResponse {
        SyncResponse {
            log_sync_response: Some(LogSyncResponse {
                delivery_statuses: Some(
                    list.iter()
                        .map(|&(request_id, ok)| LogDeliveryStatus {
                            request_id,
                            result: if ok {
                                SyncResponseResultType::Success
                            } else {
                                SyncResponseResultType::Failure
                            },
                            error_code: (!ok)
                                .then_some(LogDeliveryErrorCode::RemoteConnectionError),
                        })
                        .collect(),
                ),
            }),
            ..SyncResponse::new(1, SyncResponseResultType::Success)
        }
    }

    #[test]
    fn each_batch_counts_once_by_its_first_status() {
        let mut tally = Tally::default();
        let mut outstanding: HashMap<i32, Outstanding> = (1..=3)
            .map(|id| {
                let batch = Outstanding {
                    sent: Instant::now(),
                    records: 10,
                };
                (id, batch)
            })
            .collect();
        let progress = Progress::start(3, true);
        tally.see(
            &statuses(&[(1, true), (2, false)]),
            &mut outstanding,
            &progress,
        );
        // A repeated status and one for a batch never sent change nothing but their own count.
        let again = statuses(&[(1, true), (2, true), (7, true)]);
        tally.see(&again, &mut outstanding, &progress);
        assert_eq!(tally.records_acked, 10);
        assert_eq!(progress.operations.load(Ordering::Relaxed), 10);
        assert_eq!(tally.ack_latencies.len(), 1);
        assert_eq!(
            tally.failures,
            BTreeMap::from([("RemoteConnectionError".to_owned(), 1)])
        );
        assert_eq!(tally.records_failed, 10);
        assert_eq!(tally.unexpected_statuses, 3);
        assert_eq!(outstanding.keys().copied().collect::<Vec<_>>(), [3]);
    }
}
