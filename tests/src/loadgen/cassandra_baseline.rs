//! `kaa-loadgen cassandra-baseline`: what the raw `scylla` driver stores in the same Cassandra,
//! the baseline of the log-ingest figure (acknowledged records/s through a confirm-delivery
//! Cassandra appender ÷ rows/s here).
//!
//! The same as the node's `cassandra` appender (operations/src/logs/cassandra.rs) with its own
//! contact points:
//! - the rows: a table `(id uuid PRIMARY KEY, seq text, endpoint text, payload text)` (the
//!   appender keys rows by a UUIDv7 and stores record fields as text: numbers as their JSON
//!   text), the records the `logs` mode sends ([`Reading`]: batch `k` holds the next `--batch`
//!   sequence numbers of endpoint `k mod --endpoints`), created when missing (in the keyspace
//!   the appender writes to, or one created as the appender would);
//! - the session: kaa-store's `session_builder` (keepalive 2 s) with the replication a node's
//!   default configuration gives an appender writing to its endpoint store's ring (SimpleStrategy,
//!   replication factor 1, LOCAL_QUORUM, token-aware, 10 s request timeout), one prepared,
//!   idempotent INSERT;
//! - the write of a batch ([`Shape::Rows`], the default): one single-row INSERT per record, at most
//!   [`CONCURRENT_ROWS`] in flight, the batch done when every row is. An appender writes its
//!   batches one after another (one worker per appender), so `--concurrency 1` is the node's
//!   shape exactly; more batches in flight show what Cassandra itself can take.
//!
//! Not the same: no endpoint, network session, Avro decoding or delivery status; the baseline
//! writes to its own table (rows of earlier runs stay; name a fresh table for a clean run).
//! [`Shape::Unlogged`] writes each batch as one unlogged CQL batch of the prepared INSERT instead
//! (the driver's other way of writing a batch; the appender does not do this, and Cassandra warns
//! about multi-partition batches above 5 KiB).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kaa_store::endpoint::{CassandraReplication, session_builder};
use scylla::client::session::Session;
use scylla::errors::{ExecutionError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use serde_json::json;
use uuid::Uuid;

use crate::loadgen::logs::Reading;
use crate::loadgen::report::{self, latency, seconds};

/// Rows of one batch in flight at once, as the node's Cassandra appender writes them.
pub const CONCURRENT_ROWS: usize = 32;

/// How one batch is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// One INSERT per row, [`CONCURRENT_ROWS`] in flight: what the appender does.
    Rows,
    /// One unlogged CQL batch per log batch.
    Unlogged,
}

impl Shape {
    /// The shape's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rows => "rows",
            Self::Unlogged => "unlogged",
        }
    }
}

/// What to write.
#[derive(Debug, Clone)]
pub struct BaselineOptions {
    /// Cassandra contact points, `host:port`.
    pub contact_points: Vec<String>,
    /// Keyspace (created when missing).
    pub keyspace: String,
    /// Table (created when missing).
    pub table: String,
    /// Rows to write in all (rounded up to whole batches).
    pub rows: u64,
    /// Rows per batch (the `logs` mode's `--batch`).
    pub batch: usize,
    /// Batches in flight.
    pub concurrency: usize,
    /// Endpoints the rows are spread over, as in the `logs` mode.
    pub endpoints: u32,
    /// How a batch is written.
    pub shape: Shape,
}

/// Writes the rows, prints the result (and writes it to `result`): `rows` (of batches that
/// succeeded), `rows_per_s`, `batch_latency`, `errors` (failed batches by kind, whose rows do not
/// count). Fails (exit status 1) when a batch failed.
pub async fn run(options: &BaselineOptions, result: Option<&Path>) -> anyhow::Result<ExitCode> {
    if options.batch == 0 || options.concurrency == 0 || options.endpoints == 0 {
        bail!("--batch, --concurrency and --endpoints must be at least 1");
    }
    for name in [&options.keyspace, &options.table] {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("{name:?} is not a plain CQL identifier");
        }
    }
    let writer = Arc::new(Writer::connect(options).await?);
    let batches = options.rows.div_ceil(options.batch as u64);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..options.concurrency {
        let (writer, next) = (writer.clone(), next.clone());
        let (batch, endpoints) = (options.batch, options.endpoints);
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= batches {
                    break tally;
                }
                let rows = batch_rows(k, batch, endpoints);
                let sent = Instant::now();
                match writer.write(rows).await {
                    Ok(()) => {
                        tally.rows += batch as u64;
                        tally.latencies.push(sent.elapsed());
                    }
                    Err(error) => *tally.errors.entry(error_kind(&error)).or_default() += 1,
                }
            }
        }));
    }
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await.context("a writer task failed")?;
        total.rows += tally.rows;
        total.latencies.extend(tally.latencies);
        for (kind, count) in tally.errors {
            *total.errors.entry(kind).or_default() += count;
        }
    }
    let elapsed = started.elapsed();
    let failed = !total.errors.is_empty();
    let figures = json!({
        "mode": "cassandra-baseline",
        "contact_points": options.contact_points,
        "table": format!("{}.{}", options.keyspace, options.table),
        "shape": options.shape.name(),
        "endpoints": options.endpoints,
        "batch": options.batch,
        "concurrency": options.concurrency,
        "rows": total.rows,
        "rows_per_s": (total.rows as f64 / elapsed.as_secs_f64().max(1e-9)).round(),
        "batch_latency": latency(&mut total.latencies),
        "errors": total.errors,
        "elapsed_s": seconds(elapsed),
    });
    report::publish(&figures, result)?;
    if failed {
        eprintln!("kaa-loadgen: some batches failed: {}", figures["errors"]);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What one writer task saw.
#[derive(Default)]
struct Tally {
    rows: u64,
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
}

/// One row as the appender stores it: (id, seq, endpoint, payload).
type Row = (Uuid, String, String, String);

/// The rows of batch `k`: the next `batch` records of endpoint `k mod endpoints`.
fn batch_rows(k: u64, batch: usize, endpoints: u32) -> Vec<Row> {
    let endpoint = (k % u64::from(endpoints)) as i32;
    let first = (k / u64::from(endpoints)) as i64 * batch as i64;
    (first..first + batch as i64)
        .map(|seq| {
            let reading = Reading::new(endpoint, seq);
            (
                Uuid::now_v7(),
                reading.seq.to_string(),
                reading.endpoint.to_string(),
                reading.payload,
            )
        })
        .collect()
}

/// A session and the prepared insert.
struct Writer {
    session: Session,
    insert: PreparedStatement,
    shape: Shape,
}

impl Writer {
    async fn connect(options: &BaselineOptions) -> anyhow::Result<Self> {
        let replication = CassandraReplication::simple(1);
        let session = replication
            .apply(session_builder().known_nodes(&options.contact_points))
            .build()
            .await
            .with_context(|| format!("connecting to Cassandra {:?}", options.contact_points))?;
        let table = format!("{}.{}", options.keyspace, options.table);
        for statement in [
            replication.create_keyspace_cql(&options.keyspace),
            format!(
                "CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY, seq text, endpoint text, payload text)"
            ),
        ] {
            session
                .query_unpaged(statement.clone(), ())
                .await
                .with_context(|| statement)?;
        }
        let mut insert = session
            .prepare(format!(
                "INSERT INTO {table} (id, seq, endpoint, payload) VALUES (?, ?, ?, ?)"
            ))
            .await
            .with_context(|| format!("preparing the insert into {table}"))?;
        insert.set_is_idempotent(true);
        Ok(Self {
            session,
            insert,
            shape: options.shape,
        })
    }

    async fn write(&self, rows: Vec<Row>) -> Result<(), ExecutionError> {
        match self.shape {
            Shape::Rows => {
                let mut pending = FuturesUnordered::new();
                for row in rows {
                    if pending.len() >= CONCURRENT_ROWS
                        && let Some(Err(error)) = pending.next().await
                    {
                        return Err(error);
                    }
                    pending.push(self.session.execute_unpaged(&self.insert, row));
                }
                while let Some(written) = pending.next().await {
                    written?;
                }
            }
            Shape::Unlogged => {
                let mut batch = Batch::new(BatchType::Unlogged);
                for _ in 0..rows.len() {
                    batch.append_statement(self.insert.clone());
                }
                batch.set_is_idempotent(true);
                self.session.batch(&batch, rows).await?;
            }
        }
        Ok(())
    }
}

/// A failed write's kind: Cassandra's error code name, or the driver's failure.
fn error_kind(error: &ExecutionError) -> String {
    let text = match error {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => {
            format!("{db:?}")
        }
        ExecutionError::LastAttemptError(attempt) => format!("{attempt:?}"),
        other => format!("{other:?}"),
    };
    // The variant's name, without its fields.
    text.split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_walk_the_endpoints_then_their_next_sequence_numbers() {
        let rows = |k| -> Vec<(String, String)> {
            batch_rows(k, 3, 2)
                .into_iter()
                .map(|(_, seq, endpoint, payload)| {
                    assert_eq!(payload.len(), 64);
                    (endpoint, seq)
                })
                .collect()
        };
        let pairs = |endpoint: &str, seqs: [&str; 3]| -> Vec<(String, String)> {
            seqs.iter()
                .map(|seq| (endpoint.to_owned(), (*seq).to_owned()))
                .collect()
        };
        assert_eq!(rows(0), pairs("0", ["0", "1", "2"]));
        assert_eq!(rows(1), pairs("1", ["0", "1", "2"]));
        assert_eq!(rows(2), pairs("0", ["3", "4", "5"]));
    }
}
