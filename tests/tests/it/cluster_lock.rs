//! The cluster-wide lock on a real ZooKeeper: two sessions of one cluster take it one at a time;
//! the second gets it when the first releases it, or when the first's session ends without
//! releasing it; a waiter gives up after its patience.

use std::time::{Duration, Instant};

use kaa_cluster::acl::ZkAccess;
use kaa_cluster::lock::LockError;
use kaa_cluster::zookeeper::{ZkSession, ZkSettings};
use kaa_tests::infra::{self, ZOOKEEPER_AUTH, ZOOKEEPER_LOCK};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zookeeper_client as zk;

use crate::unique;

/// A session of the cluster under `chroot` with the test credentials, and what stops it.
fn session(chroot: &str) -> (ZkSession, CancellationToken, TaskTracker) {
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let settings = ZkSettings {
        connect: infra::zookeeper(),
        chroot: chroot.to_owned(),
        session_timeout: Duration::from_secs(4),
        access: ZkAccess::Digest(ZOOKEEPER_AUTH.to_owned()),
    };
    let session = ZkSession::spawn(settings, shutdown.clone(), &tracker).unwrap();
    (session, shutdown, tracker)
}

#[tokio::test]
async fn two_sessions_take_the_cluster_lock_one_at_a_time() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("zookeeper");
    let chroot = format!("/{}", unique("lock"));
    let (first, first_stop, first_tasks) = session(&chroot);
    let (second, second_stop, second_tasks) = session(&chroot);
    let patience = Duration::from_secs(20);

    let held = first.lock("schema-a.t", patience).await.unwrap();
    let refused = second.lock("schema-a.t", Duration::from_millis(600)).await;
    assert!(
        matches!(refused, Err(LockError::Timeout { .. })),
        "a held lock is refused to another session"
    );
    // Another name is another lock.
    second
        .lock("schema-b.t", patience)
        .await
        .unwrap()
        .release()
        .await;

    // Released: the waiter gets it at once.
    let waiter = tokio::spawn({
        let second = second.clone();
        async move {
            let lock = second.lock("schema-a.t", patience).await;
            (lock, Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let released = Instant::now();
    held.release().await;
    let (lock, taken) = waiter.await.unwrap();
    let lock = lock.expect("the waiter takes the released lock");
    println!(
        "cluster lock handed over {:.0} ms after its release",
        taken.duration_since(released).as_secs_f64() * 1000.0
    );
    assert!(taken.duration_since(released) < Duration::from_secs(2));

    lock.release().await;

    // A holder whose session ends without releasing (a crashed node): its ephemeral znode goes
    // with the session, and the waiter gets the lock.
    let crashed = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(4))
        .with_auth("digest", ZOOKEEPER_AUTH.as_bytes())
        .connect(&infra::zookeeper())
        .await
        .unwrap()
        .chroot(chroot.clone())
        .unwrap();
    crashed
        .create(
            "/locks/schema-a.t",
            &[],
            &zk::CreateMode::Ephemeral.with_acls(zk::Acls::creator_all()),
        )
        .await
        .unwrap();
    let waiter = tokio::spawn({
        let first = first.clone();
        async move { first.lock("schema-a.t", patience).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "a lock held by another session waits"
    );
    drop(crashed);
    let after_crash = waiter.await.unwrap();
    let Ok(lock) = after_crash else {
        panic!(
            "the lock of an ended session passes on: {:?}",
            after_crash.err()
        );
    };
    lock.release().await;
    for (stop, tasks) in [(first_stop, first_tasks), (second_stop, second_tasks)] {
        stop.cancel();
        tasks.close();
        tasks.wait().await;
    }
}
