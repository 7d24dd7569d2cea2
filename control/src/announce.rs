//! Control's change fan-out: a metadata change is announced to every live Operations node
//! (`OperationsService.onNotification`), by the Control leader only.
//!
//! Only the leader announces, so each change reaches each Operations node once however many
//! Control nodes run; a standby asked to announce says who leads instead.

use kaa_cluster::Cluster;
use kaa_cluster::rpc::{ClientPool, Operations, PeerAddr, RpcError, notify_operations};
use kaa_idl::thrift::operations::Notification;

/// Why a change was not announced.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// This node is not the acting Control leader.
    #[error("this node is not the Control leader (the leader is {})", leader.as_deref().unwrap_or("being elected"))]
    NotLeader {
        /// The leader's node id, if one is known.
        leader: Option<String>,
    },
}

/// Announces changes to the live Operations nodes of the cluster.
pub struct ChangeAnnouncer {
    cluster: Cluster,
    pool: ClientPool<Operations>,
}

impl ChangeAnnouncer {
    /// An announcer over the cluster's live view.
    pub fn new(cluster: Cluster) -> Self {
        Self {
            pool: cluster.operations_clients().clone(),
            cluster,
        }
    }

    /// The Operations nodes a change would reach now, by node id and Thrift address.
    pub fn targets(&self) -> Result<Vec<(String, PeerAddr)>, AnnounceError> {
        if !self.cluster.is_leader() {
            let view = self.cluster.view();
            return Err(AnnounceError::NotLeader {
                leader: view.leader_id().map(str::to_owned),
            });
        }
        let view = self.cluster.view();
        Ok(view
            .operations
            .iter()
            .filter_map(|(id, info)| {
                let connection = &info.connection_info;
                let port = u16::try_from(connection.thrift_port).ok()?;
                Some((
                    id.clone(),
                    PeerAddr {
                        host: connection.thrift_host.clone(),
                        port,
                    },
                ))
            })
            .collect())
    }

    /// Sends `notification` to every target at once; each peer's outcome is returned (failures
    /// are also logged by the transport).
    pub async fn announce(
        &self,
        targets: Vec<(String, PeerAddr)>,
        notification: Notification,
    ) -> Vec<(String, Result<(), RpcError>)> {
        let (ids, peers): (Vec<String>, Vec<PeerAddr>) = targets.into_iter().unzip();
        let results = notify_operations(&self.pool, &peers, notification).await;
        ids.into_iter()
            .zip(results.into_iter().map(|(_, result)| result))
            .collect()
    }
}
