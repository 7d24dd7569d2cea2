//! The Control service: owner of the cluster's metadata.
//!
//! Control keeps tenants, applications, schemas, groups and the rest in the SQL metadata database,
//! serves the admin API on the node's admin port, and (on the elected leader) tells Operations
//! nodes about changes ([`announce`]). This crate grows those parts issue by issue; today it holds
//! the metadata database connection, reports its readiness, and announces changes from the leader.

pub mod announce;

use std::sync::Arc;

use kaa_model::health::Probe;
use kaa_store::sql::SqlDatabase;

/// A running Control service.
pub struct ControlService {
    metadata: SqlDatabase,
}

impl ControlService {
    /// Starts Control on an open metadata database.
    pub fn start(metadata: SqlDatabase) -> Self {
        tracing::info!(dialect = ?metadata.dialect(), "control service started");
        Self { metadata }
    }

    /// What must answer for this service to be ready: the metadata database.
    pub fn probes(&self) -> Vec<Arc<dyn Probe>> {
        vec![Arc::new(self.metadata.probe("metadata-sql"))]
    }

    /// Stops the service; the metadata pool closes its connections.
    pub async fn stop(self) {
        self.metadata.pool().close().await;
        tracing::info!("control service stopped");
    }
}
