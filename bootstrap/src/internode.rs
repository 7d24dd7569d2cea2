//! The Bootstrap service's internode inbox: what it answers as `BootstrapService` on the node's
//! Thrift port.
//!
//! Kaa's Control pushed the Operations server list to its Bootstrap nodes
//! (`onOperationsServerListUpdate`). kaa-rs's Bootstrap reads the live list from the cluster
//! view instead, so [`BootstrapInbox`] only counts the lists ([`InboxMetrics`],
//! `kaa_internode_server_list_updates`) and queues them to a task that logs them. The inbox runs on the Thrift server's connection tasks, so it never waits: a full queue
//! refuses the call.

use kaa_idl::thrift::bootstrap::{BootstrapServiceSyncHandler, ThriftOperationsServer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use thrift::{ApplicationError, ApplicationErrorKind};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// How many received server lists may wait for the logging task before calls are refused.
const QUEUE_CAPACITY: usize = 1024;

/// The `BootstrapService` counter. Every node registers it, so `/metrics` shows the same names
/// whatever services it runs; only a Bootstrap node's inbox counts.
#[derive(Clone, Default)]
pub struct InboxMetrics {
    /// Operations server lists received (`onOperationsServerListUpdate`).
    pub server_list_updates: Counter,
}

impl InboxMetrics {
    /// Registers the counter in `registry` as `kaa_internode_server_list_updates`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "kaa_internode_server_list_updates",
            "Operations server lists received (BootstrapService.onOperationsServerListUpdate)",
            metrics.server_list_updates.clone(),
        );
        metrics
    }
}

/// Why the inbox refused a call.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The logging task is too far behind; the caller should retry later.
    #[error("server list queue is full")]
    QueueFull,
}

impl From<InboxError> for thrift::Error {
    /// `BootstrapService` declares no exception: an application exception tells the caller.
    fn from(error: InboxError) -> Self {
        thrift::Error::Application(ApplicationError::new(
            ApplicationErrorKind::InternalError,
            error.to_string(),
        ))
    }
}

/// `BootstrapService`: counts and queues the Operations server lists.
pub struct BootstrapInbox {
    server_lists: mpsc::Sender<Vec<ThriftOperationsServer>>,
    metrics: InboxMetrics,
}

impl BootstrapInbox {
    /// The inbox, and the task logging the lists it queues, for the caller to spawn; the task
    /// ends once the inbox is dropped and the queue is drained.
    pub fn new(metrics: InboxMetrics) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (server_lists, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let inbox = Self {
            server_lists,
            metrics,
        };
        (inbox, log_server_lists(receiver))
    }
}

impl BootstrapServiceSyncHandler for BootstrapInbox {
    fn handle_on_operations_server_list_update(
        &self,
        servers: Vec<ThriftOperationsServer>,
    ) -> thrift::Result<()> {
        self.metrics.server_list_updates.inc();
        self.server_lists
            .try_send(servers)
            .map_err(|_| InboxError::QueueFull)?;
        Ok(())
    }
}

/// Where the Bootstrap service would take its server list from; it logs them.
async fn log_server_lists(mut lists: mpsc::Receiver<Vec<ThriftOperationsServer>>) {
    while let Some(servers) = lists.recv().await {
        let ids: Vec<&str> = servers.iter().filter_map(|s| s.id.as_deref()).collect();
        if ids.len() < servers.len() {
            warn!(
                count = servers.len(),
                "operations server list has entries without an id"
            );
        }
        info!(?ids, "operations server list received");
    }
}
