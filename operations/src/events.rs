//! Events between the endpoints of one owner, across Operations nodes.
//!
//! Each owner has one *route table*, held by the Operations node that owns the owner id on the
//! hash ring (the owner's ring owner): which of the owner's endpoints have a session, on which
//! node, and which event classes each receives. The node serving an endpoint's session registers
//! it there (`ENDPOINT_ROUTE_UPDATE` ADD when the attached endpoint's session starts or it is
//! attached, DELETE when the session ends or it is detached) and keeps its registrations, so
//! that it can register them again.
//!
//! An event flows source session → its node → the owner's ring owner, which resolves the targets
//! (the named endpoint, or every other endpoint of the owner that receives the class) and
//! forwards the event to each target's node, which queues it for the session and pushes it.
//! The ring owner handles each owner's events on one ordered queue (a shard), and a source's node
//! hands over one event after the other, so events of one source arrive in the order sent.
//!
//! **Healing.** When the live Operations nodes change, every node drops route entries that
//! point at nodes that left and tables of owners it no longer owns on the ring, and registers
//! all of its own sessions again with their owners' (possibly new) ring owners. The same
//! re-registration runs every [`REFRESH_INTERVAL`], which also repairs a table lost to a
//! restart. Until a table is rebuilt, events for endpoints missing from it are not delivered.
//!
//! **Memory.** Events are bounded in bytes as well as in count where they wait: the ring
//! owner's shard queues share one budget ([`EventLimits::route_queue_bytes`]; past it the
//! source's sync fails and its endpoint sends again), and each endpoint's queue on the node of
//! its session ([`crate::event_queues::EventQueue`]) drops its oldest events past [`EventLimits::endpoint_queue_bytes`]
//! (an endpoint that stopped reading). Both, and the drops, are on `/metrics` ([`EventMetrics`]).

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaa_cluster::Cluster;
use kaa_cluster::membership::ClusterView;
use kaa_cluster::routing::ring_key;
use kaa_cluster::rpc::{ClientPool, Operations, PeerAddr, RpcError};
use kaa_idl::endpoint::sync::Event;
use kaa_idl::thrift::operations::{
    EndpointEvent, EndpointRouteUpdate, Event as ThriftEvent, EventMessageType,
    EventRouteUpdateType, Message, RouteAddress, TOperationsServiceSyncClient,
};
use tokio::sync::{mpsc, watch};

use crate::budget::{Budget, Share};
use crate::event_queues::event_size;
pub use crate::event_queues::{EventLimits, EventMetrics};
use crate::sessions::Sessions;

/// How often every node registers its sessions again, besides after each cluster change.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// How long a source's node keeps trying to hand an event to the owner's ring owner (waiting
/// for the cluster view to settle after a node left) before the sync fails.
const HAND_OVER_TIMEOUT: Duration = Duration::from_secs(8);

/// Ordered queues at the ring owner; an owner's events always use the same one.
const SHARDS: usize = 16;

/// Events a shard queues before the ring owner refuses more (the source's node retries).
const SHARD_CAPACITY: usize = 4096;

/// An endpoint with a session on this node, attached to an owner: what its owner's ring owner
/// is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Owner id (`<tenant id>:<user external id>`).
    pub owner_id: String,
    /// Tenant of the owner.
    pub tenant_id: String,
    /// Token of the endpoint's application.
    pub app_token: String,
    /// The endpoint's key hash.
    pub key_hash: Vec<u8>,
    /// Event classes it receives.
    pub receives: BTreeSet<String>,
    /// The session that registered it (a newer session of the endpoint replaces it).
    pub session_id: u64,
}

/// Where one of an owner's endpoints is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    node_id: String,
    app_token: String,
    receives: BTreeSet<String>,
}

/// One target of an event: the endpoint, its node and application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The endpoint's key hash.
    pub key_hash: Vec<u8>,
    /// The node serving its session.
    pub node_id: String,
    /// Its application token.
    pub app_token: String,
}

/// The route tables a node holds as ring owner: owner id → endpoint key hash → route. Pure.
#[derive(Debug, Default)]
pub struct OwnerRoutes {
    owners: HashMap<String, HashMap<Vec<u8>, Route>>,
}

impl OwnerRoutes {
    /// Records that `key_hash` of `owner` has a session on `node_id`.
    pub fn add(
        &mut self,
        owner: &str,
        key_hash: &[u8],
        node_id: &str,
        app_token: &str,
        receives: BTreeSet<String>,
    ) {
        self.owners.entry(owner.to_owned()).or_default().insert(
            key_hash.to_vec(),
            Route {
                node_id: node_id.to_owned(),
                app_token: app_token.to_owned(),
                receives,
            },
        );
    }

    /// Forgets `key_hash` of `owner` if its route still names `node_id` (a newer session on
    /// another node is kept).
    pub fn remove(&mut self, owner: &str, key_hash: &[u8], node_id: &str) {
        if let Some(routes) = self.owners.get_mut(owner) {
            if routes.get(key_hash).is_some_and(|r| r.node_id == node_id) {
                routes.remove(key_hash);
            }
            if routes.is_empty() {
                self.owners.remove(owner);
            }
        }
    }

    /// Where an event of class `fqn` from `source` goes: the endpoint `target` if it is the
    /// owner's and receives the class, else every other endpoint of the owner that receives it.
    pub fn targets(
        &self,
        owner: &str,
        source: &[u8],
        fqn: &str,
        target: Option<&[u8]>,
    ) -> Vec<Target> {
        let Some(routes) = self.owners.get(owner) else {
            return Vec::new();
        };
        let mut targets: Vec<Target> = routes
            .iter()
            .filter(|(key, _)| match target {
                Some(target) => key.as_slice() == target,
                None => key.as_slice() != source,
            })
            .filter(|(_, route)| route.receives.contains(fqn))
            .map(|(key, route)| Target {
                key_hash: key.clone(),
                node_id: route.node_id.clone(),
                app_token: route.app_token.clone(),
            })
            .collect();
        targets.sort_by(|a, b| a.key_hash.cmp(&b.key_hash));
        targets
    }

    /// The owner's endpoints other than `requester` that receive every class in `fqns`.
    pub fn listeners(&self, owner: &str, requester: &[u8], fqns: &[String]) -> Vec<Vec<u8>> {
        let mut listeners: Vec<Vec<u8>> = self
            .owners
            .get(owner)
            .into_iter()
            .flatten()
            .filter(|(key, route)| {
                key.as_slice() != requester && fqns.iter().all(|f| route.receives.contains(f))
            })
            .map(|(key, _)| key.clone())
            .collect();
        listeners.sort();
        listeners
    }

    /// Keeps only routes to nodes `live` accepts and tables of owners `owned` accepts.
    pub fn retain(&mut self, live: impl Fn(&str) -> bool, owned: impl Fn(&str) -> bool) {
        self.owners.retain(|owner, routes| {
            routes.retain(|_, route| live(&route.node_id));
            !routes.is_empty() && owned(owner)
        });
    }

    /// How many endpoints have a route.
    pub fn len(&self) -> usize {
        self.owners.values().map(HashMap::len).sum()
    }

    /// Whether no route is held.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}

/// Why an event or a registration did not reach the owner's ring owner.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// No Operations node is live.
    #[error("no live operations node owns this owner")]
    NoNode,
    /// The call failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// This node's queue for the owner is full (in events or bytes).
    #[error("event queue full")]
    Full,
}

/// An event on its way through the owner's ring owner.
struct Routed {
    owner_id: String,
    tenant_id: String,
    source: Vec<u8>,
    event: Event,
    /// Its bytes of the routing queues' budget, given back once forwarded.
    _share: Share,
}

/// Event routing of one Operations node: its own sessions' registrations, the route tables it
/// holds as ring owner, and the ordered queues that forward events.
pub struct EventRouting {
    node_id: String,
    cluster: Cluster,
    pool: ClientPool<Operations>,
    sessions: Arc<Sessions>,
    routes: Mutex<OwnerRoutes>,
    local: Mutex<HashMap<Vec<u8>, Registration>>,
    shards: Vec<mpsc::Sender<Routed>>,
    /// What the shard queues may hold together, in bytes.
    route_budget: Budget,
    metrics: EventMetrics,
    hasher: RandomState,
}

impl EventRouting {
    /// Starts the shard queues and the healing task; they end when the runtime does or the
    /// returned value and its clones are dropped. The shard queues hold at most
    /// `limits.route_queue_bytes`, counted in `metrics`.
    pub fn start(
        node_id: String,
        cluster: Cluster,
        sessions: Arc<Sessions>,
        limits: EventLimits,
        metrics: EventMetrics,
    ) -> Arc<Self> {
        let mut shards = Vec::with_capacity(SHARDS);
        let mut receivers = Vec::with_capacity(SHARDS);
        for _ in 0..SHARDS {
            let (sender, receiver) = mpsc::channel(SHARD_CAPACITY);
            shards.push(sender);
            receivers.push(receiver);
        }
        let routing = Arc::new(Self {
            node_id,
            pool: cluster.operations_clients().clone(),
            sessions,
            routes: Mutex::default(),
            local: Mutex::default(),
            shards,
            route_budget: Budget::new(limits.route_queue_bytes, metrics.route_queues.clone()),
            metrics,
            hasher: RandomState::new(),
            cluster: cluster.clone(),
        });
        for receiver in receivers {
            tokio::spawn(forward(Arc::downgrade(&routing), receiver));
        }
        tokio::spawn(heal(Arc::downgrade(&routing), cluster.watch_view()));
        routing
    }

    /// Registers a session's endpoint with its owner's ring owner.
    pub async fn register(&self, registration: Registration) -> Result<(), RoutingError> {
        lock(&self.local).insert(registration.key_hash.clone(), registration.clone());
        let message = self.route_update(&registration, EventRouteUpdateType::ADD);
        self.to_ring_owner(&registration.owner_id, vec![message])
            .await
    }

    /// Withdraws session `session_id`'s registration of the endpoint (the session ended or the
    /// endpoint left its owner); a newer session's registration stays. Best effort.
    pub async fn unregister(&self, key_hash: &[u8], session_id: u64) {
        let registration = {
            let mut local = lock(&self.local);
            match local.get(key_hash) {
                Some(r) if r.session_id == session_id => local.remove(key_hash),
                _ => None,
            }
        };
        let Some(registration) = registration else {
            return;
        };
        let message = self.route_update(&registration, EventRouteUpdateType::DELETE);
        if let Err(error) = self
            .to_ring_owner(&registration.owner_id, vec![message])
            .await
        {
            tracing::debug!(%error, "route withdrawal not delivered; the ring owner prunes it");
        }
    }

    /// Hands an event of `from` over to its owner's ring owner, retrying while the cluster view
    /// settles.
    pub async fn send(&self, from: &Registration, event: Event) -> Result<(), RoutingError> {
        let target = event.target.as_deref().map(|target| RouteAddress {
            endpoint_key: Some(decode_key(target)),
            application_token: None,
            operations_server_id: None,
        });
        let message = event_message(
            &from.owner_id,
            &from.tenant_id,
            &from.key_hash,
            &event,
            target,
        );
        let deadline = tokio::time::Instant::now() + HAND_OVER_TIMEOUT;
        loop {
            match self
                .to_ring_owner(&from.owner_id, vec![message.clone()])
                .await
            {
                Ok(()) => return Ok(()),
                Err(error) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%error, "event not handed over yet; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The endpoints of `from`'s owner that receive every class in `fqns`.
    pub async fn listeners(
        &self,
        from: &Registration,
        fqns: Vec<String>,
    ) -> Result<Vec<Vec<u8>>, RoutingError> {
        let owner_node = self.ring_owner(&from.owner_id)?;
        if owner_node == self.node_id {
            return Ok(self.find_listeners(&from.owner_id, &fqns, &from.key_hash));
        }
        let peer = self.peer(&owner_node)?;
        let (owner, requester) = (from.owner_id.clone(), from.key_hash.clone());
        Ok(self
            .pool
            .call(&peer, move |client| {
                client.find_event_listeners(owner, fqns, requester)
            })
            .await?)
    }

    /// Answers another node's listener query from the tables held here.
    pub fn find_listeners(&self, owner: &str, fqns: &[String], requester: &[u8]) -> Vec<Vec<u8>> {
        lock(&self.routes).listeners(owner, requester, fqns)
    }

    /// Applies event-routing messages from another node (or this one): route updates change the
    /// tables held here, events are routed (no node in their address) or delivered to a session
    /// here (this node in their address). Fails when a routing queue is full.
    pub fn on_messages(&self, messages: Vec<Message>) -> Result<(), RoutingError> {
        for message in messages {
            match message.type_ {
                Some(EventMessageType::ENDPOINT_ROUTE_UPDATE) => {
                    if let Some(update) = message.endpoint_route_update {
                        self.apply_route_update(update);
                    }
                }
                Some(EventMessageType::EVENT) => {
                    if let Some(event) = message.event {
                        self.on_event(event)?;
                    }
                }
                other => tracing::debug!(?other, "event-routing message type ignored"),
            }
        }
        Ok(())
    }

    fn apply_route_update(&self, update: EndpointRouteUpdate) {
        let (Some(owner), Some(address)) = (update.user_id, update.route_address) else {
            tracing::warn!("route update without an owner or address ignored");
            return;
        };
        let (Some(key_hash), Some(node_id)) = (address.endpoint_key, address.operations_server_id)
        else {
            tracing::warn!("route update without an endpoint or node ignored");
            return;
        };
        let mut routes = lock(&self.routes);
        match update.update_type {
            Some(EventRouteUpdateType::DELETE) => routes.remove(&owner, &key_hash, &node_id),
            _ => routes.add(
                &owner,
                &key_hash,
                &node_id,
                &address.application_token.unwrap_or_default(),
                update
                    .event_class_fqns
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            ),
        }
    }

    fn on_event(&self, event: ThriftEvent) -> Result<(), RoutingError> {
        // Thrift reads an absent field of default requiredness as its empty value, so empty
        // means absent.
        let address = event.route_address.as_ref();
        let target_key = address
            .and_then(|a| a.endpoint_key.clone())
            .filter(|key| !key.is_empty());
        let to_session_here = address
            .and_then(|a| a.operations_server_id.as_deref())
            .is_some_and(|node| !node.is_empty());
        let endpoint_event = event.endpoint_event.unwrap_or_default();
        let sdk_event = Event {
            seq_num: endpoint_event.version.unwrap_or(0),
            event_class_fqn: endpoint_event.event_class_fqn.unwrap_or_default(),
            event_data: endpoint_event.event_data.unwrap_or_default(),
            source: endpoint_event.sender.as_deref().map(ring_key),
            target: None,
        };
        if to_session_here {
            // The last hop: a session of this node.
            let target = target_key.unwrap_or_default();
            if !self.sessions.deliver_events(&target, vec![sdk_event]) {
                tracing::debug!("event for an endpoint without a session here dropped");
            }
            return Ok(());
        }
        let owner_id = event.user_id.unwrap_or_default();
        let tenant_id = event.tenant_id.unwrap_or_default();
        let source = endpoint_event.sender.unwrap_or_default();
        let event = Event {
            target: target_key.as_deref().map(ring_key),
            ..sdk_event
        };
        let size = event_size(&event) + owner_id.len() + tenant_id.len() + source.len();
        let Some(share) = self.route_budget.take(size) else {
            self.metrics.dropped("route_queue_full", 1);
            return Err(RoutingError::Full);
        };
        let routed = Routed {
            tenant_id,
            source,
            event,
            owner_id,
            _share: share,
        };
        let shard = (self.hasher.hash_one(&routed.owner_id) as usize) % SHARDS;
        self.shards[shard].try_send(routed).map_err(|_| {
            self.metrics.dropped("route_queue_full", 1);
            RoutingError::Full
        })
    }

    /// What the node's event queues hold and dropped, for `/metrics`.
    pub fn metrics(&self) -> &EventMetrics {
        &self.metrics
    }

    /// Sends `messages` to the ring owner of `owner_id`, or applies them here if that is this
    /// node.
    async fn to_ring_owner(
        &self,
        owner_id: &str,
        messages: Vec<Message>,
    ) -> Result<(), RoutingError> {
        let node = self.ring_owner(owner_id)?;
        self.to_node(&node, messages).await
    }

    async fn to_node(&self, node: &str, messages: Vec<Message>) -> Result<(), RoutingError> {
        if node == self.node_id {
            return self.on_messages(messages);
        }
        let peer = self.peer(node)?;
        self.pool
            .call(&peer, move |client| client.send_messages(messages))
            .await?;
        Ok(())
    }

    fn route_update(&self, registration: &Registration, kind: EventRouteUpdateType) -> Message {
        Message {
            type_: Some(EventMessageType::ENDPOINT_ROUTE_UPDATE),
            event_id: None,
            event: None,
            route: None,
            user_route: None,
            endpoint_route_update: Some(EndpointRouteUpdate {
                tenant_id: Some(registration.tenant_id.clone()),
                user_id: Some(registration.owner_id.clone()),
                route_address: Some(RouteAddress {
                    endpoint_key: Some(registration.key_hash.clone()),
                    application_token: Some(registration.app_token.clone()),
                    operations_server_id: Some(self.node_id.clone()),
                }),
                update_type: Some(kind),
                cf_schema_version: None,
                ucf_hash: None,
                event_class_fqns: Some(registration.receives.iter().cloned().collect()),
            }),
            endpoint_state_update: None,
        }
    }

    fn ring_owner(&self, owner_id: &str) -> Result<String, RoutingError> {
        self.cluster
            .view()
            .ring
            .owner(owner_id)
            .map(str::to_owned)
            .ok_or(RoutingError::NoNode)
    }

    fn peer(&self, node_id: &str) -> Result<PeerAddr, RoutingError> {
        let view = self.cluster.view();
        let info = view.operations.get(node_id).ok_or(RoutingError::NoNode)?;
        let port =
            u16::try_from(info.connection_info.thrift_port).map_err(|_| RoutingError::NoNode)?;
        Ok(PeerAddr::new(
            info.connection_info.thrift_host.clone(),
            port,
        ))
    }

    /// Prunes the tables held here for `view` and registers every local session again.
    async fn reconcile(&self, view: &ClusterView) {
        {
            let mut routes = lock(&self.routes);
            routes.retain(
                |node| view.operations.contains_key(node),
                |owner| view.ring.owner(owner) == Some(self.node_id.as_str()),
            );
        }
        let registrations: Vec<Registration> = lock(&self.local).values().cloned().collect();
        let mut by_node: HashMap<String, Vec<Message>> = HashMap::new();
        for registration in &registrations {
            if let Some(node) = view.ring.owner(&registration.owner_id) {
                by_node
                    .entry(node.to_owned())
                    .or_default()
                    .push(self.route_update(registration, EventRouteUpdateType::ADD));
            }
        }
        for (node, messages) in by_node {
            let count = messages.len();
            if let Err(error) = self.to_node(&node, messages).await {
                tracing::warn!(%error, %node, count, "routes not registered again; next round retries");
            }
        }
        tracing::debug!(
            registrations = registrations.len(),
            held = lock(&self.routes).len(),
            "event routes reconciled"
        );
    }
}

/// A shard's worker at the ring owner: resolves each event's targets and forwards it, one
/// event after the other.
async fn forward(routing: std::sync::Weak<EventRouting>, mut queue: mpsc::Receiver<Routed>) {
    while let Some(routed) = queue.recv().await {
        let Some(routing) = routing.upgrade() else {
            return;
        };
        let target = routed.event.target.as_deref().map(decode_key);
        let targets = lock(&routing.routes).targets(
            &routed.owner_id,
            &routed.source,
            &routed.event.event_class_fqn,
            target.as_deref(),
        );
        for target in targets {
            let address = RouteAddress {
                endpoint_key: Some(target.key_hash.clone()),
                application_token: Some(target.app_token.clone()),
                operations_server_id: Some(target.node_id.clone()),
            };
            let message = event_message(
                &routed.owner_id,
                &routed.tenant_id,
                &routed.source,
                &routed.event,
                Some(address),
            );
            if let Err(error) = routing.to_node(&target.node_id, vec![message]).await {
                tracing::warn!(%error, node = %target.node_id, "event not delivered to the target's node");
            }
        }
    }
}

/// An `EVENT` message of owner `owner_id` from endpoint `sender`: to the ring owner when
/// `address` names no node, to that node's session otherwise.
fn event_message(
    owner_id: &str,
    tenant_id: &str,
    sender: &[u8],
    event: &Event,
    address: Option<RouteAddress>,
) -> Message {
    Message {
        type_: Some(EventMessageType::EVENT),
        event_id: None,
        event: Some(ThriftEvent {
            user_id: Some(owner_id.to_owned()),
            tenant_id: Some(tenant_id.to_owned()),
            endpoint_event: Some(EndpointEvent {
                uuid: None,
                sender: Some(sender.to_vec()),
                event_data: Some(event.event_data.clone()),
                create_time: Some(kaa_store::metadata::now_ms()),
                version: Some(event.seq_num),
                event_class_fqn: Some(event.event_class_fqn.clone()),
            }),
            route_address: address,
        }),
        route: None,
        user_route: None,
        endpoint_route_update: None,
        endpoint_state_update: None,
    }
}

/// Reconciles after every change of the live Operations nodes and every [`REFRESH_INTERVAL`].
async fn heal(
    routing: std::sync::Weak<EventRouting>,
    mut views: watch::Receiver<Arc<ClusterView>>,
) {
    let mut refresh = tokio::time::interval(REFRESH_INTERVAL);
    refresh.tick().await;
    let mut members: Vec<String> = views.borrow().operations.keys().cloned().collect();
    loop {
        tokio::select! {
            changed = views.changed() => {
                if changed.is_err() {
                    return;
                }
                // Load reports change the view too; only a change of members moves owners.
                let now: Vec<String> = views.borrow().operations.keys().cloned().collect();
                if now == members {
                    continue;
                }
                members = now;
            }
            _ = refresh.tick() => {}
        }
        let view = views.borrow_and_update().clone();
        let Some(routing) = routing.upgrade() else {
            return;
        };
        routing.reconcile(&view).await;
    }
}

/// A key hash from its Base64 text (as endpoints name targets); undecodable text names no one.
fn decode_key(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_default()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use kaa_cluster::membership::{NodeDescriptor, Registration as NodeRegistration};
    use kaa_idl::zk::{ConnectionInfo, LoadInfo, OperationsNodeInfo};

    use super::*;
    use crate::event_queues::tests::sized;
    use crate::sessions::{Channel, Push};

    /// Event routing of a standalone node `n1` (it owns every owner on the ring).
    fn standalone_routing(sessions: Arc<Sessions>) -> Arc<EventRouting> {
        let cluster = Cluster::standalone(
            NodeRegistration {
                descriptor: NodeDescriptor {
                    id: "n1".into(),
                    services: vec![kaa_model::Service::Operations],
                    admin_url: String::new(),
                    thrift_host: "127.0.0.1".into(),
                    thrift_port: 1,
                    started_ms: 0,
                    version: String::new(),
                },
                operations: Some(OperationsNodeInfo {
                    connection_info: ConnectionInfo {
                        thrift_host: "127.0.0.1".into(),
                        thrift_port: 1,
                        public_key: None,
                    },
                    load_info: LoadInfo {
                        endpoint_count: 0,
                        load_average: 0.0,
                    },
                    time_started: 0,
                    transports: Vec::new(),
                }),
                bootstrap: None,
            },
            // Never dials: the one node owns every owner.
            kaa_cluster::rpc::Security::Plaintext,
        );
        EventRouting::start(
            "n1".into(),
            cluster,
            sessions,
            EventLimits::default(),
            EventMetrics::default(),
        )
    }

    fn registration(key: &[u8], session_id: u64) -> Registration {
        Registration {
            owner_id: "t:alice".into(),
            tenant_id: "t".into(),
            app_token: "app".into(),
            key_hash: key.to_vec(),
            receives: set(&["Ping"]),
            session_id,
        }
    }

    #[tokio::test]
    async fn an_event_reaches_the_session_of_the_owners_other_endpoint() {
        let sessions = Arc::new(Sessions::default());
        let routing = standalone_routing(sessions.clone());
        let (pushes, mut pushed) = kaa_transport::pushes::push_queue(8);
        sessions.register(b"lamp", "app", 7, Channel::Waiting, pushes);
        routing.register(registration(b"phone", 1)).await.unwrap();
        routing.register(registration(b"lamp", 7)).await.unwrap();
        let ping = |n: u8| Event {
            seq_num: i32::from(n),
            event_class_fqn: "Ping".into(),
            event_data: vec![n],
            source: None,
            target: None,
        };
        for n in 1..=3 {
            routing
                .send(&registration(b"phone", 1), ping(n))
                .await
                .unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < 3 {
            let push = tokio::time::timeout_at(deadline, pushed.recv())
                .await
                .expect("events pushed");
            assert_eq!(push, Some(Push::Events));
            got.extend(sessions.take_events(b"lamp"));
        }
        assert_eq!(
            got.iter().map(|e| e.event_data[0]).collect::<Vec<_>>(),
            [1, 2, 3],
            "in the order sent"
        );
        assert_eq!(got[0].source.as_deref(), Some(ring_key(b"phone").as_str()));
    }

    #[tokio::test]
    async fn a_closing_session_keeps_the_registration_of_a_newer_one() {
        let routing = standalone_routing(Arc::new(Sessions::default()));
        let listeners = || routing.find_listeners("t:alice", &["Ping".into()], b"other");
        routing.register(registration(b"lamp", 1)).await.unwrap();
        routing.register(registration(b"lamp", 2)).await.unwrap();
        routing.unregister(b"lamp", 1).await;
        assert_eq!(listeners(), vec![b"lamp".to_vec()]);
        routing.unregister(b"lamp", 2).await;
        assert!(listeners().is_empty());
    }

    fn set(fqns: &[&str]) -> BTreeSet<String> {
        fqns.iter().map(|f| (*f).to_owned()).collect()
    }

    fn table() -> OwnerRoutes {
        let mut routes = OwnerRoutes::default();
        routes.add(
            "t:alice",
            b"phone",
            "node-a",
            "app1",
            set(&["Ping", "Pong"]),
        );
        routes.add("t:alice", b"lamp", "node-b", "app2", set(&["Ping"]));
        routes.add("t:alice", b"tv", "node-b", "app2", set(&[]));
        routes.add("t:bob", b"car", "node-a", "app1", set(&["Ping"]));
        routes
    }

    fn keys(targets: Vec<Target>) -> Vec<Vec<u8>> {
        targets.into_iter().map(|t| t.key_hash).collect()
    }

    #[test]
    fn broadcasts_reach_the_owners_other_endpoints_that_receive_the_class() {
        let routes = table();
        assert_eq!(
            keys(routes.targets("t:alice", b"phone", "Ping", None)),
            vec![b"lamp".to_vec()]
        );
        assert_eq!(
            keys(routes.targets("t:alice", b"lamp", "Ping", None)),
            vec![b"phone".to_vec()]
        );
        assert!(routes.targets("t:alice", b"phone", "Pong", None).is_empty());
        assert!(routes.targets("t:carol", b"x", "Ping", None).is_empty());
        let to_lamp = routes.targets("t:alice", b"phone", "Ping", None);
        assert_eq!(to_lamp[0].node_id, "node-b");
        assert_eq!(to_lamp[0].app_token, "app2");
    }

    #[test]
    fn a_targeted_event_reaches_only_that_endpoint_of_the_same_owner() {
        let routes = table();
        assert_eq!(
            keys(routes.targets("t:alice", b"lamp", "Pong", Some(b"phone"))),
            vec![b"phone".to_vec()]
        );
        assert!(
            routes
                .targets("t:alice", b"lamp", "Ping", Some(b"car"))
                .is_empty(),
            "another owner's endpoint is never a target"
        );
        assert!(
            routes
                .targets("t:alice", b"phone", "Ping", Some(b"tv"))
                .is_empty(),
            "a target that does not receive the class gets nothing"
        );
    }

    #[test]
    fn listeners_receive_every_class_asked_for() {
        let routes = table();
        assert_eq!(
            routes.listeners("t:alice", b"tv", &["Ping".into()]),
            vec![b"lamp".to_vec(), b"phone".to_vec()]
        );
        assert_eq!(
            routes.listeners("t:alice", b"tv", &["Ping".into(), "Pong".into()]),
            vec![b"phone".to_vec()]
        );
        assert!(
            routes
                .listeners("t:alice", b"phone", &["Pong".into()])
                .is_empty()
        );
    }

    #[test]
    fn removal_keeps_a_newer_route_and_retain_prunes_dead_nodes_and_foreign_owners() {
        let mut routes = table();
        // The phone reconnected on node-b before node-a withdrew its old route.
        routes.add("t:alice", b"phone", "node-b", "app1", set(&["Ping"]));
        routes.remove("t:alice", b"phone", "node-a");
        assert_eq!(
            keys(routes.targets("t:alice", b"lamp", "Ping", None)),
            vec![b"phone".to_vec()]
        );
        routes.remove("t:alice", b"phone", "node-b");
        assert!(routes.targets("t:alice", b"lamp", "Ping", None).is_empty());

        let mut routes = table();
        assert_eq!(routes.len(), 4);
        routes.retain(|node| node != "node-b", |_| true);
        assert_eq!(routes.len(), 2);
        routes.retain(|_| true, |owner| owner == "t:bob");
        assert_eq!(routes.len(), 1);
        routes.retain(|_| true, |_| false);
        assert!(routes.is_empty());
    }

    #[tokio::test]
    async fn the_ring_owner_refuses_events_past_its_routing_queue_bytes() {
        let sessions = Arc::new(Sessions::default());
        let cluster = standalone_routing(sessions.clone()).cluster.clone();
        let limits = EventLimits {
            endpoint_queue_bytes: 1 << 20,
            route_queue_bytes: 10_000,
        };
        let routing = EventRouting::start(
            "n1".into(),
            cluster,
            sessions,
            limits,
            EventMetrics::default(),
        );
        let message = |n: i32| {
            event_message(
                "t:alice",
                "t",
                b"phone",
                &sized(n, 4000),
                Some(RouteAddress {
                    endpoint_key: None,
                    application_token: None,
                    operations_server_id: None,
                }),
            )
        };
        // Two fit; the third is over 10,000 bytes while the shard has not forwarded them yet.
        let outcomes: Vec<bool> = (0..3)
            .map(|n| routing.on_messages(vec![message(n)]).is_ok())
            .collect();
        assert_eq!(outcomes, vec![true, true, false]);
        assert_eq!(routing.metrics().dropped_count("route_queue_full"), 1);
    }
}
