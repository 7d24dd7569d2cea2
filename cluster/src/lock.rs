//! Cluster-wide mutual exclusion for rare, short critical sections that must not run on two
//! nodes at once.
//!
//! The case it exists for: Cassandra schema changes. Two `CREATE TABLE IF NOT EXISTS` of one
//! table sent at the same moment through different coordinators can both succeed with different
//! table ids; when the schema converges one id wins, and rows acknowledged under the other are
//! gone. Log appenders create their table on first use on every Operations node, so nodes take
//! [`Cluster::exclusive`](crate::Cluster::exclusive) around that DDL: the first creates the table
//! and waits for schema agreement, the next finds it.
//!
//! Clustered, the lock is the ephemeral znode `/locks/<name>`: whoever creates it holds the lock;
//! the others watch it and race again when it goes, which it also does when its holder's session
//! ends. Standalone, it is an in-process mutex per name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use zookeeper_client as zk;

use crate::acl::Readers;
use crate::zookeeper::ZkSession;

/// The parent of every lock znode.
const LOCKS_PATH: &str = "/locks";

/// How often a waiter looks again, in case a deletion's watch was missed.
const RECHECK: Duration = Duration::from_secs(1);

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another node held it for longer than the caller would wait, or ZooKeeper was unreachable.
    #[error("cluster lock {name} not acquired within {patience:?}")]
    Timeout {
        /// The lock's name.
        name: String,
        /// How long the caller waited.
        patience: Duration,
    },
}

/// The in-process locks of a standalone node, by name.
#[derive(Clone, Default)]
pub(crate) struct LocalLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl LocalLocks {
    pub(crate) async fn acquire(
        &self,
        name: &str,
        patience: Duration,
    ) -> Result<ClusterLock, LockError> {
        let mutex = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(name.to_owned())
            .or_default()
            .clone();
        match tokio::time::timeout(patience, mutex.lock_owned()).await {
            Ok(guard) => Ok(ClusterLock(Held::Local { _guard: guard })),
            Err(_) => Err(timeout(name, patience)),
        }
    }
}

/// A held cluster lock; [`ClusterLock::release`] gives it up (dropping it does too, in the
/// background).
pub struct ClusterLock(Held);

enum Held {
    /// Held while the guard lives.
    Local {
        _guard: OwnedMutexGuard<()>,
    },
    ZooKeeper {
        client: zk::Client,
        path: String,
    },
    Released,
}

impl ClusterLock {
    /// Gives the lock up now.
    pub async fn release(mut self) {
        if let Held::ZooKeeper { client, path } = std::mem::replace(&mut self.0, Held::Released)
            && let Err(error) = client.delete(&path, None).await
            && error != zk::Error::NoNode
        {
            // The znode is ephemeral: it goes with the session at the latest.
            tracing::warn!(path, %error, "cannot delete the lock znode");
        }
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        if let Held::ZooKeeper { client, path } = std::mem::replace(&mut self.0, Held::Released)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = client.delete(&path, None).await;
            });
        }
    }
}

impl ZkSession {
    /// Takes the cluster-wide lock `name` (the znode `/locks/<name>`), waiting at most
    /// `patience` for its holder to give it up or lose its session.
    pub async fn lock(&self, name: &str, patience: Duration) -> Result<ClusterLock, LockError> {
        acquire_znode(self, name, patience).await
    }
}

async fn acquire_znode(
    session: &ZkSession,
    name: &str,
    patience: Duration,
) -> Result<ClusterLock, LockError> {
    let deadline = Instant::now() + patience;
    let path = format!("{LOCKS_PATH}/{}", name.replace('/', "_"));
    let access = session.access();
    let mut sessions = session.subscribe();
    loop {
        let client = tokio::time::timeout_at(deadline, sessions.wait_for(Option::is_some))
            .await
            .map_err(|_| timeout(name, patience))?
            .map_err(|_| timeout(name, patience))?
            .clone()
            .expect("waited for Some");
        let parent = access.create_options(zk::CreateMode::Persistent, Readers::Cluster);
        match client.create(LOCKS_PATH, &[], &parent).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(error) => tracing::debug!(%error, "cannot create the locks znode"),
        }
        let options = access.create_options(zk::CreateMode::Ephemeral, Readers::Cluster);
        match client.create(&path, &[], &options).await {
            Ok(_) => return Ok(ClusterLock(Held::ZooKeeper { client, path })),
            Err(zk::Error::NodeExists) => {
                if let Ok((Some(_), watcher)) = client.check_and_watch_stat(&path).await {
                    let wake = Instant::now() + RECHECK;
                    let _ = tokio::time::timeout_at(wake.min(deadline), watcher.changed()).await;
                }
            }
            Err(error) => {
                tracing::debug!(path, %error, "cannot create the lock znode; trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if Instant::now() >= deadline {
            return Err(timeout(name, patience));
        }
    }
}

fn timeout(name: &str, patience: Duration) -> LockError {
    LockError::Timeout {
        name: name.to_owned(),
        patience,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_lock_is_held_by_one_at_a_time_and_waiters_give_up_after_their_patience() {
        let locks = LocalLocks::default();
        let held = locks
            .acquire("schema", Duration::from_secs(1))
            .await
            .unwrap();
        let refused = locks.acquire("schema", Duration::from_millis(50)).await;
        assert!(matches!(refused, Err(LockError::Timeout { .. })));
        // Another name is another lock.
        let other = locks.acquire("other", Duration::from_millis(50)).await;
        assert!(other.is_ok());
        held.release().await;
        assert!(
            locks
                .acquire("schema", Duration::from_millis(50))
                .await
                .is_ok()
        );
    }
}
