//! The Operations service: the workers endpoints connect to.
//!
//! Endpoints reach it over Kaatcp (default 9997) and HTTP (`/EP/Sync`, `/EP/LongSync`, default
//! 9999). Each request flows transport → [`sync::SyncProcessor`] (registration, profile, groups,
//! configuration, notifications) → the endpoint store, with application metadata read through
//! the [`catalog::Catalog`] cache. Control's change notifications (Thrift `onNotification`)
//! invalidate the catalog and are pushed to the connected sessions of the application, which
//! receive the new configuration or notifications without asking.
//!
//! - [`catalog`]: application metadata as Operations uses it, cached per application;
//!   [`metadata_reads`]: the reads behind it, bounded and held back while the store is silent.
//! - [`catch_up`]: change-log numbers, so a missed change notification is noticed and caught up
//!   ([`change_sequences`]: the numbers, pure).
//! - [`membership`], [`configuration`], [`topics`]: the pure rules of groups, configuration
//!   merge and topic lists.
//! - [`sessions`]: the endpoints connected to this node and all their channels, for pushes.
//! - [`redirection`]: the load balancer's rules that send some endpoints to other nodes.
//! - [`logs`]: log records from endpoints, written by the application's log appenders.
//! - [`outbound`]: calls on a tenant's behalf (appenders, verifiers), only where the operator
//!   allows.
//! - [`owners`], [`events`]: endpoints attached to owners, and events between the endpoints of
//!   one owner, routed through the owner's ring owner; [`event_queues`]: where events wait,
//!   bounded in bytes.
//! - [`credentials`]: endpoint credentials as every sync checks them, and refused identities.
//! - [`sync`]: one request in, one response out.
//! - [`internode`]: the service's `OperationsService` inbox: Control's notifications and
//!   redirection rules, endpoint messages and other nodes' event routing.

mod budget;
pub mod catalog;
pub mod catch_up;
pub mod change_sequences;
pub mod configuration;
pub mod credentials;
pub mod event_queues;
pub mod events;
pub mod internode;
pub mod logs;
pub mod membership;
pub mod metadata_reads;
mod once_map;
pub mod outbound;
pub mod owners;
pub mod redirection;
pub mod sessions;
mod shards;
pub mod sync;
pub mod topics;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use kaa_cluster::Cluster;
use kaa_cluster::routing::EndpointRouter;
use kaa_idl::endpoint::sync::{SyncRequest, SyncResponse};
use kaa_model::health::Probe;
use kaa_store::endpoint::EndpointStore;
use kaa_store::metadata::MetadataStore;
use kaa_transport::http::Paths;
use kaa_transport::{
    AuthFailure, EndpointService, Identified, Listeners, NodeKeys, PushSender, Serving, SyncFailure,
};

use crate::catalog::{Catalog, UnknownTokenSettings};
use crate::catch_up::CatchUp;
use crate::credentials::{AuthFailures, CredentialCache};
use crate::events::{EventLimits, EventMetrics, EventRouting};
use crate::internode::{InboxMetrics, OperationsInbox};
use crate::logs::{LogCollectionSettings, LogCollector};
use crate::metadata_reads::MetadataReads;
use crate::outbound::Outbound;
use crate::redirection::RedirectionRules;
use crate::sessions::{Channel, Push, Sessions};
use crate::sync::{EndpointSession, Identity, NodeHandles, SyncDeadline, SyncProcessor};

/// How an Operations service runs.
#[derive(Debug, Clone)]
pub struct OperationsSettings {
    /// This node's id, recorded on the profiles of the endpoints it serves.
    pub node_id: String,
    /// UNSAFE, for lab use only: whether endpoints may open unencrypted, unsigned Kaatcp
    /// sessions, in which anyone who knows an endpoint's key hash can act as it (warned about
    /// here; the listeners' Kaatcp settings carry it).
    pub allow_plaintext: bool,
    /// Kept equal to the number of endpoints with a session on this node.
    pub session_count: Arc<AtomicUsize>,
    /// Log collection.
    pub logs: LogCollectionSettings,
    /// The most one sync may take.
    pub sync_deadline: std::time::Duration,
    /// How many bytes of events may wait.
    pub events: EventLimits,
    /// Where calls on a tenant's behalf may go besides public addresses.
    pub outbound: kaa_model::outbound::OutboundPolicy,
    /// How often each loaded application's change-log number is compared with the store's.
    pub change_check_interval: std::time::Duration,
    /// How long and how many unknown SDK tokens are remembered.
    pub unknown_sdk_tokens: UnknownTokenSettings,
}

/// A running Operations service.
pub struct OperationsService {
    store: EndpointStore,
    router: EndpointRouter,
    node_id: String,
    catalog: Arc<Catalog>,
    catch_up: Arc<CatchUp>,
    sessions: Arc<Sessions>,
    redirection: Arc<RedirectionRules>,
    logs: Arc<LogCollector>,
    events: Arc<EventRouting>,
    credentials: Arc<CredentialCache>,
    auth_failures: AuthFailures,
    sync_deadline: SyncDeadline,
    serving: Serving,
    purger: tokio::task::JoinHandle<()>,
    change_check: tokio::task::JoinHandle<()>,
}

impl OperationsService {
    /// Starts serving endpoints on `listeners`, with endpoint data in `store` and application
    /// metadata from `metadata`.
    pub fn start(
        store: EndpointStore,
        metadata: MetadataStore,
        keys: NodeKeys,
        listeners: Listeners,
        cluster: Cluster,
        settings: OperationsSettings,
    ) -> std::io::Result<Self> {
        let node_id = settings.node_id.clone();
        let outbound =
            Arc::new(Outbound::new(settings.outbound.clone()).map_err(std::io::Error::other)?);
        let metadata = Arc::new(MetadataReads::new(metadata));
        let logs = Arc::new(LogCollector::new(
            metadata.clone(),
            settings.logs.clone(),
            outbound.clone(),
            cluster.clone(),
        ));
        let catalog = Arc::new(Catalog::new(metadata.clone(), settings.unknown_sdk_tokens));
        let event_metrics = EventMetrics::default();
        let sessions = Arc::new(
            Sessions::counted(settings.session_count.clone())
                .with_event_queues(settings.events.endpoint_queue_bytes, event_metrics.clone()),
        );
        let catch_up = Arc::new(CatchUp::new(
            catalog.clone(),
            logs.clone(),
            sessions.clone(),
        ));
        let change_check = tokio::spawn(
            catch_up
                .clone()
                .run(settings.change_check_interval, cluster.watch_returns()),
        );
        let redirection = Arc::new(RedirectionRules::default());
        let router = EndpointRouter::new(cluster.clone());
        let events = EventRouting::start(
            node_id.clone(),
            cluster,
            sessions.clone(),
            settings.events,
            event_metrics,
        );
        let credentials = Arc::new(CredentialCache::default());
        let auth_failures = AuthFailures::default();
        let sync_deadline = SyncDeadline::new(settings.sync_deadline);
        if settings.allow_plaintext {
            tracing::warn!(
                "UNSAFE: operations.allow_plaintext is on; Kaatcp sessions without encryption or \
                 signature are accepted, so anyone who knows an endpoint's key hash can act as it \
                 (lab use only)"
            );
        }
        let processor = Arc::new(EndpointSync(SyncProcessor::new(
            catalog.clone(),
            store.clone(),
            NodeHandles {
                sessions: sessions.clone(),
                redirection: redirection.clone(),
                logs: logs.clone(),
                events: events.clone(),
                router: router.clone(),
                outbound,
                credentials: credentials.clone(),
                auth_failures: auth_failures.clone(),
                deadline: sync_deadline.clone(),
            },
            settings.node_id.clone(),
        )));
        let serving = Serving::start(listeners, Paths::Operations, processor, keys)?;
        let purger = tokio::spawn(purge_expired(store.clone()));
        tracing::info!("operations service started");
        Ok(Self {
            store,
            router,
            events,
            credentials,
            auth_failures,
            sync_deadline,
            node_id,
            catalog,
            catch_up,
            sessions,
            redirection,
            logs,
            serving,
            purger,
            change_check,
        })
    }

    /// The service's internode inbox, for the node's Thrift server to serve as
    /// `OperationsService`; it counts what arrives in `metrics`.
    pub fn inbox(&self, metrics: InboxMetrics) -> OperationsInbox {
        OperationsInbox {
            catch_up: self.catch_up.clone(),
            sessions: self.sessions.clone(),
            redirection: self.redirection.clone(),
            events: self.events.clone(),
            store: self.store.clone(),
            router: self.router.clone(),
            node_id: self.node_id.clone(),
            credentials: self.credentials.clone(),
            metrics,
        }
    }

    /// Registers the service's metrics (`kaa_endpoint_auth_failures_total`,
    /// `kaa_catalog_reloads_total`, `kaa_catalog_unknown_sdk_token*`, `kaa_metadata_*`) in
    /// `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.auth_failures.register(registry);
        // The log appender and event queues, kaa_sync_deadline_exceeded_total.
        self.logs.metrics().register(registry);
        self.events.metrics().register(registry);
        self.sync_deadline.register(registry);
        self.catch_up.metrics().register(registry);
        self.catalog.unknown_tokens().register(registry);
        self.catalog.metadata().register(registry);
    }

    /// What must answer for this service to be ready: the endpoint store.
    pub fn probes(&self) -> Vec<Arc<dyn Probe>> {
        vec![Arc::new(self.store.clone())]
    }

    /// Stops accepting, closes sessions (each endpoint gets DISCONNECT), lets log appenders
    /// write what they have queued, then closes the store.
    pub async fn stop(self) {
        self.purger.abort();
        self.change_check.abort();
        self.catalog.metadata().stop();
        self.serving.stop().await;
        self.logs.stop().await;
        self.store.close().await;
        tracing::info!("operations service stopped");
    }
}

/// How often expired notifications are deleted from the endpoint store.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired topic and unicast notifications now and then. Syncs never deliver expired
/// ones anyway; this only keeps the store from growing (Cassandra expires them by TTL itself).
/// Every Operations node runs it; the deletes are idempotent.
async fn purge_expired(store: EndpointStore) {
    let mut ticks = tokio::time::interval(PURGE_INTERVAL);
    loop {
        ticks.tick().await;
        match store.purge_expired(kaa_store::metadata::now_ms()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "deleted expired notifications"),
            Err(error) => tracing::warn!(%error, "cannot delete expired notifications"),
        }
    }
}

/// Endpoint syncs: the sync processor as the service the endpoint transports (Kaatcp, HTTP)
/// serve, with sessions kept for pushes.
struct EndpointSync(SyncProcessor);

impl EndpointService for EndpointSync {
    type Session = EndpointSession;
    type Push = Push;
    type Identity = Identity;
    const KEEPS_SESSIONS: bool = true;
    const SIGNS_RESPONSES: bool = false;
    const VERIFIES_SIGNATURES: bool = true;

    fn open(
        &self,
        pushes: PushSender<Push>,
        identity: Option<Identity>,
        channel: Channel,
    ) -> EndpointSession {
        self.0.open(pushes, identity, channel)
    }

    async fn identify(&self, key_hash: &[u8]) -> Result<Identified<Identity>, SyncFailure> {
        self.0.identify(key_hash).await
    }

    fn refused(&self, reason: AuthFailure) {
        self.0.refused(reason);
    }

    async fn sync(
        &self,
        session: &mut EndpointSession,
        request: SyncRequest,
    ) -> Result<SyncResponse, SyncFailure> {
        self.0.sync(session, request).await
    }

    async fn push(
        &self,
        session: &mut EndpointSession,
        push: Push,
    ) -> Result<Option<SyncResponse>, SyncFailure> {
        self.0.push(session, push).await
    }

    fn close(&self, session: EndpointSession) {
        self.0.close(session);
    }
}
