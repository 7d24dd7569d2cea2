//! The Operations service: the workers endpoints connect to.
//!
//! Operations owns endpoint sessions (registration, profiles, configuration, notifications,
//! events, logs) and keeps endpoint data in the endpoint store. This crate grows those parts issue
//! by issue; today it holds the endpoint-store connection and reports its readiness.

use std::sync::Arc;

use kaa_model::health::Probe;
use kaa_store::endpoint::EndpointStore;

/// A running Operations service.
pub struct OperationsService {
    store: EndpointStore,
}

impl OperationsService {
    /// Starts Operations on an open endpoint store.
    pub fn start(store: EndpointStore) -> Self {
        tracing::info!("operations service started");
        Self { store }
    }

    /// What must answer for this service to be ready: the endpoint store.
    pub fn probes(&self) -> Vec<Arc<dyn Probe>> {
        vec![Arc::new(self.store.clone())]
    }

    /// Stops the service.
    pub async fn stop(self) {
        self.store.close().await;
        tracing::info!("operations service stopped");
    }
}
