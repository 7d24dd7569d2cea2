//! The node's ZooKeeper session, kept alive across expiries.
//!
//! [`ZkSession::spawn`] starts a supervisor task that connects, makes sure the cluster's chroot
//! exists (with the cluster's ACL, see [`crate::acl`]), and publishes the live client on a watch
//! channel. With digest credentials the session authenticates on every connection. When the session ends (expired,
//! closed) the supervisor publishes `None` and connects again with backoff, so everything built on
//! the session (registrations, watches, election) is redone by whoever subscribes. It also counts
//! the node's returns to ZooKeeper after losing it ([`ZkSession::watch_returns`]): a node out of
//! touch may have missed what the cluster told it meanwhile.

use std::time::Duration;

use futures::future::BoxFuture;
use kaa_model::health::Probe;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use zookeeper_client as zk;

use crate::acl::{Readers, ZkAccess};

/// Where and how to reach ZooKeeper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkSettings {
    /// Comma-separated `host:port` list.
    pub connect: String,
    /// Root path of this cluster's znodes, e.g. `/kaa`; lets several clusters share one ensemble.
    pub chroot: String,
    /// Session timeout; also bounds how fast a dead node's ephemeral znodes disappear.
    pub session_timeout: Duration,
    /// How the session authenticates and the cluster's znodes are protected.
    pub access: ZkAccess,
}

/// Errors of the ZooKeeper session.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    /// The chroot is not a valid absolute ZooKeeper path.
    #[error("invalid zookeeper chroot {0:?}: must be an absolute path such as /kaa")]
    BadChroot(String),
    /// A ZooKeeper request failed.
    #[error("zookeeper: {0}")]
    Client(#[from] zk::Error),
}

/// A handle on the node's ZooKeeper session. Cheap to clone.
#[derive(Clone)]
pub struct ZkSession {
    current: watch::Receiver<Option<zk::Client>>,
    returns: watch::Receiver<u64>,
    session_timeout: Duration,
    access: ZkAccess,
}

impl ZkSession {
    /// Starts the supervisor on `tracker`; it runs until `shutdown` is cancelled, then drops the
    /// client, which closes the session and removes this node's ephemeral znodes at once.
    pub fn spawn(
        settings: ZkSettings,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, ZkError> {
        validate_chroot(&settings.chroot)?;
        let (publish, current) = watch::channel(None);
        let (count_return, returns) = watch::channel(0);
        let session_timeout = settings.session_timeout;
        let access = settings.access.clone();
        tracker.spawn(supervise(settings, publish, count_return, shutdown));
        Ok(Self {
            current,
            returns,
            session_timeout,
            access,
        })
    }

    /// The client of the current session, if one is established.
    pub fn client(&self) -> Option<zk::Client> {
        self.current.borrow().clone()
    }

    /// The configured session timeout.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// How the cluster's znodes are protected.
    pub fn access(&self) -> &ZkAccess {
        &self.access
    }

    /// A receiver that sees every new session (`Some`) and every loss of one (`None`).
    pub fn subscribe(&self) -> watch::Receiver<Option<zk::Client>> {
        self.current.clone()
    }

    /// A receiver of how often the node got back to ZooKeeper after losing it: a connection
    /// restored within the session, or a new session after one ended (not the first).
    pub fn watch_returns(&self) -> watch::Receiver<u64> {
        self.returns.clone()
    }
}

fn validate_chroot(chroot: &str) -> Result<(), ZkError> {
    let valid = chroot.starts_with('/')
        && (chroot == "/" || !chroot.ends_with('/'))
        && !chroot.contains("//");
    if valid {
        Ok(())
    } else {
        Err(ZkError::BadChroot(chroot.to_owned()))
    }
}

async fn supervise(
    settings: ZkSettings,
    publish: watch::Sender<Option<zk::Client>>,
    count_return: watch::Sender<u64>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    let mut first = true;
    let returned = || count_return.send_modify(|returns| *returns += 1);
    loop {
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => break,
            attempt = open_session(&settings) => attempt,
        };
        match attempt {
            Ok(client) => {
                backoff = Duration::from_millis(200);
                info!(session = %client.session_id(), connect = %settings.connect, chroot = %settings.chroot, "zookeeper session established");
                let mut states = client.state_watcher();
                publish.send_replace(Some(client));
                if !std::mem::take(&mut first) {
                    returned();
                }
                loop {
                    let state = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        state = states.changed() => state,
                    };
                    match state {
                        zk::SessionState::Disconnected => {
                            warn!("zookeeper connection lost, the client is reconnecting")
                        }
                        zk::SessionState::SyncConnected => {
                            info!("zookeeper connection restored");
                            returned();
                        }
                        state if state.is_terminated() => {
                            warn!(%state, "zookeeper session ended, opening a new one");
                            break;
                        }
                        state => info!(%state, "zookeeper session state changed"),
                    }
                }
                publish.send_replace(None);
                if shutdown.is_cancelled() {
                    break;
                }
            }
            Err(error) => {
                match error {
                    ZkError::Client(zk::Error::NoAuth) => {
                        warn!(chroot = %settings.chroot, retry_in = ?backoff, "zookeeper refuses to create the chroot with this node's credentials")
                    }
                    error => {
                        warn!(%error, connect = %settings.connect, retry_in = ?backoff, "zookeeper unreachable")
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    publish.send_replace(None);
    info!("zookeeper session closed");
}

/// Opens one session as the node's supervisor does (authenticated, the chroot created when
/// missing) and returns its client rooted at the chroot, or the first error; for checking that
/// ZooKeeper answers before a node starts (`kaa-node check-deps`).
pub async fn connect_once(settings: &ZkSettings) -> Result<zk::Client, ZkError> {
    validate_chroot(&settings.chroot)?;
    open_session(settings).await
}

async fn open_session(settings: &ZkSettings) -> Result<zk::Client, ZkError> {
    let mut connector = zk::Client::connector()
        .with_session_timeout(settings.session_timeout)
        .with_connection_timeout(Duration::from_secs(2))
        .with_fail_eagerly();
    if let Some(credentials) = settings.access.digest() {
        connector = connector.with_auth("digest", credentials);
    }
    let root = connector.connect(&settings.connect).await?;
    if settings.chroot == "/" {
        return Ok(root);
    }
    // Kaa-compatible tooling may list the layout; only the cluster may change it.
    let options = settings
        .access
        .create_options(zk::CreateMode::Persistent, Readers::Anyone);
    match root.mkdir(&settings.chroot, &options).await {
        Ok(()) | Err(zk::Error::NodeExists) => {}
        Err(error) => return Err(error.into()),
    }
    settings
        .access
        .restrict(&root, &settings.chroot, Readers::Anyone)
        .await;
    root.chroot(settings.chroot.as_str())
        .map_err(|_| ZkError::BadChroot(settings.chroot.clone()))
}

/// `zookeeper` readiness: a session is established and its connection is up right now.
impl Probe for ZkSession {
    fn name(&self) -> &str {
        "zookeeper"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        let state = self.client().map(|client| client.state());
        Box::pin(async move {
            match state {
                Some(zk::SessionState::SyncConnected) => Ok(()),
                Some(state) => Err(format!("zookeeper session is {state}")),
                None => Err("no zookeeper session".to_owned()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroot_must_be_an_absolute_path() {
        assert!(validate_chroot("/kaa").is_ok());
        assert!(validate_chroot("/kaa/cluster-a").is_ok());
        assert!(validate_chroot("/").is_ok());
        assert!(validate_chroot("kaa").is_err());
        assert!(validate_chroot("/kaa/").is_err());
        assert!(validate_chroot("/kaa//x").is_err());
        assert!(validate_chroot("").is_err());
    }
}
