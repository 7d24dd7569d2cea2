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

/// A running Control service.
pub struct ControlService {
    store: MetadataStore,
    api: ApiState,
    rebalancer: (CancellationToken, tokio::task::JoinHandle<()>),
}

impl ControlService {
    /// Starts Control on an open metadata database: brings its schema up to date, makes sure a
    /// KAA_ADMIN exists, and balances Operations load with `rebalance` while this node leads.
    pub async fn start(
        metadata: SqlDatabase,
        endpoints: EndpointStore,
        cluster: Cluster,
        rebalance: RebalanceSettings,
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
        );
        let stop_rebalancing = CancellationToken::new();
        let rebalancer = tokio::spawn(run_rebalancer(cluster, rebalance, stop_rebalancing.clone()));
        tracing::info!(?dialect, "control service started");
        Ok(Self {
            store,
            api,
            rebalancer: (stop_rebalancing, rebalancer),
        })
    }

    /// The admin API's state, for mounting with [`api::configure`].
    pub fn api(&self) -> ApiState {
        self.api.clone()
    }

    /// What must answer for this service to be ready: the metadata database.
    pub fn probes(&self) -> Vec<Arc<dyn Probe>> {
        vec![Arc::new(self.store.database().probe("metadata-sql"))]
    }

    /// Stops the service: the rebalancer ends, then the metadata pool closes its connections.
    pub async fn stop(self) {
        let (stop_rebalancing, rebalancer) = self.rebalancer;
        stop_rebalancing.cancel();
        let _ = rebalancer.await;
        self.store.database().pool().close().await;
        tracing::info!("control service stopped");
    }
}
