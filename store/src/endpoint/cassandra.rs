//! The endpoint store on Apache Cassandra (or ScyllaDB), through the `scylla` driver.
//!
//! Tables are laid out for the reads Operations makes: a profile by key hash is one partition; an
//! application's credentials and its profiles' key hashes (`endpoint_profiles_by_app`) are one
//! partition each, clustered by key hash, which gives listing order and paging; an access token
//! points at its endpoint through `endpoint_profiles_by_token` and an owner at its endpoints
//! through `endpoint_profiles_by_owner`; an owner's configurations for one application are one
//! partition clustered by schema version; a topic's notifications are one
//! partition clustered by sequence number. Notifications are written with a TTL, so Cassandra drops
//! them when they expire; reads filter by `expires_at_ms` too, since TTLs count whole seconds.
//!
//! Profile writes are lightweight transactions (`UPDATE … IF version = ?`, where a missing row has
//! a null version), which gives the store's optimistic concurrency. The three index tables are
//! written after the profile (entries for a former token or owner removed by the write that
//! replaced them); lookups through them re-check the profile, so an index entry left behind by a
//! failed write is never believed.
//!
//! Statements are prepared once, on first use after [`CassandraEndpoints::prepare`] made the tables.
//!
//! [`CassandraReplication`] says how the ring keeps kaa-rs data: the keyspace's replication
//! (SimpleStrategy, or NetworkTopologyStrategy in one named datacenter) and the consistency of every
//! statement, set on the session's default execution profile along with a load balancing policy
//! that sends statements to that datacenter's nodes only (a LOCAL_* consistency means that
//! datacenter only when the coordinator is in it). Log appenders that write to the same ring apply
//! it too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::response::query_result::QueryResult;
pub use scylla::statement::Consistency;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};
use scylla::{DeserializeRow, DeserializeValue, SerializeRow, SerializeValue};
use tokio::sync::OnceCell;

use super::{
    CredentialStatus, Credentials, EndpointProfile, GroupState, Notification, NotificationKind,
    Page, TopicListEntry, UnicastNotification, UserConfiguration,
};
use crate::metadata::now_ms;
use crate::{StoreError, Timeouts};

/// Cassandra's longest TTL: 20 years.
const MAX_TTL_SECONDS: i64 = 20 * 365 * 24 * 3600;

/// The schema, `{ks}` standing for the keyspace; every statement is idempotent.
const SCHEMA: &[&str] = &[
    "CREATE TYPE IF NOT EXISTS {ks}.group_state (
        group_id text, filter_id text, configuration_id text)",
    "CREATE TABLE IF NOT EXISTS {ks}.credentials (
        application_id text, endpoint_key_hash blob, public_key blob, status text,
        PRIMARY KEY ((application_id), endpoint_key_hash))",
    "CREATE TABLE IF NOT EXISTS {ks}.endpoint_profiles (
        endpoint_key_hash blob PRIMARY KEY, application_id text, public_key blob,
        access_token text, sdk_token text, client_profile_version int, client_profile blob,
        profile_hash blob, server_profile_version int, server_profile text,
        group_states list<frozen<group_state>>, configuration_hash blob, topic_hash int,
        subscriptions list<text>, system_notification_seq int, owner_id text, node_id text,
        last_seen_ms bigint, version bigint)",
    "CREATE TABLE IF NOT EXISTS {ks}.endpoint_profiles_by_app (
        application_id text, endpoint_key_hash blob,
        PRIMARY KEY ((application_id), endpoint_key_hash))",
    "CREATE TABLE IF NOT EXISTS {ks}.endpoint_profiles_by_token (
        application_id text, access_token text, endpoint_key_hash blob,
        PRIMARY KEY ((application_id, access_token)))",
    "CREATE TABLE IF NOT EXISTS {ks}.endpoint_configurations (hash blob PRIMARY KEY, body blob)",
    "CREATE TABLE IF NOT EXISTS {ks}.topic_notifications (
        topic_id text, seq int, id text, application_id text, kind text, body blob,
        expires_at_ms bigint,
        PRIMARY KEY ((topic_id), seq)) WITH CLUSTERING ORDER BY (seq ASC)",
    "CREATE TABLE IF NOT EXISTS {ks}.unicast_notifications (
        endpoint_key_hash blob, id text, topic_id text, kind text, body blob, expires_at_ms bigint,
        PRIMARY KEY ((endpoint_key_hash), id))",
    "CREATE TABLE IF NOT EXISTS {ks}.topic_lists (hash int PRIMARY KEY, topic_ids list<text>)",
    "CREATE TABLE IF NOT EXISTS {ks}.endpoint_profiles_by_owner (
        owner_id text, endpoint_key_hash blob,
        PRIMARY KEY ((owner_id), endpoint_key_hash))",
    "CREATE TABLE IF NOT EXISTS {ks}.user_configurations (
        owner_id text, application_id text, schema_version bigint, body text, updated_ms bigint,
        PRIMARY KEY ((owner_id, application_id), schema_version))",
];

const PROFILE_COLUMNS: &str = "endpoint_key_hash, application_id, public_key, access_token, \
    sdk_token, client_profile_version, client_profile, profile_hash, server_profile_version, \
    server_profile, group_states, configuration_hash, topic_hash, subscriptions, \
    system_notification_seq, owner_id, node_id, last_seen_ms, version";

/// The consistency levels a configuration may name (the serial ones only apply to the Paxos
/// phase of lightweight transactions).
const CONSISTENCIES: [Consistency; 9] = [
    Consistency::Any,
    Consistency::One,
    Consistency::Two,
    Consistency::Three,
    Consistency::Quorum,
    Consistency::All,
    Consistency::LocalQuorum,
    Consistency::LocalOne,
    Consistency::EachQuorum,
];

/// The lower-case CQL name of `consistency` (`local_quorum`, …), as [`parse_consistency`] reads it.
pub fn consistency_name(consistency: Consistency) -> &'static str {
    match consistency {
        Consistency::Any => "any",
        Consistency::One => "one",
        Consistency::Two => "two",
        Consistency::Three => "three",
        Consistency::Quorum => "quorum",
        Consistency::All => "all",
        Consistency::LocalQuorum => "local_quorum",
        Consistency::EachQuorum => "each_quorum",
        Consistency::Serial => "serial",
        Consistency::LocalSerial => "local_serial",
        Consistency::LocalOne => "local_one",
    }
}

/// The consistency level named `name` (`local_quorum`, `quorum`, …; case-insensitive).
pub fn parse_consistency(name: &str) -> Result<Consistency, StoreError> {
    CONSISTENCIES
        .into_iter()
        .find(|known| consistency_name(*known).eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| {
            let known: Vec<&str> = CONSISTENCIES.into_iter().map(consistency_name).collect();
            StoreError::Config(format!(
                "Cassandra consistency {name:?}: expected one of {}",
                known.join(", ")
            ))
        })
}

/// How kaa-rs keeps its data on a Cassandra ring: where the replicas of the keyspaces it creates
/// live and how many of them answer each statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CassandraReplication {
    /// The datacenter holding the replicas (NetworkTopologyStrategy, and the driver sends
    /// statements to its nodes only); `None`: SimpleStrategy over the whole ring.
    pub datacenter: Option<String>,
    /// Replicas of each row (1 for a single Cassandra node).
    pub replication_factor: u16,
    /// Consistency of every statement.
    pub consistency: Consistency,
}

impl CassandraReplication {
    /// SimpleStrategy with `replication_factor` replicas, statements at the driver's default
    /// consistency (LOCAL_QUORUM).
    pub fn simple(replication_factor: u16) -> Self {
        Self {
            datacenter: None,
            replication_factor,
            consistency: Consistency::LocalQuorum,
        }
    }

    /// Refuses a replication factor of 0 and datacenter names that are not letters, digits,
    /// `_` and `-` (the name goes into CQL).
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.replication_factor == 0 {
            return Err(StoreError::Config(
                "Cassandra replication factor must be at least 1".into(),
            ));
        }
        if let Some(datacenter) = &self.datacenter {
            let valid = !datacenter.is_empty()
                && datacenter.len() <= 64
                && datacenter
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(StoreError::Config(format!(
                    "Cassandra datacenter {datacenter:?}: expected 1 to 64 letters, digits, '_' or '-'"
                )));
            }
        }
        Ok(())
    }

    /// `CREATE KEYSPACE IF NOT EXISTS <keyspace>` with this replication; `keyspace` must be a
    /// checked name.
    pub fn create_keyspace_cql(&self, keyspace: &str) -> String {
        let factor = self.replication_factor;
        let replication = match &self.datacenter {
            None => format!("'class': 'SimpleStrategy', 'replication_factor': {factor}"),
            Some(datacenter) => {
                format!("'class': 'NetworkTopologyStrategy', '{datacenter}': {factor}")
            }
        };
        format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{{replication}}}")
    }

    /// `builder` running every statement at this consistency, on the datacenter's nodes (the
    /// driver's default policy without failover to other datacenters), each within
    /// [`REQUEST_TIMEOUT`].
    pub fn apply(&self, builder: SessionBuilder) -> SessionBuilder {
        self.apply_with(builder, REQUEST_TIMEOUT)
    }

    /// [`CassandraReplication::apply`] with each statement within `request_timeout`.
    pub fn apply_with(&self, builder: SessionBuilder, request_timeout: Duration) -> SessionBuilder {
        let mut policy = DefaultPolicy::builder().token_aware(true);
        if let Some(datacenter) = &self.datacenter {
            policy = policy.prefer_datacenter(datacenter.clone());
        }
        let profile = ExecutionProfile::builder()
            .consistency(self.consistency)
            .request_timeout(Some(request_timeout))
            .load_balancing_policy(policy.build())
            .build();
        builder.default_execution_profile_handle(profile.into_handle())
    }
}

/// How long one statement may take, retries included, before it fails (the driver's default is
/// 30 s: a sync would wait that long behind a member that just went silent).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A session builder whose connections are checked every 2 s and dropped after 4 s without an
/// answer, so that a member cut off from the network stops getting statements within seconds
/// rather than the driver's default minute. Every Cassandra session of a node starts here.
pub fn session_builder() -> SessionBuilder {
    SessionBuilder::new()
        .keepalive_interval(Duration::from_secs(2))
        .keepalive_timeout(Duration::from_secs(4))
}

/// The endpoint store in one Cassandra keyspace.
#[derive(Clone)]
pub struct CassandraEndpoints {
    session: Arc<Session>,
    keyspace: String,
    replication: CassandraReplication,
    statements: Arc<OnceCell<Statements>>,
    /// The limit of each call of the store's API (each statement's is the driver's).
    pub(super) request_timeout: Duration,
}

/// Every statement the store runs, prepared.
struct Statements {
    provision_credentials: PreparedStatement,
    credentials: PreparedStatement,
    set_credentials_status: PreparedStatement,
    list_credentials: PreparedStatement,
    save_profile: PreparedStatement,
    profile: PreparedStatement,
    profiles: PreparedStatement,
    profile_keys: PreparedStatement,
    delete_profile: PreparedStatement,
    index_by_app: PreparedStatement,
    unindex_by_app: PreparedStatement,
    list_by_app: PreparedStatement,
    count_by_app: PreparedStatement,
    index_by_token: PreparedStatement,
    unindex_by_token: PreparedStatement,
    find_by_token: PreparedStatement,
    save_configuration: PreparedStatement,
    configuration: PreparedStatement,
    save_notification: PreparedStatement,
    notifications: PreparedStatement,
    save_unicast: PreparedStatement,
    unicasts: PreparedStatement,
    delete_unicast: PreparedStatement,
    save_topic_list: PreparedStatement,
    topic_list: PreparedStatement,
    index_by_owner: PreparedStatement,
    unindex_by_owner: PreparedStatement,
    list_by_owner: PreparedStatement,
    save_user_configuration: PreparedStatement,
    user_configurations: PreparedStatement,
    user_configuration: PreparedStatement,
    delete_user_configuration: PreparedStatement,
}

impl Statements {
    async fn prepare(session: &Session, ks: &str) -> Result<Self, StoreError> {
        // `{ks}` in a statement stands for the keyspace. Every statement may run twice to the
        // same end, so the driver may retry it on another node when a connection breaks under it
        // (a member cut off mid-request, whose connections the driver has not yet found dead):
        // the plain writes are upserts, and a profile write (`… IF version = ?`) run twice
        // answers the second time that the version changed, which callers of `save_profile`
        // take as any conflict: they read the profile again and apply their change to it.
        // Without the retry, every endpoint moving to a surviving node in the seconds after a
        // member was cut off was refused once (ServerUnavailable), and came back seconds later.
        macro_rules! prepare {
            ($text:expr) => {{
                let text = String::from($text).replace("{ks}", ks);
                let mut statement = session.prepare(text.as_str()).await?;
                statement.set_is_idempotent(true);
                statement
            }};
        }
        Ok(Self {
            provision_credentials: prepare!(
                "INSERT INTO {ks}.credentials (application_id, endpoint_key_hash, public_key, \
                 status) VALUES (?, ?, ?, ?)"
            ),
            credentials: prepare!(
                "SELECT application_id, endpoint_key_hash, public_key, status FROM {ks}.credentials \
                 WHERE application_id = ? AND endpoint_key_hash = ?"
            ),
            set_credentials_status: prepare!(
                "UPDATE {ks}.credentials SET status = ? \
                 WHERE application_id = ? AND endpoint_key_hash = ?"
            ),
            list_credentials: prepare!(
                "SELECT application_id, endpoint_key_hash, public_key, status FROM {ks}.credentials \
                 WHERE application_id = ? LIMIT ?"
            ),
            save_profile: prepare!(
                "UPDATE {ks}.endpoint_profiles SET application_id = :application_id, \
                 public_key = :public_key, access_token = :access_token, sdk_token = :sdk_token, \
                 client_profile_version = :client_profile_version, \
                 client_profile = :client_profile, profile_hash = :profile_hash, \
                 server_profile_version = :server_profile_version, \
                 server_profile = :server_profile, group_states = :group_states, \
                 configuration_hash = :configuration_hash, topic_hash = :topic_hash, \
                 subscriptions = :subscriptions, \
                 system_notification_seq = :system_notification_seq, owner_id = :owner_id, \
                 node_id = :node_id, last_seen_ms = :last_seen_ms, version = :version \
                 WHERE endpoint_key_hash = :endpoint_key_hash IF version = :expected_version"
            ),
            profile: prepare!(format!(
                "SELECT {PROFILE_COLUMNS} FROM {{ks}}.endpoint_profiles WHERE endpoint_key_hash = ?"
            )),
            profiles: prepare!(format!(
                "SELECT {PROFILE_COLUMNS} FROM {{ks}}.endpoint_profiles \
                 WHERE endpoint_key_hash IN ?"
            )),
            profile_keys: prepare!(
                "SELECT application_id, access_token, owner_id, version \
                 FROM {ks}.endpoint_profiles WHERE endpoint_key_hash = ?"
            ),
            delete_profile: prepare!(
                "DELETE FROM {ks}.endpoint_profiles WHERE endpoint_key_hash = ? IF EXISTS"
            ),
            index_by_app: prepare!(
                "INSERT INTO {ks}.endpoint_profiles_by_app (application_id, endpoint_key_hash) \
                 VALUES (?, ?)"
            ),
            unindex_by_app: prepare!(
                "DELETE FROM {ks}.endpoint_profiles_by_app \
                 WHERE application_id = ? AND endpoint_key_hash = ?"
            ),
            list_by_app: prepare!(
                "SELECT endpoint_key_hash FROM {ks}.endpoint_profiles_by_app \
                 WHERE application_id = ? LIMIT ?"
            ),
            count_by_app: prepare!(
                "SELECT COUNT(*) FROM {ks}.endpoint_profiles_by_app WHERE application_id = ?"
            ),
            index_by_token: prepare!(
                "INSERT INTO {ks}.endpoint_profiles_by_token \
                 (application_id, access_token, endpoint_key_hash) VALUES (?, ?, ?)"
            ),
            unindex_by_token: prepare!(
                "DELETE FROM {ks}.endpoint_profiles_by_token \
                 WHERE application_id = ? AND access_token = ?"
            ),
            find_by_token: prepare!(
                "SELECT endpoint_key_hash FROM {ks}.endpoint_profiles_by_token \
                 WHERE application_id = ? AND access_token = ?"
            ),
            save_configuration: prepare!(
                "INSERT INTO {ks}.endpoint_configurations (hash, body) VALUES (?, ?)"
            ),
            configuration: prepare!("SELECT body FROM {ks}.endpoint_configurations WHERE hash = ?"),
            save_notification: prepare!(
                "INSERT INTO {ks}.topic_notifications \
                 (topic_id, seq, id, application_id, kind, body, expires_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?"
            ),
            notifications: prepare!(
                "SELECT id, application_id, topic_id, seq, kind, body, expires_at_ms \
                 FROM {ks}.topic_notifications WHERE topic_id = ? AND seq > ?"
            ),
            save_unicast: prepare!(
                "INSERT INTO {ks}.unicast_notifications \
                 (endpoint_key_hash, id, topic_id, kind, body, expires_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
            ),
            unicasts: prepare!(
                "SELECT id, endpoint_key_hash, topic_id, kind, body, expires_at_ms \
                 FROM {ks}.unicast_notifications WHERE endpoint_key_hash = ?"
            ),
            delete_unicast: prepare!(
                "DELETE FROM {ks}.unicast_notifications \
                 WHERE endpoint_key_hash = ? AND id = ? IF EXISTS"
            ),
            save_topic_list: prepare!(
                "INSERT INTO {ks}.topic_lists (hash, topic_ids) VALUES (?, ?)"
            ),
            topic_list: prepare!("SELECT topic_ids FROM {ks}.topic_lists WHERE hash = ?"),
            index_by_owner: prepare!(
                "INSERT INTO {ks}.endpoint_profiles_by_owner (owner_id, endpoint_key_hash) \
                 VALUES (?, ?)"
            ),
            unindex_by_owner: prepare!(
                "DELETE FROM {ks}.endpoint_profiles_by_owner \
                 WHERE owner_id = ? AND endpoint_key_hash = ?"
            ),
            list_by_owner: prepare!(
                "SELECT endpoint_key_hash FROM {ks}.endpoint_profiles_by_owner WHERE owner_id = ?"
            ),
            save_user_configuration: prepare!(
                "INSERT INTO {ks}.user_configurations \
                 (owner_id, application_id, schema_version, body, updated_ms) VALUES (?, ?, ?, ?, ?)"
            ),
            user_configurations: prepare!(
                "SELECT schema_version, body, updated_ms FROM {ks}.user_configurations \
                 WHERE owner_id = ? AND application_id = ?"
            ),
            user_configuration: prepare!(
                "SELECT schema_version, body, updated_ms FROM {ks}.user_configurations \
                 WHERE owner_id = ? AND application_id = ? AND schema_version = ?"
            ),
            delete_user_configuration: prepare!(
                "DELETE FROM {ks}.user_configurations \
                 WHERE owner_id = ? AND application_id = ? AND schema_version = ? IF EXISTS"
            ),
        })
    }
}

/// A `group_state` value.
#[derive(SerializeValue, DeserializeValue)]
struct GroupStateValue {
    group_id: String,
    filter_id: Option<String>,
    configuration_id: Option<String>,
}

/// A profile as `save_profile` binds it, by marker name.
#[derive(SerializeRow)]
struct ProfileWrite<'a> {
    endpoint_key_hash: &'a [u8],
    application_id: &'a str,
    public_key: &'a [u8],
    access_token: Option<&'a str>,
    sdk_token: &'a str,
    client_profile_version: i32,
    client_profile: &'a [u8],
    profile_hash: &'a [u8],
    server_profile_version: i32,
    server_profile: &'a str,
    group_states: Vec<GroupStateValue>,
    configuration_hash: &'a [u8],
    topic_hash: i32,
    subscriptions: &'a [String],
    system_notification_seq: i32,
    owner_id: Option<&'a str>,
    node_id: Option<&'a str>,
    last_seen_ms: i64,
    version: i64,
    /// `None` (CQL null) for a new profile: a missing row has a null version.
    expected_version: Option<i64>,
}

/// A profile as read, by column name.
#[derive(DeserializeRow)]
struct ProfileRow {
    endpoint_key_hash: Vec<u8>,
    application_id: String,
    public_key: Vec<u8>,
    access_token: Option<String>,
    sdk_token: String,
    client_profile_version: i32,
    client_profile: Vec<u8>,
    profile_hash: Vec<u8>,
    server_profile_version: i32,
    server_profile: String,
    group_states: Vec<GroupStateValue>,
    configuration_hash: Vec<u8>,
    topic_hash: i32,
    subscriptions: Vec<String>,
    system_notification_seq: i32,
    owner_id: Option<String>,
    node_id: Option<String>,
    last_seen_ms: i64,
    version: i64,
}

impl From<ProfileRow> for EndpointProfile {
    fn from(row: ProfileRow) -> Self {
        Self {
            application_id: row.application_id,
            endpoint_key_hash: row.endpoint_key_hash,
            public_key: row.public_key,
            access_token: row.access_token,
            sdk_token: row.sdk_token,
            client_profile_version: row.client_profile_version,
            client_profile: row.client_profile,
            profile_hash: row.profile_hash,
            server_profile_version: row.server_profile_version,
            server_profile: row.server_profile,
            groups: row
                .group_states
                .into_iter()
                .map(|g| GroupState {
                    group_id: g.group_id,
                    filter_id: g.filter_id,
                    configuration_id: g.configuration_id,
                })
                .collect(),
            configuration_hash: row.configuration_hash,
            topic_hash: row.topic_hash,
            subscriptions: row.subscriptions,
            system_notification_seq: row.system_notification_seq,
            owner_id: row.owner_id,
            node_id: row.node_id,
            last_seen_ms: row.last_seen_ms,
            version: row.version,
        }
    }
}

/// What a profile's index entries are made of: application, access token, owner, and the version.
type ProfileKeys = (String, Option<String>, Option<String>, i64);
type CredentialsRow = (String, Vec<u8>, Vec<u8>, String);
type NotificationRow = (String, String, String, i32, String, Vec<u8>, i64);
type UnicastRow = (String, Vec<u8>, String, String, Vec<u8>, i64);

impl CassandraEndpoints {
    pub(super) async fn connect(
        contact_points: &[String],
        keyspace: &str,
        replication: &CassandraReplication,
        timeouts: Timeouts,
    ) -> Result<Self, StoreError> {
        replication.validate()?;
        let valid = !keyspace.is_empty()
            && keyspace.len() <= 48
            && keyspace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(StoreError::Config(format!(
                "Cassandra keyspace {keyspace:?}: expected 1 to 48 letters, digits or '_'"
            )));
        }
        let builder = session_builder()
            .known_nodes(contact_points)
            .connection_timeout(timeouts.connect);
        let session = replication
            .apply_with(builder, timeouts.request)
            .build()
            .await?;
        if let Some(datacenter) = &replication.datacenter {
            let state = session.get_cluster_state();
            let known = state.replica_locator().datacenter_names();
            if !known.iter().any(|name| name == datacenter) {
                return Err(StoreError::Config(format!(
                    "Cassandra datacenter {datacenter:?} is not in the ring, whose datacenters are {}",
                    known.join(", ")
                )));
            }
        }
        Ok(Self {
            session: Arc::new(session),
            keyspace: keyspace.to_owned(),
            replication: replication.clone(),
            statements: Arc::new(OnceCell::new()),
            request_timeout: timeouts.request,
        })
    }

    pub(super) async fn prepare(&self) -> Result<(), StoreError> {
        let ks = &self.keyspace;
        self.session
            .query_unpaged(self.replication.create_keyspace_cql(ks), &[])
            .await?;
        for statement in SCHEMA {
            self.session
                .query_unpaged(statement.replace("{ks}", ks), &[])
                .await?;
        }
        self.statements().await?;
        Ok(())
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.session
            .query_unpaged("SELECT release_version FROM system.local", &[])
            .await?;
        Ok(())
    }

    async fn statements(&self) -> Result<&Statements, StoreError> {
        self.statements
            .get_or_try_init(|| Statements::prepare(&self.session, &self.keyspace))
            .await
    }

    // ---- credentials ----

    pub(super) async fn provision_credentials(&self, c: &Credentials) -> Result<(), StoreError> {
        let st = self.statements().await?;
        self.session
            .execute_unpaged(
                &st.provision_credentials,
                (
                    &c.application_id,
                    &c.endpoint_key_hash,
                    &c.public_key,
                    c.status.name(),
                ),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn credentials(
        &self,
        app: &str,
        key_hash: &[u8],
    ) -> Result<Option<Credentials>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.credentials, (app, key_hash))
            .await?;
        rows::<CredentialsRow>(result)?
            .into_iter()
            .next()
            .map(credentials_from)
            .transpose()
    }

    pub(super) async fn set_credentials_status(
        &self,
        app: &str,
        key_hash: &[u8],
        status: CredentialStatus,
    ) -> Result<bool, StoreError> {
        // Credentials are never deleted, so once read they stay found.
        if self.credentials(app, key_hash).await?.is_none() {
            return Ok(false);
        }
        let st = self.statements().await?;
        self.session
            .execute_unpaged(&st.set_credentials_status, (status.name(), app, key_hash))
            .await?;
        Ok(true)
    }

    pub(super) async fn list_credentials(
        &self,
        app: &str,
        page: Page,
    ) -> Result<Vec<Credentials>, StoreError> {
        let st = self.statements().await?;
        let Some(limit) = fetch_limit(page) else {
            return Ok(Vec::new());
        };
        let result = self
            .session
            .execute_unpaged(&st.list_credentials, (app, limit))
            .await?;
        rows::<CredentialsRow>(result)?
            .into_iter()
            .skip(page.offset as usize)
            .map(credentials_from)
            .collect()
    }

    // ---- endpoint profiles ----

    pub(super) async fn save_profile(&self, p: &EndpointProfile) -> Result<(), StoreError> {
        const CONFLICT: StoreError =
            StoreError::Conflict("endpoint profile changed or deleted since it was read");
        let st = self.statements().await?;
        // What the indexes hold for the version being replaced.
        let previous = if p.version == 0 {
            None
        } else {
            let result = self
                .session
                .execute_unpaged(&st.profile_keys, (&p.endpoint_key_hash,))
                .await?;
            match rows::<ProfileKeys>(result)?.into_iter().next() {
                Some((app, token, owner, version)) if version == p.version => {
                    Some((app, token, owner))
                }
                _ => return Err(CONFLICT),
            }
        };
        let write = ProfileWrite {
            endpoint_key_hash: &p.endpoint_key_hash,
            application_id: &p.application_id,
            public_key: &p.public_key,
            access_token: p.access_token.as_deref(),
            sdk_token: &p.sdk_token,
            client_profile_version: p.client_profile_version,
            client_profile: &p.client_profile,
            profile_hash: &p.profile_hash,
            server_profile_version: p.server_profile_version,
            server_profile: &p.server_profile,
            group_states: p
                .groups
                .iter()
                .map(|g| GroupStateValue {
                    group_id: g.group_id.clone(),
                    filter_id: g.filter_id.clone(),
                    configuration_id: g.configuration_id.clone(),
                })
                .collect(),
            configuration_hash: &p.configuration_hash,
            topic_hash: p.topic_hash,
            subscriptions: &p.subscriptions,
            system_notification_seq: p.system_notification_seq,
            owner_id: p.owner_id.as_deref(),
            node_id: p.node_id.as_deref(),
            last_seen_ms: p.last_seen_ms,
            version: p.version + 1,
            expected_version: (p.version != 0).then_some(p.version),
        };
        let result = self
            .session
            .execute_unpaged(&st.save_profile, write)
            .await?;
        if !applied(result)? {
            return Err(CONFLICT);
        }

        let key = &p.endpoint_key_hash;
        if let Some((app, token, owner)) = previous {
            if app != p.application_id {
                self.session
                    .execute_unpaged(&st.unindex_by_app, (&app, key))
                    .await?;
            }
            if let Some(token) = token
                && (app != p.application_id || Some(&token) != p.access_token.as_ref())
            {
                self.session
                    .execute_unpaged(&st.unindex_by_token, (&app, &token))
                    .await?;
            }
            if let Some(owner) = owner
                && Some(&owner) != p.owner_id.as_ref()
            {
                self.session
                    .execute_unpaged(&st.unindex_by_owner, (&owner, key))
                    .await?;
            }
        }
        self.session
            .execute_unpaged(&st.index_by_app, (&p.application_id, key))
            .await?;
        if let Some(token) = &p.access_token {
            self.session
                .execute_unpaged(&st.index_by_token, (&p.application_id, token, key))
                .await?;
        }
        if let Some(owner) = &p.owner_id {
            self.session
                .execute_unpaged(&st.index_by_owner, (owner, key))
                .await?;
        }
        Ok(())
    }

    pub(super) async fn profile(
        &self,
        key_hash: &[u8],
    ) -> Result<Option<EndpointProfile>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.profile, (key_hash,))
            .await?;
        Ok(rows::<ProfileRow>(result)?
            .into_iter()
            .next()
            .map(EndpointProfile::from))
    }

    pub(super) async fn profile_by_access_token(
        &self,
        app: &str,
        token: &str,
    ) -> Result<Option<EndpointProfile>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.find_by_token, (app, token))
            .await?;
        let Some((key,)) = rows::<(Vec<u8>,)>(result)?.into_iter().next() else {
            return Ok(None);
        };
        Ok(self
            .profile(&key)
            .await?
            .filter(|p| p.application_id == app && p.access_token.as_deref() == Some(token)))
    }

    pub(super) async fn list_profiles(
        &self,
        app: &str,
        page: Page,
    ) -> Result<Vec<EndpointProfile>, StoreError> {
        let st = self.statements().await?;
        let Some(limit) = fetch_limit(page) else {
            return Ok(Vec::new());
        };
        let result = self
            .session
            .execute_unpaged(&st.list_by_app, (app, limit))
            .await?;
        let keys: Vec<Vec<u8>> = rows::<(Vec<u8>,)>(result)?
            .into_iter()
            .skip(page.offset as usize)
            .map(|(key,)| key)
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let result = self.session.execute_unpaged(&st.profiles, (&keys,)).await?;
        let mut found: HashMap<Vec<u8>, EndpointProfile> = rows::<ProfileRow>(result)?
            .into_iter()
            .map(|row| (row.endpoint_key_hash.clone(), EndpointProfile::from(row)))
            .collect();
        Ok(keys
            .iter()
            .filter_map(|key| found.remove(key))
            .filter(|p| p.application_id == app)
            .collect())
    }

    pub(super) async fn count_profiles(&self, app: &str) -> Result<i64, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.count_by_app, (app,))
            .await?;
        Ok(rows::<(i64,)>(result)?
            .into_iter()
            .next()
            .map_or(0, |(count,)| count))
    }

    pub(super) async fn delete_profile(&self, key_hash: &[u8]) -> Result<bool, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.profile_keys, (key_hash,))
            .await?;
        let Some((app, token, owner, _)) = rows::<ProfileKeys>(result)?.into_iter().next() else {
            return Ok(false);
        };
        let result = self
            .session
            .execute_unpaged(&st.delete_profile, (key_hash,))
            .await?;
        let deleted = applied(result)?;
        self.session
            .execute_unpaged(&st.unindex_by_app, (&app, key_hash))
            .await?;
        if let Some(token) = token {
            self.session
                .execute_unpaged(&st.unindex_by_token, (&app, &token))
                .await?;
        }
        if let Some(owner) = owner {
            self.session
                .execute_unpaged(&st.unindex_by_owner, (&owner, key_hash))
                .await?;
        }
        Ok(deleted)
    }

    // ---- configurations ----

    pub(super) async fn save_configuration(
        &self,
        hash: &[u8],
        body: &[u8],
    ) -> Result<(), StoreError> {
        let st = self.statements().await?;
        self.session
            .execute_unpaged(&st.save_configuration, (hash, body))
            .await?;
        Ok(())
    }

    pub(super) async fn configuration(&self, hash: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.configuration, (hash,))
            .await?;
        Ok(rows::<(Vec<u8>,)>(result)?
            .into_iter()
            .next()
            .map(|(body,)| body))
    }

    // ---- notifications ----

    pub(super) async fn save_notification(&self, n: &Notification) -> Result<(), StoreError> {
        let st = self.statements().await?;
        self.session
            .execute_unpaged(
                &st.save_notification,
                (
                    &n.topic_id,
                    n.seq,
                    &n.id,
                    &n.application_id,
                    n.kind.name(),
                    &n.body,
                    n.expires_at_ms,
                    ttl_seconds(n.expires_at_ms),
                ),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn notifications(
        &self,
        topic_id: &str,
        after_seq: i32,
        now_ms: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.notifications, (topic_id, after_seq))
            .await?;
        rows::<NotificationRow>(result)?
            .into_iter()
            .filter(|row| row.6 > now_ms)
            .map(
                |(id, application_id, topic_id, seq, kind, body, expires_at_ms)| {
                    Ok(Notification {
                        id,
                        application_id,
                        topic_id,
                        seq,
                        kind: kind_from(&kind)?,
                        body,
                        expires_at_ms,
                    })
                },
            )
            .collect()
    }

    pub(super) async fn save_unicast(&self, u: &UnicastNotification) -> Result<(), StoreError> {
        let st = self.statements().await?;
        self.session
            .execute_unpaged(
                &st.save_unicast,
                (
                    &u.endpoint_key_hash,
                    &u.id,
                    &u.topic_id,
                    u.kind.name(),
                    &u.body,
                    u.expires_at_ms,
                    ttl_seconds(u.expires_at_ms),
                ),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn unicasts(
        &self,
        key_hash: &[u8],
        now_ms: i64,
    ) -> Result<Vec<UnicastNotification>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.unicasts, (key_hash,))
            .await?;
        rows::<UnicastRow>(result)?
            .into_iter()
            .filter(|row| row.5 > now_ms)
            .map(
                |(id, endpoint_key_hash, topic_id, kind, body, expires_at_ms)| {
                    Ok(UnicastNotification {
                        id,
                        endpoint_key_hash,
                        topic_id,
                        kind: kind_from(&kind)?,
                        body,
                        expires_at_ms,
                    })
                },
            )
            .collect()
    }

    pub(super) async fn delete_unicast(
        &self,
        key_hash: &[u8],
        id: &str,
    ) -> Result<bool, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.delete_unicast, (key_hash, id))
            .await?;
        applied(result)
    }

    // ---- owners ----

    pub(super) async fn profiles_by_owner(
        &self,
        owner_id: &str,
    ) -> Result<Vec<EndpointProfile>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.list_by_owner, (owner_id,))
            .await?;
        let keys: Vec<Vec<u8>> = rows::<(Vec<u8>,)>(result)?
            .into_iter()
            .map(|(key,)| key)
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let result = self.session.execute_unpaged(&st.profiles, (&keys,)).await?;
        let found: HashMap<Vec<u8>, EndpointProfile> = rows::<ProfileRow>(result)?
            .into_iter()
            .map(|row| (row.endpoint_key_hash.clone(), EndpointProfile::from(row)))
            .collect();
        // Kept in key-hash order (the index's clustering order); an entry whose profile is gone
        // or has another owner now is left by a write that failed halfway, and is not believed.
        Ok(keys
            .iter()
            .filter_map(|key| found.get(key))
            .filter(|profile| profile.owner_id.as_deref() == Some(owner_id))
            .cloned()
            .collect())
    }

    pub(super) async fn save_user_configuration(
        &self,
        c: &UserConfiguration,
    ) -> Result<(), StoreError> {
        let st = self.statements().await?;
        self.session
            .execute_unpaged(
                &st.save_user_configuration,
                (
                    &c.owner_id,
                    &c.app_id,
                    c.schema_version,
                    &c.body,
                    c.updated_ms,
                ),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn user_configurations(
        &self,
        owner_id: &str,
        app_id: &str,
    ) -> Result<Vec<UserConfiguration>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.user_configurations, (owner_id, app_id))
            .await?;
        Ok(rows::<(i64, String, i64)>(result)?
            .into_iter()
            .map(|(schema_version, body, updated_ms)| {
                UserConfiguration::stored(owner_id, app_id, schema_version, body, updated_ms)
            })
            .collect())
    }

    pub(super) async fn user_configuration(
        &self,
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
    ) -> Result<Option<UserConfiguration>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.user_configuration, (owner_id, app_id, schema_version))
            .await?;
        Ok(rows::<(i64, String, i64)>(result)?.into_iter().next().map(
            |(schema_version, body, updated_ms)| {
                UserConfiguration::stored(owner_id, app_id, schema_version, body, updated_ms)
            },
        ))
    }

    pub(super) async fn delete_user_configuration(
        &self,
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
    ) -> Result<bool, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(
                &st.delete_user_configuration,
                (owner_id, app_id, schema_version),
            )
            .await?;
        applied(result)
    }

    // ---- topic lists ----

    pub(super) async fn save_topic_list(&self, entry: &TopicListEntry) -> Result<(), StoreError> {
        let st = self.statements().await?;
        self.session
            .execute_unpaged(&st.save_topic_list, (entry.hash, &entry.topic_ids))
            .await?;
        Ok(())
    }

    pub(super) async fn topic_list(&self, hash: i32) -> Result<Option<TopicListEntry>, StoreError> {
        let st = self.statements().await?;
        let result = self
            .session
            .execute_unpaged(&st.topic_list, (hash,))
            .await?;
        Ok(rows::<(Vec<String>,)>(result)?
            .into_iter()
            .next()
            .map(|(topic_ids,)| TopicListEntry { hash, topic_ids }))
    }
}

/// The rows of a result, deserialized as `R`.
fn rows<R>(result: QueryResult) -> Result<Vec<R>, StoreError>
where
    R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
{
    let rows = result.into_rows_result().map_err(cassandra_result)?;
    rows.rows::<R>()
        .map_err(cassandra_result)?
        .map(|row| row.map_err(cassandra_result))
        .collect()
}

/// Whether a lightweight transaction applied: the first column of its one row, `[applied]`.
fn applied(result: QueryResult) -> Result<bool, StoreError> {
    let row = rows::<Row>(result)?.into_iter().next();
    Ok(matches!(
        row.and_then(|row| row.columns.into_iter().next().flatten()),
        Some(CqlValue::Boolean(true))
    ))
}

fn cassandra_result(error: impl std::fmt::Display) -> StoreError {
    StoreError::CassandraResult(error.to_string())
}

/// How many rows to read to serve `page` (Cassandra has no OFFSET); `None` for an empty page.
fn fetch_limit(page: Page) -> Option<i32> {
    if page.limit == 0 {
        return None;
    }
    Some(i32::try_from(page.offset.saturating_add(page.limit)).unwrap_or(i32::MAX))
}

/// The TTL that drops a row at `expires_at_ms`, in whole seconds rounded up; at least 1 (0 would
/// mean "forever"), at most Cassandra's limit.
fn ttl_seconds(expires_at_ms: i64) -> i32 {
    let remaining_ms = expires_at_ms.saturating_sub(now_ms());
    let seconds = remaining_ms.saturating_add(999) / 1000;
    seconds.clamp(1, MAX_TTL_SECONDS) as i32
}

fn credentials_from(
    (application_id, endpoint_key_hash, public_key, status): CredentialsRow,
) -> Result<Credentials, StoreError> {
    Ok(Credentials {
        application_id,
        endpoint_key_hash,
        public_key,
        status: CredentialStatus::from_name(&status)
            .ok_or(StoreError::Corrupt("credentials status"))?,
    })
}

fn kind_from(name: &str) -> Result<NotificationKind, StoreError> {
    NotificationKind::from_name(name).ok_or(StoreError::Corrupt("notification kind"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_and_stay_in_range() {
        let now = now_ms();
        assert_eq!(ttl_seconds(now - 60_000), 1);
        let ttl = ttl_seconds(now + 10_500);
        assert!((10..=11).contains(&ttl), "{ttl}");
        assert_eq!(ttl_seconds(i64::MAX), MAX_TTL_SECONDS as i32);
    }

    #[test]
    fn keyspaces_replicate_simply_or_in_the_named_datacenter() {
        let simple = CassandraReplication::simple(3);
        assert_eq!(
            simple.create_keyspace_cql("kaa"),
            "CREATE KEYSPACE IF NOT EXISTS kaa WITH replication = \
             {'class': 'SimpleStrategy', 'replication_factor': 3}"
        );
        let in_dc1 = CassandraReplication {
            datacenter: Some("dc-1_east".into()),
            ..simple
        };
        in_dc1.validate().unwrap();
        assert_eq!(
            in_dc1.create_keyspace_cql("kaa"),
            "CREATE KEYSPACE IF NOT EXISTS kaa WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc-1_east': 3}"
        );
    }

    #[test]
    fn datacenter_names_that_could_break_cql_are_refused() {
        for name in ["", "dc1': 1, 'dc2", "dc 1", "dc1}", &"d".repeat(65)] {
            let replication = CassandraReplication {
                datacenter: Some(name.to_owned()),
                ..CassandraReplication::simple(1)
            };
            let error = replication.validate().unwrap_err().to_string();
            assert!(error.contains("datacenter"), "{name:?}: {error}");
        }
        let error = CassandraReplication::simple(0).validate().unwrap_err();
        assert!(error.to_string().contains("replication factor"), "{error}");
    }

    #[test]
    fn consistency_levels_parse_by_their_cql_names() {
        assert_eq!(
            parse_consistency("local_quorum").unwrap(),
            Consistency::LocalQuorum
        );
        assert_eq!(parse_consistency("QUORUM").unwrap(), Consistency::Quorum);
        assert_eq!(
            parse_consistency("each_quorum").unwrap(),
            Consistency::EachQuorum
        );
        assert_eq!(
            parse_consistency("local_one").unwrap(),
            Consistency::LocalOne
        );
        assert_eq!(parse_consistency("any").unwrap(), Consistency::Any);
        for consistency in CONSISTENCIES {
            assert_eq!(
                parse_consistency(consistency_name(consistency)).unwrap(),
                consistency
            );
        }
        // Serial levels only apply to lightweight transactions' Paxos phase.
        for refused in ["serial", "local_serial", "majority", ""] {
            let error = parse_consistency(refused).unwrap_err().to_string();
            assert!(
                error.contains("expected one of any, one, two, three, quorum, all, local_quorum"),
                "{refused:?}: {error}"
            );
        }
    }

    #[test]
    fn pages_read_up_to_their_end() {
        assert_eq!(
            fetch_limit(Page {
                offset: 0,
                limit: 0
            }),
            None
        );
        assert_eq!(
            fetch_limit(Page {
                offset: 20,
                limit: 10
            }),
            Some(30)
        );
        assert_eq!(
            fetch_limit(Page {
                offset: i64::MAX,
                limit: 10
            }),
            Some(i32::MAX)
        );
    }
}
