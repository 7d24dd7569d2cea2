//! Cluster membership in ZooKeeper: this node's registration and the live view of every node.
//!
//! Layout under the cluster's chroot (see `docs/cluster.md`):
//!
//! | znode | kind | data |
//! |---|---|---|
//! | `/nodes/<node id>` | ephemeral | [`NodeDescriptor`] as JSON: every node, whatever it runs |
//! | `/controlServerNode` | ephemeral | Kaa `ControlNodeInfo` (Avro): the active Control |
//! | `/operationsServerNodes/<node id>` | ephemeral | Kaa `OperationsNodeInfo` (Avro), load refreshed |
//! | `/bootstrapServerNodes/<node id>` | ephemeral | Kaa `BootstrapNodeInfo` (Avro) |
//!
//! `/nodes/<id>` doubles as the lock on the node id: a second process with the same id finds it
//! taken, waits up to two session timeouts for a dead owner's session to expire, and is refused
//! if the id stays taken. On every new session (after an expiry) the node registers again by
//! itself. One persistent recursive watch on the chroot keeps the [`ClusterView`] current; after
//! a reconnection the view is reloaded whole, since events can be lost while disconnected.
//!
//! Only the cluster's credentials may change these znodes ([`crate::acl`]); the Operations and
//! Bootstrap records, which Bootstrap hands to devices anyway, are readable by anyone. A node
//! whose writes ZooKeeper refuses (wrong credentials, or a chroot created with others) stops.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kaa_idl::zk::{AvroRecord, BootstrapNodeInfo, ControlNodeInfo, LoadInfo, OperationsNodeInfo};
use kaa_model::Service;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use zookeeper_client as zk;

use crate::acl::{Readers, ZkAccess};
use crate::election::LEADER_PATH;
use crate::ring::HashRing;
use crate::zookeeper::ZkSession;

/// Parent of every node's descriptor.
pub const NODES_PATH: &str = "/nodes";
/// Parent of Operations registrations.
pub const OPERATIONS_PATH: &str = "/operationsServerNodes";
/// Parent of Bootstrap registrations.
pub const BOOTSTRAP_PATH: &str = "/bootstrapServerNodes";

/// Who a node is, published at `/nodes/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDescriptor {
    /// Unique node id.
    pub id: String,
    /// Services it runs.
    pub services: Vec<Service>,
    /// Base URL of its admin HTTP server.
    pub admin_url: String,
    /// Thrift host.
    pub thrift_host: String,
    /// Thrift port.
    pub thrift_port: u16,
    /// Start time, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// kaa-rs version.
    pub version: String,
}

/// What this node registers.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The node's descriptor.
    pub descriptor: NodeDescriptor,
    /// Present when the node runs Operations; its load is refreshed from the load source.
    pub operations: Option<OperationsNodeInfo>,
    /// Present when the node runs Bootstrap.
    pub bootstrap: Option<BootstrapNodeInfo>,
}

/// Everything a node knows about the cluster at one moment.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Every registered node, by id.
    pub nodes: BTreeMap<String, NodeDescriptor>,
    /// Live Operations nodes, by node id.
    pub operations: BTreeMap<String, OperationsNodeInfo>,
    /// Live Bootstrap nodes, by node id.
    pub bootstrap: BTreeMap<String, BootstrapNodeInfo>,
    /// The active Control, if any.
    pub leader: Option<ControlNodeInfo>,
    /// The hash ring over live Operations nodes.
    pub ring: HashRing,
}

impl ClusterView {
    /// The id of the node whose Thrift address matches the leader znode.
    pub fn leader_id(&self) -> Option<&str> {
        let leader = &self.leader.as_ref()?.connection_info;
        self.nodes
            .values()
            .find(|n| {
                n.thrift_host == leader.thrift_host
                    && i32::from(n.thrift_port) == leader.thrift_port
            })
            .map(|n| n.id.as_str())
    }

    fn rebuild_ring(&mut self) {
        self.ring = HashRing::with_nodes(self.operations.keys());
    }
}

/// Errors that stop a node.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MembershipError {
    /// Another live process holds this node id.
    #[error(
        "node id {id:?} is already registered by a live node (zookeeper session {owner:#x}); give this node another node.id"
    )]
    DuplicateId {
        /// The contested id.
        id: String,
        /// The session that holds it.
        owner: i64,
    },
    /// ZooKeeper refuses this node's writes: its credentials are not the ones the cluster's
    /// znodes were created with.
    #[error(
        "zookeeper refuses to let this node write {path} (NoAuth): zookeeper.auth must hold the credentials this cluster's znodes were created with"
    )]
    NotAllowed {
        /// The znode the write was refused on.
        path: String,
    },
}

/// Reads the node's current load.
pub type LoadSource = Arc<dyn Fn() -> LoadInfo + Send + Sync>;

/// Registers this node on every session and keeps `view` current until `shutdown`.
/// A duplicate node id is reported on `fatal` (the node should stop).
pub async fn run_membership(
    session: ZkSession,
    registration: Registration,
    load: LoadSource,
    load_interval: Duration,
    view: watch::Sender<Arc<ClusterView>>,
    fatal: tokio::sync::mpsc::Sender<MembershipError>,
    shutdown: CancellationToken,
) {
    let mut sessions = session.subscribe();
    let patience = session.session_timeout() * 2 + Duration::from_secs(1);
    loop {
        let client = tokio::select! {
            _ = shutdown.cancelled() => return,
            client = sessions.wait_for(Option::is_some) => match client {
                Ok(client) => client.clone().expect("waited for Some"),
                Err(_) => return,
            },
        };
        match register(&client, session.access(), &registration, patience).await {
            Ok(()) => {
                info!(node = %registration.descriptor.id, session = %client.session_id(), "registered in zookeeper")
            }
            Err(RegisterError::Fatal(error)) => {
                error!(%error, "cannot register in zookeeper");
                let _ = fatal.send(error).await;
                return;
            }
            Err(RegisterError::Zk(error)) => {
                warn!(%error, "registration failed, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        let ended = follow(
            &client,
            &registration,
            &load,
            load_interval,
            &view,
            &shutdown,
        )
        .await;
        if let Err(error) = ended {
            debug!(%error, "membership session loop ended");
        }
        if shutdown.is_cancelled() {
            return;
        }
        // Wait for the supervisor to notice and replace the session.
        let _ = sessions
            .wait_for(|c| {
                c.as_ref()
                    .is_none_or(|c| c.session_id() != client.session_id())
            })
            .await;
    }
}

enum RegisterError {
    /// The node must stop.
    Fatal(MembershipError),
    /// Worth another try.
    Zk(zk::Error),
}

impl RegisterError {
    /// A refused write of `path` is fatal: the credentials will not change by retrying.
    fn at(path: &str) -> impl Fn(zk::Error) -> RegisterError + '_ {
        move |error| match error {
            zk::Error::NoAuth => RegisterError::Fatal(MembershipError::NotAllowed {
                path: path.to_owned(),
            }),
            error => RegisterError::Zk(error),
        }
    }
}

/// Who may read the znodes under `parent`, and the parent itself.
fn readers(parent: &str) -> Readers {
    match parent {
        OPERATIONS_PATH | BOOTSTRAP_PATH => Readers::Anyone,
        _ => Readers::Cluster,
    }
}

async fn register(
    client: &zk::Client,
    access: &ZkAccess,
    registration: &Registration,
    patience: Duration,
) -> Result<(), RegisterError> {
    for parent in [NODES_PATH, OPERATIONS_PATH, BOOTSTRAP_PATH] {
        let options = access.create_options(zk::CreateMode::Persistent, readers(parent));
        match client.create(parent, &[], &options).await {
            Ok(_) => {}
            Err(zk::Error::NodeExists) => access.restrict(client, parent, readers(parent)).await,
            Err(error) => return Err(RegisterError::at(parent)(error)),
        }
    }
    let id = &registration.descriptor.id;
    let descriptor = serde_json::to_vec(&registration.descriptor).expect("descriptor serialises");
    let mut claims = vec![(NODES_PATH, descriptor)];
    if let Some(operations) = &registration.operations {
        claims.push((OPERATIONS_PATH, operations.to_avro()));
    }
    if let Some(bootstrap) = &registration.bootstrap {
        claims.push((BOOTSTRAP_PATH, bootstrap.to_avro()));
    }
    for (parent, data) in claims {
        let options = access.create_options(zk::CreateMode::Ephemeral, readers(parent));
        let path = format!("{parent}/{id}");
        claim(client, &path, &data, &options, id, patience).await?;
    }
    Ok(())
}

/// Creates the ephemeral `path`; if another session holds it, waits up to `patience` for that
/// session to die.
async fn claim(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    options: &zk::CreateOptions<'_>,
    id: &str,
    patience: Duration,
) -> Result<(), RegisterError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match client.create(path, data, options).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NodeExists) => {}
            Err(error) => return Err(RegisterError::at(path)(error)),
        }
        let (stat, watcher) = client
            .check_and_watch_stat(path)
            .await
            .map_err(RegisterError::at(path))?;
        let Some(stat) = stat else { continue };
        if stat.ephemeral_owner == client.session_id().0 {
            client
                .set_data(path, data, None)
                .await
                .map_err(RegisterError::at(path))?;
            return Ok(());
        }
        warn!(
            path,
            owner = format!("{:#x}", stat.ephemeral_owner),
            "node id taken, waiting for the holder's session to expire"
        );
        if tokio::time::timeout_at(deadline, watcher.changed())
            .await
            .is_err()
        {
            return Err(RegisterError::Fatal(MembershipError::DuplicateId {
                id: id.to_owned(),
                owner: stat.ephemeral_owner,
            }));
        }
    }
}

/// Watches the chroot and refreshes the load until the session ends or `shutdown`.
async fn follow(
    client: &zk::Client,
    registration: &Registration,
    load: &LoadSource,
    load_interval: Duration,
    view: &watch::Sender<Arc<ClusterView>>,
    shutdown: &CancellationToken,
) -> Result<(), zk::Error> {
    let mut watcher = client
        .watch("/", zk::AddWatchMode::PersistentRecursive)
        .await?;
    let mut current = load_view(client).await?;
    view.send_replace(Arc::new(current.clone()));
    let mut ticker = tokio::time::interval(load_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_load = registration
        .operations
        .as_ref()
        .map(|o| o.load_info.clone());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick(), if registration.operations.is_some() => {
                let fresh = load();
                if last_load.as_ref() != Some(&fresh) {
                    let mut info = registration.operations.clone().expect("operations registered");
                    info.load_info = fresh.clone();
                    let path = format!("{OPERATIONS_PATH}/{}", registration.descriptor.id);
                    client.set_data(&path, &info.to_avro(), None).await?;
                    last_load = Some(fresh);
                }
            }
            event = watcher.changed() => {
                if event.event_type == zk::EventType::Session {
                    match event.session_state {
                        state if state.is_terminated() => return Ok(()),
                        zk::SessionState::SyncConnected => current = load_view(client).await?,
                        _ => continue,
                    }
                } else {
                    apply_event(client, &mut current, &event.path).await?;
                }
                view.send_replace(Arc::new(current.clone()));
            }
        }
    }
}

/// Reads the whole view.
async fn load_view(client: &zk::Client) -> Result<ClusterView, zk::Error> {
    let mut view = ClusterView::default();
    for parent in [NODES_PATH, OPERATIONS_PATH, BOOTSTRAP_PATH] {
        let children = match client.list_children(parent).await {
            Ok(children) => children,
            Err(zk::Error::NoNode) => continue,
            Err(error) => return Err(error),
        };
        for child in children {
            apply_event(client, &mut view, &format!("{parent}/{child}")).await?;
        }
    }
    apply_event(client, &mut view, LEADER_PATH).await?;
    Ok(view)
}

/// Re-reads `path` into `view` (absent znode = removed entry).
async fn apply_event(
    client: &zk::Client,
    view: &mut ClusterView,
    path: &str,
) -> Result<(), zk::Error> {
    let data = match client.get_data(path).await {
        Ok((data, _)) => Some(data),
        Err(zk::Error::NoNode) => None,
        Err(error) => return Err(error),
    };
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let name = name.to_owned();
    match parent {
        NODES_PATH => update(&mut view.nodes, name, data, |d| {
            serde_json::from_slice(d).map_err(|e| e.to_string())
        }),
        OPERATIONS_PATH => {
            update(&mut view.operations, name, data, |d| {
                OperationsNodeInfo::from_avro(d).map_err(|e| e.to_string())
            });
            view.rebuild_ring();
        }
        BOOTSTRAP_PATH => update(&mut view.bootstrap, name, data, |d| {
            BootstrapNodeInfo::from_avro(d).map_err(|e| e.to_string())
        }),
        "" if path == LEADER_PATH => {
            view.leader = data.and_then(|d| {
                ControlNodeInfo::from_avro(&d)
                    .map_err(|error| warn!(%error, "unreadable leader znode"))
                    .ok()
            });
        }
        _ => {}
    }
    Ok(())
}

fn update<T>(
    map: &mut BTreeMap<String, T>,
    name: String,
    data: Option<Vec<u8>>,
    decode: impl Fn(&[u8]) -> Result<T, String>,
) {
    match data.map(|d| decode(&d)) {
        Some(Ok(value)) => {
            map.insert(name, value);
        }
        Some(Err(error)) => {
            warn!(node = %name, %error, "ignoring an unreadable registration");
            map.remove(&name);
        }
        None => {
            map.remove(&name);
        }
    }
}
