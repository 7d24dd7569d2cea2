//! Messages for one endpoint, delivered to the Operations node that holds its session.
//!
//! Kaa's route, kept here: whoever has a message for an endpoint (Control, for a unicast
//! notification, a server-profile change or revoked credentials; Operations, when an endpoint
//! attaches another to its owner or detaches it) sends it to the endpoint's
//! *global* owner, the Operations node that owns `Base64(endpointKeyHash)` on the hash ring. The
//! owner knows which node serves the endpoint's session now and forwards the message there as a
//! *local* message, which that node turns into a push. A node that receives a local message for
//! an endpoint it does not serve drops it: the endpoint gets the change on its next sync anyway.
//!
//! [`EndpointRouter`] sends; the receiving `OperationsService` handler reads a message back with
//! [`wire::decode`], the inverse of the [`wire::encode`] the router sends with.

use base64::Engine as _;
use kaa_idl::thrift::operations::TOperationsServiceSyncClient;

use crate::Cluster;
use crate::rpc::{PeerAddr, RpcError};

pub mod wire;

use wire::WireMessage;

/// What an endpoint is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointMessage {
    /// A unicast notification with this id is stored for it.
    Unicast(String),
    /// Its server-side profile changed.
    ServerProfile,
    /// Its credentials were revoked.
    Deregistration,
    /// Another endpoint, named by its access token, attached it to its owner or detached it.
    OwnerChanged {
        /// The access token of the endpoint that made the change.
        by_access_token: String,
    },
}

/// Which hop a message is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// To the endpoint's global owner on the ring.
    Global,
    /// To the node serving the endpoint's session.
    Local,
}

/// Who the message is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointAddress {
    /// Tenant id.
    pub tenant_id: String,
    /// Application token.
    pub app_token: String,
    /// SHA-1 of the endpoint's public key.
    pub key_hash: Vec<u8>,
}

/// Why a message could not be routed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No Operations node is live (or the named one is gone).
    #[error("no live operations node for this endpoint")]
    NoNode,
    /// The call failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// Sends endpoint messages to Operations nodes, with the node's shared client pool.
#[derive(Clone)]
pub struct EndpointRouter {
    cluster: Cluster,
}

/// The ring key of an endpoint: standard Base64 of its key hash, as Kaa hashes it.
pub fn ring_key(key_hash: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key_hash)
}

impl EndpointRouter {
    /// A router over the cluster's live view.
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }

    /// The node id of the endpoint's global owner.
    pub fn owner(&self, key_hash: &[u8]) -> Option<String> {
        let view = self.cluster.view();
        view.ring.owner(&ring_key(key_hash)).map(str::to_owned)
    }

    /// Sends `message` for `address` to Operations node `node_id` on `hop`.
    pub async fn send(
        &self,
        node_id: &str,
        hop: Hop,
        address: &EndpointAddress,
        message: EndpointMessage,
    ) -> Result<(), RouteError> {
        let peer = self.peer(node_id).ok_or(RouteError::NoNode)?;
        let wire = wire::encode(hop, address, message);
        self.cluster
            .operations_clients()
            .call(&peer, move |client| match wire {
                WireMessage::Unicast(message) => client.on_unicast_notification(message),
                WireMessage::ServerProfile(message) => client.on_server_profile_update(message),
                WireMessage::Deregistration(message) => client.on_endpoint_deregistration(message),
                WireMessage::OwnerChange(message) => client.on_owner_change(message),
            })
            .await?;
        Ok(())
    }

    fn peer(&self, node_id: &str) -> Option<PeerAddr> {
        let view = self.cluster.view();
        let info = view.operations.get(node_id)?;
        let port = u16::try_from(info.connection_info.thrift_port).ok()?;
        Some(PeerAddr::new(
            info.connection_info.thrift_host.clone(),
            port,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_key_is_standard_base64_with_padding() {
        assert_eq!(ring_key(b""), "");
        assert_eq!(ring_key(b"f"), "Zg==");
        assert_eq!(ring_key(b"fo"), "Zm8=");
        assert_eq!(ring_key(b"foo"), "Zm9v");
        assert_eq!(ring_key(&[0xfb, 0xff]), "+/8=");
    }
}
