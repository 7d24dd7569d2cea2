//! Connections to the endpoint-data store: Cassandra, MongoDB, or SQL for standalone nodes.
//!
//! The Operations service opens one [`EndpointStore`] at start-up. Endpoint records themselves
//! (profiles, credentials, notifications…) are defined on top of these connections.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kaa_model::health::Probe;
use mongodb::bson::doc;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use crate::StoreError;
use crate::sql::SqlDatabase;

/// Where endpoint data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointBackend {
    /// A SQL database (the standalone default: SQLite).
    Sql {
        /// `postgres://`, `mysql://` or `sqlite://` URL.
        url: String,
    },
    /// An Apache Cassandra (or ScyllaDB) cluster.
    Cassandra {
        /// `host:port` of the nodes to contact first.
        contact_points: Vec<String>,
        /// Keyspace holding kaa-rs tables.
        keyspace: String,
    },
    /// A MongoDB (wire-compatible) server.
    MongoDb {
        /// `mongodb://` connection string.
        url: String,
        /// Database holding kaa-rs collections.
        database: String,
    },
}

/// An open connection to the endpoint-data store.
#[derive(Clone)]
pub enum EndpointStore {
    /// SQL backend.
    Sql(SqlDatabase),
    /// Cassandra backend.
    Cassandra(Arc<Session>),
    /// MongoDB backend.
    MongoDb(mongodb::Database),
}

impl EndpointStore {
    /// Connects to `backend`. Cassandra connects eagerly and fails at once when unreachable;
    /// MongoDB connects on first use, so this pings it to fail just as early.
    pub async fn connect(backend: &EndpointBackend) -> Result<Self, StoreError> {
        match backend {
            EndpointBackend::Sql { url } => Ok(Self::Sql(SqlDatabase::connect(url, 16).await?)),
            EndpointBackend::Cassandra { contact_points, .. } => {
                let session = SessionBuilder::new()
                    .known_nodes(contact_points)
                    .connection_timeout(Duration::from_secs(5))
                    .build()
                    .await?;
                Ok(Self::Cassandra(Arc::new(session)))
            }
            EndpointBackend::MongoDb { url, database } => {
                let mut options = mongodb::options::ClientOptions::parse(url).await?;
                options
                    .server_selection_timeout
                    .get_or_insert(Duration::from_secs(5));
                options.app_name.get_or_insert_with(|| "kaa-rs".to_owned());
                let store =
                    Self::MongoDb(mongodb::Client::with_options(options)?.database(database));
                store.ping().await?;
                Ok(store)
            }
        }
    }

    /// Closes the store's connections. Cassandra and MongoDB connections close when the last
    /// clone of the store is dropped; SQL pools are closed here so pending writes finish first.
    pub async fn close(&self) {
        if let Self::Sql(db) = self {
            db.pool().close().await;
        }
    }

    /// Succeeds only if the store answers a request now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sql(db) => db.ping().await,
            Self::Cassandra(session) => {
                session
                    .query_unpaged("SELECT release_version FROM system.local", &[])
                    .await?;
                Ok(())
            }
            Self::MongoDb(db) => {
                db.run_command(doc! { "ping": 1 }).await?;
                Ok(())
            }
        }
    }
}

/// Readiness of the endpoint-data store, named `endpoint-store`.
impl Probe for EndpointStore {
    fn name(&self) -> &str {
        "endpoint-store"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.ping().await.map_err(|e| e.to_string()) })
    }
}
