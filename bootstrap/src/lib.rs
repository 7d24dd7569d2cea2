//! The Bootstrap service: hands endpoints the list of live Operations servers.
//!
//! Bootstrap reads the live Operations nodes from the cluster view and answers endpoints' bootstrap
//! requests over the Kaa TCP and HTTP transports. This crate grows those parts issue by issue;
//! today it has a lifecycle only and needs no storage.

/// A running Bootstrap service.
pub struct BootstrapService;

impl BootstrapService {
    /// Starts Bootstrap.
    pub fn start() -> Self {
        tracing::info!("bootstrap service started");
        Self
    }

    /// Stops the service.
    pub async fn stop(self) {
        tracing::info!("bootstrap service stopped");
    }
}
