//! The endpoint-data store of the Operations service: credentials, endpoint profiles, merged
//! configurations, notifications, topic lists and owners' configurations, in Cassandra, MongoDB,
//! or SQL for standalone nodes.
//!
//! [`EndpointStore`] is one API over three implementations, chosen by [`EndpointBackend`]:
//! [`connect`](EndpointStore::connect) opens the connections, [`prepare`](EndpointStore::prepare)
//! creates the schema (idempotently), then every method dispatches to the backend's module
//! (`sql`, `cassandra`, `mongo`). All three behave the same; `tests/tests/it/endpoint_store.rs`
//! runs one conformance suite against each (SQL on PostgreSQL, MariaDB and SQLite).
//!
//! Two rules hold everywhere:
//! - **Optimistic profile writes.** A profile carries the version it was read at;
//!   [`save_profile`](EndpointStore::save_profile) writes only if the stored version is still the
//!   same and fails with [`StoreError::Conflict`] otherwise, so concurrent writers (the endpoint's
//!   session, an operator's server-profile update) re-read and retry instead of losing updates.
//! - **Expired notifications are never returned.** Cassandra drops them itself (TTL); SQL and
//!   MongoDB filter them out on read and delete them in [`purge_expired`](EndpointStore::purge_expired).

use futures::future::BoxFuture;
use kaa_model::health::Probe;

use crate::sql::SqlDatabase;
use crate::{StoreError, Timeouts, bounded};

mod cassandra;
mod mongo;
mod records;
mod sql;

pub use crate::metadata::Page;
pub use cassandra::{
    CassandraReplication, Consistency, consistency_name, parse_consistency, session_builder,
};
pub use records::{
    CredentialStatus, Credentials, EndpointProfile, GroupState, Notification, NotificationKind,
    TopicListEntry, UnicastNotification, UserConfiguration,
};

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
        /// Keyspace holding kaa-rs tables (letters, digits and `_`); created by
        /// [`EndpointStore::prepare`] with `replication` when missing.
        keyspace: String,
        /// The keyspace's replication and the consistency of every statement.
        replication: CassandraReplication,
    },
    /// A MongoDB (wire-compatible) server.
    MongoDb {
        /// `mongodb://` connection string.
        url: String,
        /// Database holding kaa-rs collections.
        database: String,
    },
}

/// An open connection to the endpoint-data store; clones share it.
#[derive(Clone)]
pub enum EndpointStore {
    /// SQL backend.
    Sql(sql::SqlEndpoints),
    /// Cassandra backend.
    Cassandra(cassandra::CassandraEndpoints),
    /// MongoDB backend.
    MongoDb(mongo::MongoEndpoints),
}

/// Runs `$call` on whichever backend `$self` is, bound as `$store`, failing with
/// [`StoreError::Timeout`] when it outlives the store's request timeout.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            EndpointStore::Sql($store) => bounded($store.request_timeout, async { $call }).await,
            EndpointStore::Cassandra($store) => {
                bounded($store.request_timeout, async { $call }).await
            }
            EndpointStore::MongoDb($store) => {
                bounded($store.request_timeout, async { $call }).await
            }
        }
    };
}

/// Refuses pages with a negative offset or limit.
fn check_page(page: Page) -> Result<Page, StoreError> {
    if page.offset < 0 || page.limit < 0 {
        return Err(StoreError::Invalid(
            "page offset and limit must not be negative",
        ));
    }
    Ok(page)
}

impl EndpointStore {
    /// Connects to `backend`. Cassandra connects eagerly and fails at once when unreachable;
    /// MongoDB connects on first use, so this pings it to fail just as early. The schema is
    /// created by [`EndpointStore::prepare`], which must run before any other method.
    pub async fn connect(backend: &EndpointBackend) -> Result<Self, StoreError> {
        Self::connect_with(backend, Timeouts::default()).await
    }

    /// [`EndpointStore::connect`] with `timeouts` for connecting and for each call: every
    /// method but [`prepare`](EndpointStore::prepare) and
    /// [`purge_expired`](EndpointStore::purge_expired) (whose work grows with the data) fails
    /// with [`StoreError::Timeout`] when the store has not answered within `timeouts.request`.
    pub async fn connect_with(
        backend: &EndpointBackend,
        timeouts: Timeouts,
    ) -> Result<Self, StoreError> {
        match backend {
            EndpointBackend::Sql { url } => Ok(Self::Sql(sql::SqlEndpoints::new(
                SqlDatabase::connect_with(url, 16, timeouts).await?,
                timeouts.request,
            ))),
            EndpointBackend::Cassandra {
                contact_points,
                keyspace,
                replication,
            } => Ok(Self::Cassandra(
                cassandra::CassandraEndpoints::connect(
                    contact_points,
                    keyspace,
                    replication,
                    timeouts,
                )
                .await?,
            )),
            EndpointBackend::MongoDb { url, database } => {
                let store =
                    Self::MongoDb(mongo::MongoEndpoints::connect(url, database, timeouts).await?);
                store.ping().await?;
                Ok(store)
            }
        }
    }

    /// Creates the schema, leaving what exists alone: the SQL migrations of the endpoint store
    /// (recorded apart from the metadata store's, so both may share a database), Cassandra's
    /// keyspace, types and tables, MongoDB's indexes.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        match self {
            Self::Sql(store) => store.prepare().await,
            Self::Cassandra(store) => store.prepare().await,
            Self::MongoDb(store) => store.prepare().await,
        }
    }

    /// Closes the store's connections. Cassandra and MongoDB connections close when the last
    /// clone of the store is dropped; SQL pools are closed here so pending writes finish first.
    pub async fn close(&self) {
        if let Self::Sql(store) = self {
            store.close().await;
        }
    }

    /// Succeeds only if the store answers a request now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, store => store.ping().await)
    }

    // ---- credentials ----

    /// Stores `credentials`, replacing those of the same application and key hash.
    pub async fn provision_credentials(&self, credentials: &Credentials) -> Result<(), StoreError> {
        dispatch!(self, store => store.provision_credentials(credentials).await)
    }

    /// The credentials of the endpoint with `key_hash` in application `app`.
    pub async fn credentials(
        &self,
        app: &str,
        key_hash: &[u8],
    ) -> Result<Option<Credentials>, StoreError> {
        dispatch!(self, store => store.credentials(app, key_hash).await)
    }

    /// Changes the status of stored credentials; `false` if there are none.
    pub async fn set_credentials_status(
        &self,
        app: &str,
        key_hash: &[u8],
        status: CredentialStatus,
    ) -> Result<bool, StoreError> {
        dispatch!(self, store => store.set_credentials_status(app, key_hash, status).await)
    }

    /// One page of an application's credentials, ordered by key hash.
    pub async fn list_credentials(
        &self,
        app: &str,
        page: Page,
    ) -> Result<Vec<Credentials>, StoreError> {
        let page = check_page(page)?;
        dispatch!(self, store => store.list_credentials(app, page).await)
    }

    // ---- endpoint profiles ----

    /// Writes `profile` if its `version` is the stored one (0: the endpoint is not stored yet)
    /// and returns it as stored, with `version` one higher. Fails with
    /// [`StoreError::Conflict`] if another write came first: re-read and retry.
    pub async fn save_profile(
        &self,
        profile: &EndpointProfile,
    ) -> Result<EndpointProfile, StoreError> {
        if profile.version < 0 {
            return Err(StoreError::Invalid("profile version must not be negative"));
        }
        dispatch!(self, store => store.save_profile(profile).await)?;
        Ok(EndpointProfile {
            version: profile.version + 1,
            ..profile.clone()
        })
    }

    /// The profile of the endpoint with `key_hash` (key hashes are unique across applications).
    pub async fn profile(&self, key_hash: &[u8]) -> Result<Option<EndpointProfile>, StoreError> {
        dispatch!(self, store => store.profile(key_hash).await)
    }

    /// The profile of the endpoint of application `app` with access token `token`.
    pub async fn profile_by_access_token(
        &self,
        app: &str,
        token: &str,
    ) -> Result<Option<EndpointProfile>, StoreError> {
        dispatch!(self, store => store.profile_by_access_token(app, token).await)
    }

    /// One page of an application's endpoint profiles, ordered by key hash.
    pub async fn list_profiles(
        &self,
        app: &str,
        page: Page,
    ) -> Result<Vec<EndpointProfile>, StoreError> {
        let page = check_page(page)?;
        dispatch!(self, store => store.list_profiles(app, page).await)
    }

    /// How many endpoint profiles an application has.
    pub async fn count_profiles(&self, app: &str) -> Result<i64, StoreError> {
        dispatch!(self, store => store.count_profiles(app).await)
    }

    /// Deletes the profile of the endpoint with `key_hash`; `false` if there was none.
    pub async fn delete_profile(&self, key_hash: &[u8]) -> Result<bool, StoreError> {
        dispatch!(self, store => store.delete_profile(key_hash).await)
    }

    // ---- configurations ----

    /// Stores an endpoint configuration body under its hash (a body already there is replaced:
    /// the same hash means the same body).
    pub async fn save_configuration(&self, hash: &[u8], body: &[u8]) -> Result<(), StoreError> {
        dispatch!(self, store => store.save_configuration(hash, body).await)
    }

    /// The configuration body stored under `hash`.
    pub async fn configuration(&self, hash: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, store => store.configuration(hash).await)
    }

    // ---- notifications ----

    /// Stores a topic notification, replacing one with the same topic and sequence number.
    pub async fn save_notification(&self, notification: &Notification) -> Result<(), StoreError> {
        dispatch!(self, store => store.save_notification(notification).await)
    }

    /// The notifications of `topic_id` numbered above `after_seq` that have not expired at
    /// `now_ms`, by sequence number.
    pub async fn notifications(
        &self,
        topic_id: &str,
        after_seq: i32,
        now_ms: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        dispatch!(self, store => store.notifications(topic_id, after_seq, now_ms).await)
    }

    /// Stores a unicast notification, replacing one with the same endpoint and id.
    pub async fn save_unicast(&self, unicast: &UnicastNotification) -> Result<(), StoreError> {
        dispatch!(self, store => store.save_unicast(unicast).await)
    }

    /// The unicast notifications of the endpoint with `key_hash` that have not expired at
    /// `now_ms`, by id.
    pub async fn unicasts(
        &self,
        key_hash: &[u8],
        now_ms: i64,
    ) -> Result<Vec<UnicastNotification>, StoreError> {
        dispatch!(self, store => store.unicasts(key_hash, now_ms).await)
    }

    /// Deletes a unicast notification (the endpoint accepted it); `false` if it was not stored.
    /// An expired one may already be gone (Cassandra) or still be there (SQL, MongoDB, until
    /// [`purge_expired`](Self::purge_expired)).
    pub async fn delete_unicast(&self, key_hash: &[u8], id: &str) -> Result<bool, StoreError> {
        dispatch!(self, store => store.delete_unicast(key_hash, id).await)
    }

    /// Deletes the notifications (topic and unicast) expired at `now_ms` and returns how many
    /// went; always 0 on Cassandra, whose TTLs remove them on their own.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        match self {
            Self::Sql(store) => store.purge_expired(now_ms).await,
            Self::Cassandra(_) => Ok(0),
            Self::MongoDb(store) => store.purge_expired(now_ms).await,
        }
    }

    // ---- owners ----

    /// Every endpoint profile attached to owner `owner_id`, ordered by key hash.
    pub async fn profiles_by_owner(
        &self,
        owner_id: &str,
    ) -> Result<Vec<EndpointProfile>, StoreError> {
        dispatch!(self, store => store.profiles_by_owner(owner_id).await)
    }

    /// Stores an owner's configuration, replacing the one for the same owner, application and
    /// schema version.
    pub async fn save_user_configuration(
        &self,
        configuration: &UserConfiguration,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.save_user_configuration(configuration).await)
    }

    /// The owner's configuration for the application and schema version, if any.
    pub async fn user_configuration(
        &self,
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
    ) -> Result<Option<UserConfiguration>, StoreError> {
        dispatch!(self, store => store.user_configuration(owner_id, app_id, schema_version).await)
    }

    /// The owner's configurations for the application, by schema version.
    pub async fn user_configurations(
        &self,
        owner_id: &str,
        app_id: &str,
    ) -> Result<Vec<UserConfiguration>, StoreError> {
        dispatch!(self, store => store.user_configurations(owner_id, app_id).await)
    }

    /// Deletes the owner's configuration; false when there was none.
    pub async fn delete_user_configuration(
        &self,
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
    ) -> Result<bool, StoreError> {
        dispatch!(self, store => store.delete_user_configuration(owner_id, app_id, schema_version).await)
    }

    // ---- topic lists ----

    /// Stores a topic list under its hash, replacing one already there.
    pub async fn save_topic_list(&self, entry: &TopicListEntry) -> Result<(), StoreError> {
        dispatch!(self, store => store.save_topic_list(entry).await)
    }

    /// The topic list stored under `hash`.
    pub async fn topic_list(&self, hash: i32) -> Result<Option<TopicListEntry>, StoreError> {
        dispatch!(self, store => store.topic_list(hash).await)
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
