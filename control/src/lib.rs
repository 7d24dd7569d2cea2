//! The Control service: owner of the cluster's metadata.
//!
//! Control keeps tenants, applications, schemas, groups and the rest in the SQL metadata database
//! ([`kaa_store::metadata`]), serves the admin REST API on the node's admin port ([`api`]), and
//! on the elected leader tells Operations nodes about every change ([`announce`]) and balances
//! their load with redirection rules ([`rebalance`]).
//!
//! A request flows: [`api`] handler (parse, authorize) → [`domain::Metadata`] (store the data and
//! its change-log row) → a typed [`changes::Change`] → [`announce`] (as a Thrift notification)
//! → every live Operations node.

pub mod announce;
pub mod api;
pub mod changes;
pub mod domain;
pub mod rebalance;
pub mod sdk;

use std::sync::Arc;
use std::time::Duration;

use kaa_cluster::Cluster;
use kaa_cluster::routing::EndpointRouter;
use kaa_model::health::Probe;
use kaa_store::StoreError;
use kaa_store::endpoint::EndpointStore;
use kaa_store::metadata::MetadataStore;
use kaa_store::sql::SqlDatabase;

use tokio_util::sync::CancellationToken;

use crate::announce::ChangeAnnouncer;
use crate::api::ApiState;
use crate::api::lockout::LockoutSettings;
use crate::domain::Metadata;
use crate::rebalance::{RebalanceSettings, run_rebalancer};

/// Why Control could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The metadata database could not be migrated or read.
    #[error("metadata database: {0}")]
    Store(#[from] StoreError),
    /// The first administrator could not be created.
    #[error("first administrator: {0}")]
    FirstAdmin(String),
}

/// How often the leader deletes expired sessions and audit entries past their retention.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// What Control does for the admin API's security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSecurity {
    /// When logins are refused after failures.
    pub lockout: LockoutSettings,
    /// How long audit log entries are kept; `None`: for good.
    pub audit_retention: Option<Duration>,
}

/// A running Control service.
pub struct ControlService {
    store: MetadataStore,
    api: ApiState,
    stop_background: CancellationToken,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl ControlService {
    /// Starts Control on an open metadata database: brings its schema up to date, makes sure a
    /// KAA_ADMIN exists, and while this node leads balances Operations load with `rebalance`
    /// and purges expired sessions and old audit entries (`security`).
    pub async fn start(
        metadata: SqlDatabase,
        endpoints: EndpointStore,
        cluster: Cluster,
        rebalance: RebalanceSettings,
        security: AdminSecurity,
    ) -> Result<Self, ControlError> {
        let dialect = metadata.dialect();
        let store = MetadataStore::open(metadata).await?;
        api::auth::ensure_first_admin(&store)
            .await
            .map_err(|e| ControlError::FirstAdmin(e.to_string()))?;
        let announcer = Arc::new(ChangeAnnouncer::new(cluster.clone()));
        let api = ApiState::new(
            Metadata::new(store.clone(), endpoints.clone(), announcer),
            endpoints,
            EndpointRouter::new(cluster.clone()),
            cluster.clone(),
            security.lockout,
        );
        let stop_background = CancellationToken::new();
        let background = vec![
            tokio::spawn(purge_expired(
                store.clone(),
                cluster.clone(),
                security.audit_retention,
                stop_background.clone(),
            )),
            tokio::spawn(run_rebalancer(cluster, rebalance, stop_background.clone())),
        ];
        tracing::info!(?dialect, "control service started");
        Ok(Self {
            store,
            api,
            stop_background,
            background,
        })
    }

    /// Registers the service's metrics (the admin API's login throttling and audit log).
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.api.register_metrics(registry);
    }

    /// The admin API's state, for mounting with [`api::configure`].
    pub fn api(&self) -> ApiState {
        self.api.clone()
    }

    /// What must answer for this service to be ready: the metadata database.
    pub fn probes(&self) -> Vec<Arc<dyn Probe>> {
        vec![Arc::new(self.store.database().probe("metadata-sql"))]
    }

    /// Stops the service: the rebalancer and the purger end, then the metadata pool closes its
    /// connections.
    pub async fn stop(self) {
        self.stop_background.cancel();
        for task in self.background {
            let _ = task.await;
        }
        self.store.database().pool().close().await;
        tracing::info!("control service stopped");
    }
}

/// While this node leads, every [`PURGE_INTERVAL`] (and once it starts): deletes expired
/// sessions and the audit entries older than `audit_retention`. The deletes are idempotent; the
/// leader alone runs them only to spare the database the repeats.
async fn purge_expired(
    store: MetadataStore,
    cluster: Cluster,
    audit_retention: Option<Duration>,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if !cluster.is_leader() {
            continue;
        }
        let limit = store.database().call_limit();
        match kaa_store::bounded(limit, store.purge_expired_sessions()).await {
            Ok(0) => {}
            Ok(sessions) => tracing::info!(sessions, "purged expired admin sessions"),
            Err(error) => tracing::warn!(%error, "cannot purge expired admin sessions"),
        }
        let Some(retention) = audit_retention else {
            continue;
        };
        let before_ms = kaa_store::metadata::now_ms()
            .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        match kaa_store::bounded(limit, store.purge_audit(before_ms)).await {
            Ok(0) => {}
            Ok(entries) => tracing::info!(entries, "purged audit log entries past their retention"),
            Err(error) => tracing::warn!(%error, "cannot purge old audit log entries"),
        }
    }
}
