//! The `cassandra` appender: one row per record in `keyspace.table`, keyed by a time-ordered
//! UUID `id`, with the configured columns (header fields typed as Kaa's header record, record
//! fields as text: strings as they are, anything else as JSON). `id` is a UUIDv7: unique, and
//! ordered by write time.
//!
//! The keyspace and table are created when missing. Rows of one batch are written concurrently;
//! the batch is stored once every row is.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kaa_model::appender::{CassandraSettings, ColumnSource, HeaderField};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{ExecutionError, RequestAttemptError};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;
use serde_json::Value;

use super::record::{LogBatch, column_value};
use super::{SinkError, StoreDefaults};

/// Rows of one batch in flight at once.
const CONCURRENT_ROWS: usize = 32;

/// A connected Cassandra appender.
pub struct CassandraSink {
    session: Arc<Session>,
    insert: PreparedStatement,
    columns: Vec<ColumnSource>,
}

impl CassandraSink {
    /// Connects, creates the keyspace and table when missing, prepares the insert.
    pub async fn connect(
        settings: &CassandraSettings,
        defaults: &StoreDefaults,
    ) -> Result<Self, SinkError> {
        let contact_points = settings
            .contact_points
            .clone()
            .or_else(|| defaults.cassandra.as_ref().map(|c| c.contact_points.clone()))
            .ok_or_else(|| {
                SinkError::Internal(
                    "no contact_points in the appender and the node's endpoint store is not Cassandra"
                        .into(),
                )
            })?;
        let keyspace = settings
            .keyspace
            .clone()
            .or_else(|| defaults.cassandra.as_ref().map(|c| c.keyspace.clone()))
            .unwrap_or_else(|| "kaa_logs".to_owned());
        let replication = defaults
            .cassandra
            .as_ref()
            .map_or(1, |c| c.replication_factor);
        let session = SessionBuilder::new()
            .known_nodes(&contact_points)
            .connection_timeout(Duration::from_secs(5))
            .build()
            .await
            .map_err(|e| SinkError::Connection(e.to_string()))?;
        let columns: Vec<ColumnSource> = settings
            .columns
            .iter()
            .map(|c| {
                ColumnSource::parse(&c.source)
                    .ok_or_else(|| SinkError::Internal(format!("column source {:?}", c.source)))
            })
            .collect::<Result<_, _>>()?;
        let definitions: Vec<String> = settings
            .columns
            .iter()
            .zip(&columns)
            .map(|(c, source)| format!("{} {}", c.name, cql_type(source)))
            .collect();
        let table = format!("{keyspace}.{}", settings.table);
        for statement in [
            format!(
                "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
                 {{'class': 'SimpleStrategy', 'replication_factor': {replication}}}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY, {})",
                definitions.join(", ")
            ),
        ] {
            session.query_unpaged(statement, ()).await.map_err(remote)?;
        }
        let names: Vec<&str> = settings.columns.iter().map(|c| c.name.as_str()).collect();
        let marks = vec!["?"; names.len() + 1].join(", ");
        let ttl = settings
            .ttl_seconds
            .map(|t| format!(" USING TTL {t}"))
            .unwrap_or_default();
        let insert = session
            .prepare(format!(
                "INSERT INTO {table} (id, {}) VALUES ({marks}){ttl}",
                names.join(", ")
            ))
            .await
            .map_err(|e| SinkError::Remote(e.to_string()))?;
        Ok(Self {
            session: Arc::new(session),
            insert,
            columns,
        })
    }

    /// Writes every record of `batch`.
    pub async fn write(&self, batch: &LogBatch) -> Result<(), SinkError> {
        let rows = batch.events.iter().map(|event| {
            let mut row = Vec::with_capacity(self.columns.len() + 1);
            row.push(Some(CqlValue::Uuid(uuid::Uuid::now_v7())));
            row.extend(
                self.columns
                    .iter()
                    .map(|source| cql_value(source, column_value(source, &batch.header, event))),
            );
            row
        });
        let mut pending = FuturesUnordered::new();
        for row in rows {
            if pending.len() >= CONCURRENT_ROWS
                && let Some(Err(error)) = pending.next().await
            {
                return Err(remote(error));
            }
            pending.push(self.session.execute_unpaged(&self.insert, row));
        }
        while let Some(written) = pending.next().await {
            written.map_err(remote)?;
        }
        Ok(())
    }
}

fn cql_type(source: &ColumnSource) -> &'static str {
    match source {
        ColumnSource::Header(HeaderField::Version | HeaderField::LogSchemaVersion) => "int",
        ColumnSource::Header(HeaderField::Timestamp) => "bigint",
        ColumnSource::Header(HeaderField::KeyHash | HeaderField::Token)
        | ColumnSource::Record(_) => "text",
    }
}

fn cql_value(source: &ColumnSource, value: Value) -> Option<CqlValue> {
    match (cql_type(source), value) {
        (_, Value::Null) => None,
        ("int", Value::Number(n)) => n.as_i64().map(|n| CqlValue::Int(n as i32)),
        ("bigint", Value::Number(n)) => n.as_i64().map(CqlValue::BigInt),
        (_, Value::String(text)) => Some(CqlValue::Text(text)),
        (_, other) => Some(CqlValue::Text(other.to_string())),
    }
}

/// A failed write: unreachable nodes and timeouts are connection errors, the rest refusals.
fn remote(error: ExecutionError) -> SinkError {
    match error {
        ExecutionError::ConnectionPoolError(_)
        | ExecutionError::EmptyPlan
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::LastAttemptError(RequestAttemptError::BrokenConnectionError(_)) => {
            SinkError::Connection(error.to_string())
        }
        other => SinkError::Remote(other.to_string()),
    }
}
