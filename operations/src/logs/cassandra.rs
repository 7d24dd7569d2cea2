//! The `cassandra` appender: one row per record in `<tenant keyspace>.<table>`, keyed by a
//! time-ordered UUID `id`, with the configured columns (header fields typed as Kaa's header record, record
//! fields as text: strings as they are, anything else as JSON). `id` is a UUIDv7: unique, and
//! ordered by write time.
//!
//! The keyspace and table are created when missing, by one node at a time (a cluster-wide lock:
//! concurrent creation through two coordinators can lose rows). Rows of one batch are written concurrently;
//! the batch is stored once every row is.
//!
//! The keyspace is the tenant's ([`kaa_model::appender::log_namespace`]), never the endpoint
//! store's. Without contact points of its own, the appender writes to the endpoint store's ring
//! as the store does: keyspaces replicated and statements run at the store's
//! [`CassandraReplication`] (datacenter, replication factor, consistency). With its own contact
//! points, keyspaces get SimpleStrategy and writes the driver's default consistency. Contact points a tenant names are resolved and checked against the outbound policy;
//! the driver connects to the checked addresses, and to the peers the cluster announces only
//! when the policy admits them too.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kaa_model::appender::{CassandraSettings, ColumnSource, HeaderField};
use kaa_store::endpoint::{CassandraReplication, session_builder};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::cluster::metadata::Peer;
use scylla::errors::{ExecutionError, RequestAttemptError};
use scylla::policies::host_filter::HostFilter;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;
use serde_json::Value;

use super::record::{LogBatch, column_value};
use super::{SinkEnv, SinkError};
use crate::outbound::{CONNECT_TIMEOUT, Outbound};

/// Rows of one batch in flight at once.
const CONCURRENT_ROWS: usize = 32;

/// How long a node waits for another to finish creating the same keyspace and table.
const SCHEMA_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// A connected Cassandra appender.
pub struct CassandraSink {
    session: Arc<Session>,
    insert: PreparedStatement,
    columns: Vec<ColumnSource>,
}

impl CassandraSink {
    /// Connects, creates the tenant's keyspace (`keyspace`) and the table when missing,
    /// prepares the insert.
    pub async fn connect(
        settings: &CassandraSettings,
        keyspace: &str,
        env: &SinkEnv,
    ) -> Result<Self, SinkError> {
        let defaults = env.defaults.cassandra.as_ref();
        if defaults.is_some_and(|store| store.keyspace == keyspace) {
            return Err(SinkError::Internal(format!(
                "the tenant's log keyspace {keyspace} is the endpoint store's; refused"
            )));
        }
        let builder = session_builder().connection_timeout(CONNECT_TIMEOUT);
        let (builder, replication) = match (&settings.contact_points, defaults) {
            (Some(points), _) => {
                let factor = defaults.map_or(1, |store| store.replication.replication_factor);
                (
                    checked(builder, points, &env.outbound).await?,
                    CassandraReplication::simple(factor),
                )
            }
            (None, Some(store)) => (
                store
                    .replication
                    .apply(builder.known_nodes(&store.contact_points)),
                store.replication.clone(),
            ),
            (None, None) => {
                return Err(SinkError::Internal(
                    "no contact_points in the appender and the node's endpoint store is not Cassandra"
                        .into(),
                ));
            }
        };
        let session = builder
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
        if !table_exists(&session, keyspace, &settings.table).await? {
            // One node at a time: a table created concurrently through two coordinators can end
            // up with two ids, and rows written under the losing one vanish (decision 024).
            let schema_lock = env
                .cluster
                .exclusive(&format!("cassandra-schema-{table}"), SCHEMA_LOCK_PATIENCE)
                .await
                .map_err(|e| SinkError::Connection(e.to_string()))?;
            for statement in [
                replication.create_keyspace_cql(keyspace),
                format!(
                    "CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY, {})",
                    definitions.join(", ")
                ),
            ] {
                session.query_unpaged(statement, ()).await.map_err(remote)?;
            }
            // The driver waited for schema agreement after each statement.
            schema_lock.release().await;
        }
        let names: Vec<&str> = settings.columns.iter().map(|c| c.name.as_str()).collect();
        let marks = vec!["?"; names.len() + 1].join(", ");
        let ttl = settings
            .ttl_seconds
            .map(|t| format!(" USING TTL {t}"))
            .unwrap_or_default();
        let mut insert = session
            .prepare(format!(
                "INSERT INTO {table} (id, {}) VALUES ({marks}){ttl}",
                names.join(", ")
            ))
            .await
            .map_err(|e| SinkError::Remote(e.to_string()))?;
        // A row's id is made once per write, so the driver may retry the insert on another node
        // when a connection breaks under it.
        insert.set_is_idempotent(true);
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

/// `builder` connecting to the admitted addresses of a tenant's contact points, and to the
/// peers the cluster announces only when the policy admits them.
async fn checked(
    builder: SessionBuilder,
    points: &[String],
    outbound: &Outbound,
) -> Result<SessionBuilder, SinkError> {
    let mut addresses = Vec::new();
    for point in points {
        let admitted = outbound
            .resolve(point)
            .await
            .map_err(|e| SinkError::Connection(e.to_string()))?;
        addresses.extend(admitted);
    }
    let filter = CheckedPeers {
        policy: outbound.policy().clone(),
        contact_points: addresses.clone(),
    };
    Ok(builder
        .known_nodes_addr(&addresses)
        .host_filter(Arc::new(filter)))
}

/// Admits the checked contact points and the peers the outbound policy admits.
struct CheckedPeers {
    policy: Arc<kaa_model::outbound::OutboundPolicy>,
    contact_points: Vec<SocketAddr>,
}

impl HostFilter for CheckedPeers {
    fn accept(&self, peer: &Peer) -> bool {
        let ip = peer.address.ip();
        let admitted = self.contact_points.iter().any(|a| a.ip() == ip)
            || self.policy.check(&ip.to_string(), ip).is_ok();
        if !admitted {
            tracing::debug!(peer = %peer.address, "cassandra peer outside operations.outbound_allow; not connected");
        }
        admitted
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

/// Whether `keyspace.table` exists, as the schema tables say (names unquoted, so lower case).
async fn table_exists(session: &Session, keyspace: &str, table: &str) -> Result<bool, SinkError> {
    let rows = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
            (keyspace.to_lowercase(), table.to_lowercase()),
        )
        .await
        .map_err(remote)?
        .into_rows_result()
        .map_err(|e| SinkError::Remote(e.to_string()))?
        .rows_num();
    Ok(rows > 0)
}
