//! The node's one typed configuration.
//!
//! Layers, lowest first: [`Config::default`] (or the standalone preset), a TOML file, `KAA_*`
//! environment variables (`KAA_SECTION__KEY`), then `--set key=value` flags. The result is
//! checked by [`Config::validate`] before anything starts; every error names the key at fault.
//! `kaa-node print-config` prints [`DEFAULT_CONFIG_TOML`], which a test keeps equal to
//! `Config::default()`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use kaa_cluster::acl::ZkAccess;
use kaa_control::AdminSecurity;
use kaa_control::api::lockout::LockoutSettings;
use kaa_control::rebalance::RebalanceSettings;
use kaa_model::outbound::OutboundPolicy;
use kaa_model::{Service, ServiceSet};
use kaa_store::Timeouts;
use kaa_store::endpoint::{CassandraReplication, Consistency, EndpointBackend};
use serde::{Deserialize, Serialize};

/// The commented default configuration, as `kaa-node print-config` prints it.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default-config.toml");

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file, an environment variable or a flag does not parse into [`Config`].
    #[error("{}", describe(.0))]
    Parse(Box<figment::Error>),
    /// A `--set` flag is not `key=value`.
    #[error("--set {0:?}: expected KEY=VALUE, e.g. admin.port=8081")]
    BadOverride(String),
    /// A value parses but is not acceptable.
    #[error("invalid value for `{key}`: {message}")]
    Invalid {
        /// Dotted key, e.g. `admin.port`.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// One `--set key=value` flag, as a figment provider named after the flag.
struct SetFlag(Serialized<figment::value::Value>);

impl SetFlag {
    fn parse(entry: &str) -> Result<Self, ConfigError> {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| ConfigError::BadOverride(entry.to_owned()))?;
        let value = value
            .parse::<figment::value::Value>()
            .unwrap_or_else(|never| match never {});
        Ok(Self(Serialized::global(key.trim(), value)))
    }
}

impl figment::Provider for SetFlag {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("--set flag")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        self.0.data()
    }
}

/// One line per problem: the dotted key, what is wrong, and where the value came from.
fn describe(errors: &figment::Error) -> String {
    let lines: Vec<String> = errors
        .clone()
        .into_iter()
        .map(|error| {
            let key = if error.path.is_empty() {
                "(top level)".to_owned()
            } else {
                error.path.join(".")
            };
            let source = match &error.metadata {
                Some(metadata) => match &metadata.source {
                    Some(source) => format!(" (from {} {source})", metadata.name),
                    None => format!(" (from {})", metadata.name),
                },
                None => String::new(),
            };
            format!("key `{key}`: {}{source}", error.kind)
        })
        .collect();
    lines.join("; ")
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        Self::Parse(Box::new(error))
    }
}

/// Everything a node needs to know to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Identity, mode, files and internode address.
    pub node: NodeConfig,
    /// The admin HTTP server.
    pub admin: AdminConfig,
    /// ZooKeeper (cluster mode).
    pub zookeeper: ZooKeeperConfig,
    /// Internode Thrift security.
    pub cluster: ClusterConfig,
    /// The Control service.
    pub control: ControlConfig,
    /// The Operations service.
    pub operations: EndpointServiceConfig,
    /// The Bootstrap service.
    pub bootstrap: EndpointServiceConfig,
    /// What the endpoint transports of Operations and Bootstrap let in.
    pub endpoint_limits: EndpointLimitsConfig,
    /// The SQL metadata database.
    pub sql: SqlConfig,
    /// The endpoint-data store.
    pub endpoint_store: EndpointStoreConfig,
    /// Log records from endpoints (Operations).
    pub log_collection: LogCollectionConfig,
    /// Endpoint syncs (Operations).
    pub sync: SyncConfig,
    /// Events between endpoints (Operations).
    pub events: EventsConfig,
    /// Operations' cache of application metadata: catch-up and unknown SDK tokens.
    pub metadata_cache: MetadataCacheConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// Logging.
    pub log: LogConfig,
}

/// How the node coordinates with others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Coordinate through ZooKeeper.
    #[default]
    Cluster,
    /// All services in one process, in-process coordination.
    Standalone,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Unique node id; empty means `<host name>-<thrift port>`.
    pub id: String,
    /// Cluster or standalone.
    pub mode: Mode,
    /// Where the node keeps its files.
    pub data_dir: PathBuf,
    /// Internode Thrift address.
    pub thrift_host: String,
    /// Internode Thrift port.
    pub thrift_port: u16,
    /// How long start-up waits for storage or coordination.
    #[serde(with = "humantime_serde")]
    pub startup_timeout: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            mode: Mode::Cluster,
            data_dir: PathBuf::from("./kaa-data"),
            thrift_host: "127.0.0.1".into(),
            thrift_port: 9090,
            startup_timeout: Duration::from_secs(60),
        }
    }
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Listen address.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// PEM certificate chain: when set (with `tls_private_key`), the admin port speaks HTTPS only.
    pub tls_certificate: String,
    /// PEM private key of `tls_certificate`.
    pub tls_private_key: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8080,
            tls_certificate: String::new(),
            tls_private_key: String::new(),
        }
    }
}

/// `[zookeeper]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZooKeeperConfig {
    /// Comma-separated `host:port` list.
    pub connect: String,
    /// Root znode of this cluster.
    pub chroot: String,
    /// Session timeout.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// How often an Operations node refreshes its load in ZooKeeper.
    #[serde(with = "humantime_serde")]
    pub load_report_interval: Duration,
    /// Digest credentials `user:password`; the znodes the cluster creates can be changed only
    /// with them. Empty: none, which a cluster node accepts only with `insecure_open_acl`.
    pub auth: String,
    /// Run a cluster node without `auth`, its znodes open to anyone who reaches ZooKeeper.
    pub insecure_open_acl: bool,
}

impl ZooKeeperConfig {
    /// How the node authenticates and protects the cluster's znodes (after [`Config::validate`]).
    pub fn access(&self) -> ZkAccess {
        if self.auth.is_empty() {
            ZkAccess::Open
        } else {
            ZkAccess::Digest(self.auth.clone())
        }
    }
}

impl Default for ZooKeeperConfig {
    fn default() -> Self {
        Self {
            connect: "127.0.0.1:2181".into(),
            chroot: "/kaa".into(),
            session_timeout: Duration::from_secs(2),
            load_report_interval: Duration::from_secs(3),
            auth: String::new(),
            insecure_open_acl: false,
        }
    }
}

/// `[cluster]`: mutual TLS on internode Thrift. Paths may use `{data_dir}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// PEM certificate of the cluster CA: peers must present a certificate it signed.
    pub tls_ca: String,
    /// PEM certificate of this node, signed by the cluster CA.
    pub tls_cert: String,
    /// PEM private key of `tls_cert`.
    pub tls_key: String,
    /// Serve and call internode Thrift without TLS, to anyone who reaches the port.
    pub insecure_plaintext: bool,
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Whether this node runs Control.
    pub enabled: bool,
    /// Folder of the built admin UI (`admin-ui/dist`), served at `/` on the admin port; empty
    /// means `./admin-ui/dist` under the working directory, when it exists.
    pub ui_dir: PathBuf,
    /// How often the leader recomputes load-balancing redirection rules.
    #[serde(with = "humantime_serde")]
    pub rebalance_interval: Duration,
    /// Endpoint-count difference between the most and least loaded Operations nodes below which
    /// nothing is redirected.
    pub rebalance_min_difference: u64,
    /// Largest share of new sessions an overloaded node redirects (0..=1).
    pub rebalance_max_initial_redirect: f64,
    /// Largest share of running sessions' syncs an overloaded node redirects (0..=1).
    pub rebalance_max_session_redirect: f64,
    /// Failed admin logins of one user name after which it is locked out.
    pub login_max_failures_per_user: u32,
    /// Failed admin logins from one client address after which it is locked out.
    pub login_max_failures_per_address: u32,
    /// The first lockout; each further one lasts twice as long.
    #[serde(with = "humantime_serde")]
    pub login_lockout: Duration,
    /// The longest lockout, and how long failures are remembered without a new one.
    #[serde(with = "humantime_serde")]
    pub login_lockout_max: Duration,
    /// Days the audit log keeps an entry; 0 keeps them for good.
    pub audit_retention_days: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        let rebalance = RebalanceSettings::default();
        let lockout = LockoutSettings::default();
        Self {
            enabled: true,
            ui_dir: PathBuf::new(),
            rebalance_interval: rebalance.interval,
            rebalance_min_difference: rebalance.min_difference,
            rebalance_max_initial_redirect: rebalance.max_initial_redirect,
            rebalance_max_session_redirect: rebalance.max_session_redirect,
            login_max_failures_per_user: lockout.max_failures_per_user,
            login_max_failures_per_address: lockout.max_failures_per_address,
            login_lockout: lockout.lockout,
            login_lockout_max: lockout.lockout_max,
            audit_retention_days: 365,
        }
    }
}

/// Where the admin UI is looked for when `control.ui_dir` is empty, relative to the working
/// directory (`make standalone` builds it there).
pub const DEFAULT_UI_DIR: &str = "admin-ui/dist";

impl ControlConfig {
    /// The admin UI folder to serve, if any: `ui_dir` as configured (served even if missing, so
    /// the node says what is wrong), or [`DEFAULT_UI_DIR`] when that is empty and the folder
    /// holds an `index.html`.
    pub fn ui_dir(&self) -> Option<PathBuf> {
        if !self.ui_dir.as_os_str().is_empty() {
            return Some(self.ui_dir.clone());
        }
        let default = PathBuf::from(DEFAULT_UI_DIR);
        default.join("index.html").is_file().then_some(default)
    }

    /// How the leader balances Operations load.
    pub fn rebalance(&self) -> RebalanceSettings {
        RebalanceSettings {
            interval: self.rebalance_interval,
            min_difference: self.rebalance_min_difference,
            max_initial_redirect: self.rebalance_max_initial_redirect,
            max_session_redirect: self.rebalance_max_session_redirect,
        }
    }

    /// How the admin API throttles logins and keeps its audit log.
    pub fn security(&self) -> AdminSecurity {
        AdminSecurity {
            lockout: LockoutSettings {
                max_failures_per_user: self.login_max_failures_per_user,
                max_failures_per_address: self.login_max_failures_per_address,
                lockout: self.login_lockout,
                lockout_max: self.login_lockout_max,
            },
            audit_retention: (self.audit_retention_days > 0)
                .then(|| Duration::from_secs(u64::from(self.audit_retention_days) * 86_400)),
        }
    }
}

/// `[operations]` and `[bootstrap]`: a service that endpoints reach over Kaa's TCP and HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointServiceConfig {
    /// Whether this node runs the service.
    pub enabled: bool,
    /// Kaatcp port.
    pub tcp_port: u16,
    /// HTTP port.
    pub http_port: u16,
    /// Whether endpoints may open Kaatcp sessions without a session key (plaintext). HTTP
    /// syncs are always encrypted. Operations: UNSAFE, for lab use only (default false);
    /// unsigned sessions let anyone who knows an endpoint's key hash act as it. Bootstrap
    /// (default true): its answer is a public list.
    pub allow_plaintext: bool,
    /// Interface the transports listen on; empty: `node.thrift_host`. `0.0.0.0` for all.
    pub bind_host: String,
    /// Host endpoints are told to connect to (bootstrap answers, ZooKeeper); empty:
    /// `node.thrift_host`. Set it to the address devices reach this node at.
    pub public_host: String,
    /// PEM certificate chain: when set (with `tls_private_key`), both transports speak TLS only.
    pub tls_certificate: String,
    /// PEM private key of `tls_certificate`.
    pub tls_private_key: String,
    /// Operations only: the directory file log appenders write under, each file at
    /// `<root>/<tenant id>/<application id>/<name>`; empty: `<node.data_dir>/appenders`.
    #[serde(default)]
    pub file_appender_root: PathBuf,
    /// Operations only: the largest `max_file_bytes` a file appender gets (larger are capped).
    #[serde(default = "default_file_appender_max_file_bytes")]
    pub file_appender_max_file_bytes: u64,
    /// Operations only: the largest `max_files` a file appender gets (larger are capped).
    #[serde(default = "default_file_appender_max_files")]
    pub file_appender_max_files: u32,
    /// Operations only: networks (`10.0.0.0/8`), addresses and host names that REST appenders,
    /// HTTP user verifiers and tenants' Cassandra/MongoDB targets may reach besides public
    /// addresses (loopback, private, link-local, CGNAT and cloud metadata are refused otherwise).
    #[serde(default)]
    pub outbound_allow: Vec<String>,
}

fn default_file_appender_max_file_bytes() -> u64 {
    1 << 30
}

fn default_file_appender_max_files() -> u32 {
    100
}

impl EndpointServiceConfig {
    /// The file appender root: `file_appender_root`, or `appenders` under the data dir.
    pub fn file_appender_root(&self, node: &NodeConfig) -> PathBuf {
        if self.file_appender_root.as_os_str().is_empty() {
            node.data_dir.join("appenders")
        } else {
            self.file_appender_root.clone()
        }
    }

    /// The interface to listen on.
    pub fn bind_host<'a>(&'a self, node: &'a NodeConfig) -> &'a str {
        if self.bind_host.is_empty() {
            &node.thrift_host
        } else {
            &self.bind_host
        }
    }

    /// The host endpoints connect to.
    pub fn public_host<'a>(&'a self, node: &'a NodeConfig) -> &'a str {
        if self.public_host.is_empty() {
            &node.thrift_host
        } else {
            &self.public_host
        }
    }

    fn operations() -> Self {
        Self {
            enabled: true,
            tcp_port: 9997,
            http_port: 9999,
            allow_plaintext: false,
            bind_host: String::new(),
            public_host: String::new(),
            tls_certificate: String::new(),
            tls_private_key: String::new(),
            file_appender_root: PathBuf::new(),
            file_appender_max_file_bytes: default_file_appender_max_file_bytes(),
            file_appender_max_files: default_file_appender_max_files(),
            outbound_allow: Vec::new(),
        }
    }

    fn bootstrap() -> Self {
        Self {
            enabled: true,
            tcp_port: 9888,
            http_port: 9889,
            allow_plaintext: true,
            bind_host: String::new(),
            public_host: String::new(),
            tls_certificate: String::new(),
            tls_private_key: String::new(),
            // Operations-only settings, left at their defaults (`validate` refuses others).
            ..Self::operations()
        }
    }
}

/// `[endpoint_limits]`: what the Kaatcp and HTTP listeners of Operations and Bootstrap let in.
/// Each service counts its own connections; the private-key pool is the node's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointLimitsConfig {
    /// Connections one service holds at once over its Kaatcp and HTTP ports.
    pub max_connections: usize,
    /// Connections one source (an IPv4 address, an IPv6 /64) holds at once on one service.
    pub max_connections_per_address: usize,
    /// How long after its accept a connection may take to complete its TLS handshake and whole
    /// CONNECT (Kaatcp), or its request head and then its body (HTTP).
    #[serde(with = "humantime_serde")]
    pub connect_deadline: Duration,
    /// The longest keepalive a Kaatcp session gets; longer ones asked for are clamped to it.
    #[serde(with = "humantime_serde")]
    pub max_keepalive: Duration,
    /// The largest Kaatcp frame.
    pub max_frame_bytes: usize,
    /// The largest HTTP request body.
    pub http_max_body: usize,
    /// Worker threads of each service's HTTP listener.
    pub http_workers: usize,
    /// Threads doing RSA private-key work at once; 0: one per CPU core.
    pub key_workers: usize,
    /// Private-key operations waiting for a thread before session starts are refused.
    pub key_queue: usize,
}

impl Default for EndpointLimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 100_000,
            max_connections_per_address: 5_000,
            connect_deadline: Duration::from_secs(15),
            max_keepalive: Duration::from_secs(20 * 60),
            max_frame_bytes: 512 * 1024,
            http_max_body: 512 * 1024,
            http_workers: 2,
            key_workers: 0,
            key_queue: 256,
        }
    }
}

impl EndpointLimitsConfig {
    /// Refuses limits that would let nothing in or not fit Kaa's messages.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.into(),
            })
        };
        if self.max_connections == 0 {
            return invalid("endpoint_limits.max_connections", "must be at least 1");
        }
        if self.max_connections_per_address == 0 {
            return invalid(
                "endpoint_limits.max_connections_per_address",
                "must be at least 1",
            );
        }
        // HTTP times a request's head on a clock updated twice a second.
        if self.connect_deadline < Duration::from_secs(1) {
            return invalid("endpoint_limits.connect_deadline", "must be at least 1s");
        }
        if self.max_keepalive < Duration::from_secs(1) {
            return invalid("endpoint_limits.max_keepalive", "must be at least 1s");
        }
        // A CONNECT carries two 256-byte RSA blocks before its request.
        if !(1024..=kaa_idl::endpoint::kaatcp::MAX_REMAINING_LENGTH).contains(&self.max_frame_bytes)
        {
            return invalid(
                "endpoint_limits.max_frame_bytes",
                "must be between 1024 and 268435455",
            );
        }
        if self.http_max_body < 1024 {
            return invalid("endpoint_limits.http_max_body", "must be at least 1024");
        }
        if self.http_workers == 0 {
            return invalid("endpoint_limits.http_workers", "must be at least 1");
        }
        Ok(())
    }
}

/// `[sql]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlConfig {
    /// `postgres://`, `mysql://` or `sqlite://` URL; `{data_dir}` is expanded.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a connection of the pool (connecting included).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long one statement may run (PostgreSQL and MariaDB enforce it). With
    /// `connect_timeout` it makes the node's own bound on one call, which also ends calls on a
    /// database that keeps its connections open and answers nothing: an admin API request is
    /// answered 503 `storage_unavailable` past `connect_timeout + request_timeout`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl SqlConfig {
    /// The store timeouts this section asks for.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.connect_timeout,
            request: self.request_timeout,
        }
    }
}

impl Default for SqlConfig {
    fn default() -> Self {
        Self {
            url: "postgres://kaa:kaa@127.0.0.1:5432/kaa".into(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The kind of endpoint-data store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStoreKind {
    /// Apache Cassandra.
    #[default]
    Cassandra,
    /// MongoDB or a wire-compatible server.
    Mongodb,
    /// A SQL database.
    Sql,
}

/// `[endpoint_store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointStoreConfig {
    /// Which store.
    pub backend: EndpointStoreKind,
    /// Cassandra contact points.
    pub contact_points: Vec<String>,
    /// Cassandra keyspace.
    pub keyspace: String,
    /// Cassandra replicas per row, used when kaa-rs creates the keyspace.
    pub replication_factor: u16,
    /// Cassandra datacenter of the replicas (NetworkTopologyStrategy); empty: SimpleStrategy.
    pub datacenter: String,
    /// Cassandra consistency of every endpoint-store statement.
    #[serde(with = "consistency_name")]
    pub consistency: Consistency,
    /// MongoDB connection string or SQL URL; `{data_dir}` is expanded.
    pub url: String,
    /// MongoDB database.
    pub database: String,
    /// How long connecting (or waiting for a pooled connection) may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long one call of the store may take (each Cassandra statement too).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

/// `[endpoint_store] consistency` by its CQL name (`local_quorum`, …).
mod consistency_name {
    use kaa_store::endpoint::{Consistency, consistency_name, parse_consistency};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Consistency, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(consistency_name(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Consistency, D::Error> {
        let name = String::deserialize(deserializer)?;
        parse_consistency(&name).map_err(serde::de::Error::custom)
    }
}

impl EndpointStoreConfig {
    /// The store timeouts this section asks for.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.connect_timeout,
            request: self.request_timeout,
        }
    }

    /// The Cassandra replication and consistency this section asks for.
    pub fn cassandra_replication(&self) -> CassandraReplication {
        CassandraReplication {
            datacenter: Some(self.datacenter.trim())
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
            replication_factor: self.replication_factor,
            consistency: self.consistency,
        }
    }
}

impl Default for EndpointStoreConfig {
    fn default() -> Self {
        Self {
            backend: EndpointStoreKind::Cassandra,
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "kaa".into(),
            replication_factor: 1,
            datacenter: String::new(),
            consistency: Consistency::LocalQuorum,
            url: String::new(),
            database: "kaa".into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// `[log_collection]`: how Operations hands endpoints' log records to log appenders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogCollectionConfig {
    /// Batches each appender queues before it refuses more (the endpoint retries later).
    pub queue_batches: usize,
    /// Decoded bytes of log records each appender queues before it refuses more.
    pub queue_bytes: usize,
    /// The most one log record may take in memory once decoded.
    pub max_record_bytes: usize,
    /// The most the records of one log batch may take in memory once decoded.
    pub max_batch_bytes: usize,
    /// How long a sync waits for appenders that confirm delivery before answering FAILURE.
    #[serde(with = "humantime_serde")]
    pub delivery_wait: Duration,
    /// How long a stopping node lets appenders write what they have queued.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Batches each appender writes at once (a file appender writes one at a time); more raise
    /// one appender's throughput and its load on the storage (decision 032).
    pub writers_per_appender: usize,
}

impl Default for LogCollectionConfig {
    fn default() -> Self {
        Self {
            queue_batches: 4096,
            queue_bytes: 64 << 20,
            max_record_bytes: 1 << 20,
            max_batch_bytes: 16 << 20,
            delivery_wait: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            writers_per_appender: 1,
        }
    }
}

/// `[sync]`: endpoint syncs on Operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// The most one sync may take; past it the endpoint's session ends.
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30),
        }
    }
}

/// `[events]`: events between the endpoints of one owner, on Operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Bytes of event data queued for one endpoint before its oldest events are dropped.
    pub endpoint_queue_bytes: usize,
    /// Bytes of event data an owner's ring owner queues for routing before it refuses more.
    pub route_queue_bytes: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            endpoint_queue_bytes: 1 << 20,
            route_queue_bytes: 32 << 20,
        }
    }
}

/// `[metadata_cache]`: how Operations keeps its cache of application metadata current and
/// refuses unknown SDK tokens cheaply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataCacheConfig {
    /// How often each cached application's change-log number is compared with the metadata
    /// store's, to catch up on a change notification that never arrived.
    #[serde(with = "humantime_serde")]
    pub change_check_interval: Duration,
    /// How long an SDK token the metadata store does not know is refused without asking again.
    #[serde(with = "humantime_serde")]
    pub unknown_sdk_token_ttl: Duration,
    /// Unknown SDK tokens remembered at most (0: none).
    pub unknown_sdk_token_max: usize,
}

impl Default for MetadataCacheConfig {
    fn default() -> Self {
        Self {
            change_check_interval: Duration::from_secs(30),
            unknown_sdk_token_ttl: Duration::from_secs(5),
            unknown_sdk_token_max: 10_000,
        }
    }
}

/// `[shutdown]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// Deadline of each shutdown phase.
    #[serde(with = "humantime_serde")]
    pub phase_timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            phase_timeout: Duration::from_secs(10),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Level filter directive.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node: NodeConfig::default(),
            admin: AdminConfig::default(),
            zookeeper: ZooKeeperConfig::default(),
            cluster: ClusterConfig::default(),
            control: ControlConfig::default(),
            operations: EndpointServiceConfig::operations(),
            bootstrap: EndpointServiceConfig::bootstrap(),
            endpoint_limits: EndpointLimitsConfig::default(),
            sql: SqlConfig::default(),
            endpoint_store: EndpointStoreConfig::default(),
            log_collection: LogCollectionConfig::default(),
            sync: SyncConfig::default(),
            events: EventsConfig::default(),
            metadata_cache: MetadataCacheConfig::default(),
            shutdown: ShutdownConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Config {
    /// This configuration as TOML with its secrets hidden (passwords in URLs,
    /// `[zookeeper] auth`, …), for `check-config` and the internode `config` command, whose
    /// output ends up in tickets and chat.
    pub fn redacted_toml(&self) -> String {
        let render = || -> Result<String, Box<dyn std::error::Error>> {
            // Read back from TOML text, the value holds only what TOML can print (no nulls).
            let mut value: serde_json::Value = toml::from_str(&toml::to_string_pretty(self)?)?;
            kaa_model::redact::json(&mut value);
            Ok(toml::to_string_pretty(&value)?)
        };
        render().unwrap_or_else(|error| format!("# cannot render the configuration: {error}\n"))
    }

    /// The standalone preset: every service, SQLite under `data_dir`, no ZooKeeper.
    pub fn standalone(data_dir: &Path) -> Self {
        let mut config = Config::default();
        config.node.mode = Mode::Standalone;
        config.node.data_dir = data_dir.to_owned();
        config.sql.url = "sqlite://{data_dir}/metadata.db".into();
        config.endpoint_store.backend = EndpointStoreKind::Sql;
        config.endpoint_store.url = "sqlite://{data_dir}/endpoints.db".into();
        config
    }

    /// Layers `file`, the `KAA_*` environment and `overrides` (`key=value`) over `base`, then
    /// validates the result.
    pub fn load(
        base: Config,
        file: Option<&Path>,
        overrides: &[String],
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(base));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only KAA_SECTION__KEY variables are config keys; other KAA_* variables (such as
        // KAA_ADMIN_PASSWORD) belong to the services.
        figment = figment.merge(
            Env::prefixed("KAA_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        for entry in overrides {
            figment = figment.merge(SetFlag::parse(entry)?);
        }
        let config: Config = figment.extract()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.into(),
            })
        };
        if self.services().is_empty() {
            return invalid(
                "control.enabled",
                "no service is enabled: enable at least one of control, operations, bootstrap",
            );
        }
        if self.node.mode == Mode::Cluster && self.zookeeper.connect.trim().is_empty() {
            return invalid(
                "zookeeper.connect",
                "cluster mode needs a ZooKeeper connect string",
            );
        }
        if !self.zookeeper.chroot.starts_with('/') {
            return invalid("zookeeper.chroot", "must be an absolute path such as /kaa");
        }
        if self.zookeeper.session_timeout < Duration::from_millis(500) {
            return invalid("zookeeper.session_timeout", "must be at least 500ms");
        }
        if self.zookeeper.load_report_interval < Duration::from_millis(100) {
            return invalid("zookeeper.load_report_interval", "must be at least 100ms");
        }
        if !self.zookeeper.auth.is_empty() {
            let complete = matches!(
                self.zookeeper.auth.split_once(':'),
                Some((user, password)) if !user.is_empty() && !password.is_empty()
            );
            if !complete {
                return invalid(
                    "zookeeper.auth",
                    "must be digest credentials user:password, both non-empty",
                );
            }
            if self.zookeeper.insecure_open_acl {
                return invalid(
                    "zookeeper.insecure_open_acl",
                    "contradicts zookeeper.auth, which protects every znode; remove one of them",
                );
            }
        }
        if self.control.rebalance_interval < Duration::from_millis(100) {
            return invalid("control.rebalance_interval", "must be at least 100ms");
        }
        if self.control.login_max_failures_per_user == 0 {
            return invalid("control.login_max_failures_per_user", "must be at least 1");
        }
        if self.control.login_max_failures_per_address == 0 {
            return invalid(
                "control.login_max_failures_per_address",
                "must be at least 1",
            );
        }
        if self.control.login_lockout < Duration::from_secs(1) {
            return invalid("control.login_lockout", "must be at least 1s");
        }
        if self.control.login_lockout_max < self.control.login_lockout {
            return invalid(
                "control.login_lockout_max",
                "must be at least control.login_lockout",
            );
        }
        for (key, share) in [
            (
                "control.rebalance_max_initial_redirect",
                self.control.rebalance_max_initial_redirect,
            ),
            (
                "control.rebalance_max_session_redirect",
                self.control.rebalance_max_session_redirect,
            ),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return invalid(key, "must be between 0 and 1");
            }
        }
        self.validate_outbound()?;
        self.endpoint_limits.validate()?;
        if self.log_collection.queue_batches == 0 {
            return invalid("log_collection.queue_batches", "must be at least 1");
        }
        if self.log_collection.writers_per_appender == 0 {
            return invalid("log_collection.writers_per_appender", "must be at least 1");
        }
        if self.log_collection.delivery_wait < Duration::from_millis(100) {
            return invalid("log_collection.delivery_wait", "must be at least 100ms");
        }
        self.validate_bounds()?;
        if self.metadata_cache.change_check_interval < Duration::from_millis(100) {
            return invalid(
                "metadata_cache.change_check_interval",
                "must be at least 100ms",
            );
        }
        if self.metadata_cache.unknown_sdk_token_ttl > Duration::from_secs(300) {
            return invalid(
                "metadata_cache.unknown_sdk_token_ttl",
                "must be at most 5m (a new SDK profile's token is refused that long)",
            );
        }
        if (self.control.enabled || self.operations.enabled) && self.sql.url.trim().is_empty() {
            return invalid(
                "sql.url",
                "control and operations need the metadata database URL",
            );
        }
        if self.sql.max_connections == 0 {
            return invalid("sql.max_connections", "must be at least 1");
        }
        // Operations keeps endpoint data there; Control reads it and provisions credentials.
        if self.operations.enabled || self.control.enabled {
            let store = &self.endpoint_store;
            match store.backend {
                EndpointStoreKind::Cassandra if store.contact_points.is_empty() => {
                    return invalid(
                        "endpoint_store.contact_points",
                        "cassandra needs at least one",
                    );
                }
                EndpointStoreKind::Cassandra if store.replication_factor == 0 => {
                    return invalid("endpoint_store.replication_factor", "must be at least 1");
                }
                EndpointStoreKind::Cassandra => {
                    if let Err(error) = store.cassandra_replication().validate() {
                        return invalid("endpoint_store.datacenter", &error.to_string());
                    }
                }
                EndpointStoreKind::Mongodb | EndpointStoreKind::Sql if store.url.is_empty() => {
                    return invalid("endpoint_store.url", "mongodb and sql stores need a URL");
                }
                _ => {}
            }
        }
        for (key, certificate, private_key) in [
            (
                "admin.tls_certificate",
                &self.admin.tls_certificate,
                &self.admin.tls_private_key,
            ),
            (
                "operations.tls_certificate",
                &self.operations.tls_certificate,
                &self.operations.tls_private_key,
            ),
            (
                "bootstrap.tls_certificate",
                &self.bootstrap.tls_certificate,
                &self.bootstrap.tls_private_key,
            ),
        ] {
            if certificate.is_empty() != private_key.is_empty() {
                return invalid(key, "TLS needs both tls_certificate and tls_private_key");
            }
        }
        self.validate_ports()?;
        self.validate_zookeeper_access()?;
        self.validate_cluster()
    }

    /// Secure by default: a cluster node needs ZooKeeper credentials or an explicit opt-out.
    /// Checked last, so a config with other mistakes is refused for those first.
    fn validate_zookeeper_access(&self) -> Result<(), ConfigError> {
        if self.node.mode == Mode::Cluster
            && self.zookeeper.auth.is_empty()
            && !self.zookeeper.insecure_open_acl
        {
            return Err(ConfigError::Invalid {
                key: "zookeeper.auth",
                message: "a cluster node needs digest credentials user:password, so that only \
                          the cluster can change its znodes (or zookeeper.insecure_open_acl = \
                          true to leave them open to anyone who reaches ZooKeeper)"
                    .into(),
            });
        }
        Ok(())
    }

    /// Internode Thrift is mutual TLS unless plaintext is asked for; a cluster node needs its
    /// files (a standalone node makes its own when none are set).
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let cluster = &self.cluster;
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.into(),
            })
        };
        let files = [
            ("cluster.tls_ca", &cluster.tls_ca),
            ("cluster.tls_cert", &cluster.tls_cert),
            ("cluster.tls_key", &cluster.tls_key),
        ];
        let missing = files.iter().find(|(_, path)| path.is_empty());
        let any_set = files.iter().any(|(_, path)| !path.is_empty());
        if let (Some((key, _)), true) = (missing, any_set) {
            return invalid(
                key,
                "internode TLS needs all of cluster.tls_ca, cluster.tls_cert and cluster.tls_key",
            );
        }
        if cluster.insecure_plaintext && any_set {
            return invalid(
                "cluster.insecure_plaintext",
                "the TLS files are set too: choose mutual TLS or plaintext",
            );
        }
        if self.node.mode == Mode::Cluster && !any_set && !cluster.insecure_plaintext {
            return invalid(
                "cluster.tls_ca",
                "a cluster node needs internode TLS: set cluster.tls_ca, cluster.tls_cert and \
                 cluster.tls_key (`kaa-node certs init` and `kaa-node certs issue` make them), \
                 or cluster.insecure_plaintext = true on a network nobody else reaches",
            );
        }
        Ok(())
    }

    /// The file appender limits and the outbound allow-list are Operations' only.
    fn validate_outbound(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if let Err(error) = OutboundPolicy::new(&self.operations.outbound_allow) {
            return invalid("operations.outbound_allow", error.to_string());
        }
        if self.operations.file_appender_max_file_bytes == 0 {
            return invalid(
                "operations.file_appender_max_file_bytes",
                "must be at least 1".into(),
            );
        }
        if self.operations.file_appender_max_files == 0 {
            return invalid(
                "operations.file_appender_max_files",
                "must be at least 1".into(),
            );
        }
        let operations_only = EndpointServiceConfig::operations();
        let bootstrap = &self.bootstrap;
        for (key, set) in [
            (
                "bootstrap.file_appender_root",
                bootstrap.file_appender_root != operations_only.file_appender_root,
            ),
            (
                "bootstrap.file_appender_max_file_bytes",
                bootstrap.file_appender_max_file_bytes
                    != operations_only.file_appender_max_file_bytes,
            ),
            (
                "bootstrap.file_appender_max_files",
                bootstrap.file_appender_max_files != operations_only.file_appender_max_files,
            ),
            (
                "bootstrap.outbound_allow",
                bootstrap.outbound_allow != operations_only.outbound_allow,
            ),
        ] {
            if set {
                return invalid(
                    key,
                    "only the operations service uses it; set it under [operations]".into(),
                );
            }
        }
        Ok(())
    }

    /// Every enabled listener needs its own port.
    fn validate_ports(&self) -> Result<(), ConfigError> {
        let mut listeners = vec![
            ("admin.port", self.admin.port),
            ("node.thrift_port", self.node.thrift_port),
        ];
        if self.operations.enabled {
            listeners.push(("operations.tcp_port", self.operations.tcp_port));
            listeners.push(("operations.http_port", self.operations.http_port));
        }
        if self.bootstrap.enabled {
            listeners.push(("bootstrap.tcp_port", self.bootstrap.tcp_port));
            listeners.push(("bootstrap.http_port", self.bootstrap.http_port));
        }
        let mut seen = HashSet::new();
        for (key, port) in listeners {
            // Port 0 asks the OS for a free port and never collides.
            if port != 0 && !seen.insert(port) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!(
                        "port {port} is already used by another listener of this node"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The services this node runs.
    pub fn services(&self) -> ServiceSet {
        let mut services = ServiceSet::default();
        let enabled = [
            (Service::Control, self.control.enabled),
            (Service::Operations, self.operations.enabled),
            (Service::Bootstrap, self.bootstrap.enabled),
        ];
        for (service, on) in enabled {
            if on {
                services.insert(service);
            }
        }
        services
    }

    /// This node's id: the configured one, or `<host name>-<thrift port>`.
    pub fn node_id(&self) -> String {
        if !self.node.id.is_empty() {
            return self.node.id.clone();
        }
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "kaa-node".into());
        format!("{host}-{}", self.node.thrift_port)
    }

    /// Expands `{data_dir}` in a URL.
    pub fn expand(&self, url: &str) -> String {
        url.replace("{data_dir}", &self.node.data_dir.to_string_lossy())
    }

    /// The endpoint store this config points at.
    /// Checks the memory bounds and timeouts of `[log_collection]`, `[sync]`, `[events]`,
    /// `[sql]` and `[endpoint_store]`.
    fn validate_bounds(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.into(),
            })
        };
        let logs = &self.log_collection;
        if logs.max_record_bytes < 1024 {
            return invalid("log_collection.max_record_bytes", "must be at least 1024");
        }
        if logs.max_batch_bytes < logs.max_record_bytes {
            return invalid(
                "log_collection.max_batch_bytes",
                "must be at least log_collection.max_record_bytes",
            );
        }
        if logs.queue_bytes < logs.max_batch_bytes {
            return invalid(
                "log_collection.queue_bytes",
                "must be at least log_collection.max_batch_bytes (one batch must fit)",
            );
        }
        if self.sync.deadline <= logs.delivery_wait {
            return invalid(
                "sync.deadline",
                "must be longer than log_collection.delivery_wait (a sync waits that long for log appenders)",
            );
        }
        if self.events.endpoint_queue_bytes < 1024 {
            return invalid("events.endpoint_queue_bytes", "must be at least 1024");
        }
        if self.events.route_queue_bytes < self.events.endpoint_queue_bytes {
            return invalid(
                "events.route_queue_bytes",
                "must be at least events.endpoint_queue_bytes",
            );
        }
        for (key, limit) in [
            ("log_collection.drain_timeout", logs.drain_timeout),
            ("sql.connect_timeout", self.sql.connect_timeout),
            ("sql.request_timeout", self.sql.request_timeout),
            (
                "endpoint_store.connect_timeout",
                self.endpoint_store.connect_timeout,
            ),
            (
                "endpoint_store.request_timeout",
                self.endpoint_store.request_timeout,
            ),
        ] {
            if limit < Duration::from_millis(100) {
                return invalid(key, "must be at least 100ms");
            }
        }
        Ok(())
    }

    pub fn endpoint_backend(&self) -> EndpointBackend {
        let store = &self.endpoint_store;
        match store.backend {
            EndpointStoreKind::Cassandra => EndpointBackend::Cassandra {
                contact_points: store.contact_points.clone(),
                keyspace: store.keyspace.clone(),
                replication: store.cassandra_replication(),
            },
            EndpointStoreKind::Mongodb => EndpointBackend::MongoDb {
                url: self.expand(&store.url),
                database: store.database.clone(),
            },
            EndpointStoreKind::Sql => EndpointBackend::Sql {
                url: self.expand(&store.url),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_limits_that_let_nothing_in_are_refused_by_key() {
        let refused = |edit: fn(&mut EndpointLimitsConfig)| {
            let mut config = Config::standalone(Path::new("/tmp/kaa"));
            edit(&mut config.endpoint_limits);
            match config.validate() {
                Err(ConfigError::Invalid { key, .. }) => key,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            refused(|l| l.max_connections = 0),
            "endpoint_limits.max_connections"
        );
        assert_eq!(
            refused(|l| l.max_connections_per_address = 0),
            "endpoint_limits.max_connections_per_address"
        );
        assert_eq!(
            refused(|l| l.connect_deadline = Duration::from_millis(500)),
            "endpoint_limits.connect_deadline"
        );
        assert_eq!(
            refused(|l| l.max_frame_bytes = 512),
            "endpoint_limits.max_frame_bytes"
        );
        assert_eq!(
            refused(|l| l.http_workers = 0),
            "endpoint_limits.http_workers"
        );
    }

    #[test]
    fn memory_bounds_and_timeouts_must_fit_each_other() {
        let refused = |edit: fn(&mut Config)| {
            let mut config = Config::standalone(Path::new("/tmp/kaa"));
            edit(&mut config);
            match config.validate() {
                Err(ConfigError::Invalid { key, .. }) => key,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            refused(|c| c.log_collection.queue_bytes = c.log_collection.max_batch_bytes - 1),
            "log_collection.queue_bytes"
        );
        assert_eq!(
            refused(|c| c.log_collection.max_batch_bytes = c.log_collection.max_record_bytes - 1),
            "log_collection.max_batch_bytes"
        );
        assert_eq!(
            refused(|c| c.sync.deadline = c.log_collection.delivery_wait),
            "sync.deadline"
        );
        assert_eq!(
            refused(|c| c.endpoint_store.request_timeout = Duration::ZERO),
            "endpoint_store.request_timeout"
        );
        assert_eq!(
            refused(|c| c.events.route_queue_bytes = 0),
            "events.route_queue_bytes"
        );
    }

    #[test]
    fn printed_default_config_is_the_default_config() {
        let parsed: Config = toml::from_str(DEFAULT_CONFIG_TOML).expect("default config parses");
        assert_eq!(parsed, Config::default());
    }

    /// The default cluster config with what a cluster node must add to it.
    fn cluster_config() -> Config {
        let mut config = with_tls_files(Config::default());
        config.zookeeper.auth = "kaa:secret".into();
        config
    }

    #[test]
    fn default_config_and_standalone_preset_validate() {
        cluster_config().validate().unwrap();
        let standalone = Config::standalone(Path::new("/tmp/kaa"));
        standalone.validate().unwrap();
        assert_eq!(
            standalone.expand(&standalone.sql.url),
            "sqlite:///tmp/kaa/metadata.db"
        );
        assert_eq!(
            standalone.services().to_string(),
            "control,operations,bootstrap"
        );
    }

    #[test]
    fn overrides_win_over_the_base_and_keep_their_types() {
        let overrides = [
            "admin.port=8181".to_owned(),
            "bootstrap.enabled=false".to_owned(),
        ];
        let config = Config::load(cluster_config(), None, &overrides).unwrap();
        assert_eq!(config.admin.port, 8181);
        assert_eq!(config.services().to_string(), "control,operations");
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let error = Config::load(Config::default(), None, &["admin.prot=1".into()]).unwrap_err();
        assert!(error.to_string().contains("prot"), "{error}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let error = Config::load(Config::default(), None, &["admin.port=lots".into()]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("admin.port"), "{message}");
    }

    #[test]
    fn cassandra_datacenter_and_consistency_are_checked_by_key() {
        let load = |entries: &[&str]| {
            let overrides: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
            Config::load(cluster_config(), None, &overrides)
        };
        let config = load(&[
            "endpoint_store.datacenter=dc1",
            "endpoint_store.replication_factor=3",
            "endpoint_store.consistency=QUORUM",
        ])
        .unwrap();
        assert_eq!(
            config.endpoint_backend(),
            EndpointBackend::Cassandra {
                contact_points: vec!["127.0.0.1:9042".into()],
                keyspace: "kaa".into(),
                replication: CassandraReplication {
                    datacenter: Some("dc1".into()),
                    replication_factor: 3,
                    consistency: Consistency::Quorum,
                },
            }
        );
        let message = load(&["endpoint_store.consistency=serial"])
            .unwrap_err()
            .to_string();
        assert!(message.contains("endpoint_store.consistency"), "{message}");
        assert!(message.contains("local_quorum"), "{message}");
        let refused = load(&["endpoint_store.datacenter=\"dc1'\""]).unwrap_err();
        assert!(matches!(
            refused,
            ConfigError::Invalid {
                key: "endpoint_store.datacenter",
                ..
            }
        ));
    }

    #[test]
    fn port_clash_names_the_second_key() {
        let overrides = ["operations.http_port=8080".to_owned()];
        let error = Config::load(Config::default(), None, &overrides).unwrap_err();
        assert!(
            error.to_string().contains("operations.http_port"),
            "{error}"
        );
    }

    #[test]
    fn no_service_enabled_is_an_error() {
        let overrides: Vec<String> = ["control", "operations", "bootstrap"]
            .iter()
            .map(|s| format!("{s}.enabled=false"))
            .collect();
        let error = Config::load(Config::default(), None, &overrides).unwrap_err();
        assert!(
            error.to_string().contains("no service is enabled"),
            "{error}"
        );
    }

    #[test]
    fn a_cluster_node_needs_zookeeper_credentials_unless_open_acls_are_asked_for() {
        let error = Config::default().validate().unwrap_err();
        assert!(error.to_string().contains("zookeeper.auth"), "{error}");
        let open = ["zookeeper.insecure_open_acl=true".to_owned()];
        let config = Config::load(with_tls_files(Config::default()), None, &open).unwrap();
        assert_eq!(config.zookeeper.access(), ZkAccess::Open);
        let with_auth = ["zookeeper.auth=kaa:secret".to_owned()];
        let config = Config::load(with_tls_files(Config::default()), None, &with_auth).unwrap();
        assert_eq!(
            config.zookeeper.access(),
            ZkAccess::Digest("kaa:secret".into())
        );
    }

    #[test]
    fn zookeeper_auth_must_be_user_and_password() {
        for bad in ["kaa", "kaa:", ":secret", ":"] {
            let overrides = [format!("zookeeper.auth={bad}")];
            let error = Config::load(Config::default(), None, &overrides).unwrap_err();
            assert!(
                error.to_string().contains("zookeeper.auth"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn open_acls_contradict_zookeeper_credentials() {
        let overrides = [
            "zookeeper.auth=kaa:secret".to_owned(),
            "zookeeper.insecure_open_acl=true".to_owned(),
        ];
        let error = Config::load(Config::default(), None, &overrides).unwrap_err();
        assert!(
            error.to_string().contains("zookeeper.insecure_open_acl"),
            "{error}"
        );
    }

    fn with_tls_files(mut config: Config) -> Config {
        config.cluster.tls_ca = "/etc/kaa/ca.pem".into();
        config.cluster.tls_cert = "/etc/kaa/node.pem".into();
        config.cluster.tls_key = "/etc/kaa/node.key".into();
        config
    }

    fn invalid_key(config: &Config) -> &'static str {
        match config.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn a_cluster_node_needs_internode_tls_or_an_explicit_plaintext() {
        let mut none = cluster_config();
        none.cluster = ClusterConfig::default();
        assert_eq!(invalid_key(&none), "cluster.tls_ca");
        let mut plaintext = none.clone();
        plaintext.cluster.insecure_plaintext = true;
        plaintext.validate().unwrap();
        assert_eq!(
            invalid_key(&with_tls_files(plaintext)),
            "cluster.insecure_plaintext"
        );
        let mut partial = cluster_config();
        partial.cluster.tls_key.clear();
        assert_eq!(invalid_key(&partial), "cluster.tls_key");
        // A standalone node makes its own when none are set.
        none.node.mode = Mode::Standalone;
        none.validate().unwrap();
    }

    #[test]
    fn outbound_allow_list_and_file_appender_limits_are_checked_by_key() {
        let base = Config::standalone(Path::new("/tmp/kaa"));
        let load = |entry: &str| Config::load(base.clone(), None, &[entry.to_owned()]);
        let config =
            load(r#"operations.outbound_allow=["10.0.0.0/8", "ingest.example.com"]"#).unwrap();
        assert_eq!(config.operations.outbound_allow.len(), 2);
        for (entry, key) in [
            (
                r#"operations.outbound_allow=["10.0.0.0/33"]"#,
                "operations.outbound_allow",
            ),
            (
                "operations.file_appender_max_files=0",
                "operations.file_appender_max_files",
            ),
            (
                r#"bootstrap.outbound_allow=["10.0.0.0/8"]"#,
                "bootstrap.outbound_allow",
            ),
        ] {
            let error = load(entry).unwrap_err();
            assert!(error.to_string().contains(key), "{entry}: {error}");
        }
        assert_eq!(
            base.operations.file_appender_root(&base.node),
            PathBuf::from("/tmp/kaa/appenders")
        );
    }

    #[test]
    fn malformed_override_is_rejected() {
        let error = Config::load(Config::default(), None, &["admin.port".into()]).unwrap_err();
        assert!(matches!(error, ConfigError::BadOverride(_)));
    }
}
