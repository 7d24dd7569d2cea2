//! How a node takes part in its cluster: [`Cluster::join`] through ZooKeeper, or
//! [`Cluster::standalone`] in-process. Either way the node reads the same two things: the live
//! [`ClusterView`] and whether it acts as the Control leader. The handle also carries how this
//! node secures its internode Thrift connections ([`Security`]) and the node's one pool of
//! `OperationsService` clients, which every caller on the node (Control's announcer and
//! rebalancer, endpoint routing, event routing) shares.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kaa_idl::zk::{ConnectionInfo, ControlNodeInfo};
use kaa_model::Service;
use kaa_model::health::Probe;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::election::run_election;
use crate::lock::{ClusterLock, LocalLocks, LockError};
use crate::membership::{ClusterView, LoadSource, MembershipError, Registration, run_membership};
use crate::ring::HashRing;
use crate::rpc::{ClientPool, ClientSettings, Operations, Security};
use crate::zookeeper::{ZkError, ZkSession, ZkSettings};

/// A node's handle on its cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    view: watch::Receiver<Arc<ClusterView>>,
    leadership: watch::Receiver<bool>,
    zookeeper: Option<ZkSession>,
    local_locks: LocalLocks,
    internode: Security,
    operations_clients: ClientPool<Operations>,
}

impl Cluster {
    /// A standalone node: the view holds this node alone, and it leads if it runs Control.
    pub fn standalone(registration: Registration, internode: Security) -> Self {
        let id = registration.descriptor.id.clone();
        let mut view = ClusterView::default();
        let leads = registration.descriptor.services.contains(&Service::Control);
        if leads {
            view.leader = Some(control_info(&registration));
        }
        if let Some(operations) = registration.operations {
            view.operations.insert(id.clone(), operations);
        }
        if let Some(bootstrap) = registration.bootstrap {
            view.bootstrap.insert(id.clone(), bootstrap);
        }
        view.ring = HashRing::with_nodes(view.operations.keys());
        view.nodes.insert(id, registration.descriptor);
        Self {
            view: watch::channel(Arc::new(view)).1,
            leadership: watch::channel(leads).1,
            zookeeper: None,
            local_locks: LocalLocks::default(),
            operations_clients: operations_clients(&internode),
            internode,
        }
    }

    /// Joins the cluster through ZooKeeper: keeps a session, registers this node on every
    /// session, watches the others, and runs the Control election if the node runs Control.
    /// A fatal membership error (a duplicate node id) arrives on the returned receiver.
    /// `internode` secures its Thrift connections to peers.
    pub fn join(
        settings: ZkSettings,
        registration: Registration,
        internode: Security,
        load: LoadSource,
        load_interval: Duration,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<(Self, mpsc::Receiver<MembershipError>), ZkError> {
        let session = ZkSession::spawn(settings, shutdown.clone(), tracker)?;
        let (view_tx, view) = watch::channel(Arc::new(ClusterView::default()));
        let (leadership_tx, leadership) = watch::channel(false);
        let (fatal_tx, fatal) = mpsc::channel(1);
        if registration.descriptor.services.contains(&Service::Control) {
            let info = control_info(&registration);
            tracker.spawn(run_election(
                session.clone(),
                info,
                leadership_tx,
                shutdown.clone(),
            ));
        }
        tracker.spawn(run_membership(
            session.clone(),
            registration,
            load,
            load_interval,
            view_tx,
            fatal_tx,
            shutdown,
        ));
        Ok((
            Self {
                view,
                leadership,
                zookeeper: Some(session),
                local_locks: LocalLocks::default(),
                operations_clients: operations_clients(&internode),
                internode,
            },
            fatal,
        ))
    }

    /// Takes the cluster-wide lock `name` (see [`crate::lock`]), waiting at most `patience`
    /// for another node to give it up.
    pub async fn exclusive(
        &self,
        name: &str,
        patience: Duration,
    ) -> Result<ClusterLock, LockError> {
        match &self.zookeeper {
            Some(session) => session.lock(name, patience).await,
            None => self.local_locks.acquire(name, patience).await,
        }
    }

    /// The current view.
    pub fn view(&self) -> Arc<ClusterView> {
        self.view.borrow().clone()
    }

    /// A receiver of every new view.
    pub fn watch_view(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.view.clone()
    }

    /// Whether this node acts as the Control leader right now.
    pub fn is_leader(&self) -> bool {
        *self.leadership.borrow()
    }

    /// A receiver of leadership changes.
    pub fn watch_leadership(&self) -> watch::Receiver<bool> {
        self.leadership.clone()
    }

    /// The readiness probe of the coordination backend, if it has one.
    pub fn probe(&self) -> Option<Arc<dyn Probe>> {
        self.zookeeper
            .clone()
            .map(|session| Arc::new(session) as Arc<dyn Probe>)
    }

    /// How this node secures internode Thrift, for its server and its client pools.
    pub fn internode(&self) -> &Security {
        &self.internode
    }

    /// The node's `OperationsService` clients, shared by everyone on the node who calls an
    /// Operations node (clones share the idle connections).
    pub fn operations_clients(&self) -> &ClientPool<Operations> {
        &self.operations_clients
    }

    /// A receiver of how often this node got back to ZooKeeper after losing it (see
    /// [`ZkSession::watch_returns`]); a standalone node never loses it, and its receiver never
    /// changes.
    pub fn watch_returns(&self) -> watch::Receiver<u64> {
        match &self.zookeeper {
            Some(session) => session.watch_returns(),
            None => watch::channel(0).1,
        }
    }

    /// Whether the node coordinates through ZooKeeper.
    pub fn is_clustered(&self) -> bool {
        self.zookeeper.is_some()
    }
}

/// Idle connections the shared pool keeps per peer: as many as event routing's forwarding
/// shards call one peer with at once, so a burst of events reuses its connections.
const IDLE_OPERATIONS_CONNECTIONS: usize = 16;

/// The node's one pool of `OperationsService` clients, with the default timeouts every caller
/// used when each built its own.
fn operations_clients(security: &Security) -> ClientPool<Operations> {
    let settings = ClientSettings {
        max_idle_per_peer: IDLE_OPERATIONS_CONNECTIONS,
        ..ClientSettings::default()
    };
    ClientPool::new(settings, security.clone())
}

fn control_info(registration: &Registration) -> ControlNodeInfo {
    ControlNodeInfo {
        connection_info: ConnectionInfo {
            thrift_host: registration.descriptor.thrift_host.clone(),
            thrift_port: registration.descriptor.thrift_port.into(),
            public_key: None,
        },
        operations_server_count: 0,
        bootstrap_server_count: 0,
    }
}

/// Readiness of a standalone node's coordination is never in doubt; only ZooKeeper is probed.
impl Probe for Cluster {
    fn name(&self) -> &str {
        "zookeeper"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        match &self.zookeeper {
            Some(session) => session.check(),
            None => Box::pin(async { Ok(()) }),
        }
    }
}
