//! The Bootstrap service: hands endpoints the list of live Operations servers.
//!
//! An endpoint sends a `SyncRequest` with a bootstrap section naming the transports it speaks
//! (id and version); the answer lists one `ProtocolMetaData` per live Operations node and
//! matching transport, read from the cluster view (ZooKeeper, or this node when standalone):
//! the access point id (signed CRC32 of the node's Thrift `host:port`), and the connection info
//! with the node's public key, host and port. Nothing is stored and no session is kept. The
//! service listens on Kaatcp (default 9888) and HTTP `/BS/Sync` (default 9889), whose answers are
//! signed with this node's key.

use std::sync::Arc;

use kaa_cluster::Cluster;
use kaa_cluster::membership::ClusterView;
use kaa_idl::endpoint::crypto::access_point_id;
use kaa_idl::endpoint::sync::{
    BootstrapSyncResponse, ProtocolMetaData, ProtocolVersionPair, SyncRequest, SyncResponse,
    SyncResponseResultType,
};
use kaa_transport::http::Paths;
use kaa_transport::tcp::TcpSettings;
use kaa_transport::{
    Channel, EndpointService, Identified, Listeners, NodeKeys, Serving, SyncFailure,
};
use tokio::sync::mpsc;

/// A running Bootstrap service.
pub struct BootstrapService {
    serving: Serving,
}

impl BootstrapService {
    /// Starts answering on `listeners` from the cluster's live view; `allow_plaintext` lets
    /// Kaatcp clients bootstrap without a session key (the C SDK does).
    pub fn start(
        cluster: Cluster,
        keys: NodeKeys,
        listeners: Listeners,
        allow_plaintext: bool,
    ) -> std::io::Result<Self> {
        let serving = Serving::start(
            listeners,
            Paths::Bootstrap,
            Arc::new(ServerList { cluster }),
            keys,
            TcpSettings {
                allow_plaintext,
                ..TcpSettings::default()
            },
        )?;
        tracing::info!("bootstrap service started");
        Ok(Self { serving })
    }

    /// Stops listening and lets answers in flight finish.
    pub async fn stop(self) {
        self.serving.stop().await;
        tracing::info!("bootstrap service stopped");
    }
}

/// Answers bootstrap requests from the cluster view.
struct ServerList {
    cluster: Cluster,
}

impl EndpointService for ServerList {
    type Session = ();
    type Push = ();
    type Identity = ();
    const KEEPS_SESSIONS: bool = false;
    const SIGNS_RESPONSES: bool = true;
    const VERIFIES_SIGNATURES: bool = false;

    fn open(&self, _pushes: mpsc::Sender<()>, _identity: Option<()>, _channel: Channel) {}

    async fn identify(&self, _key_hash: &[u8]) -> Result<Identified<()>, SyncFailure> {
        Ok(Identified {
            public_key: None,
            identity: (),
        })
    }

    async fn sync(
        &self,
        _session: &mut (),
        request: SyncRequest,
    ) -> Result<SyncResponse, SyncFailure> {
        let bootstrap = request.bootstrap_sync_request.as_ref().ok_or_else(|| {
            SyncFailure::BadRequest("bootstrap request has no bootstrap section".into())
        })?;
        let mut response = SyncResponse::new(request.request_id, SyncResponseResultType::Success);
        response.bootstrap_sync_response = Some(BootstrapSyncResponse {
            request_id: bootstrap.request_id,
            supported_protocols: server_list(&self.cluster.view(), &bootstrap.supported_protocols),
        });
        Ok(response)
    }

    async fn push(
        &self,
        _session: &mut (),
        _push: (),
    ) -> Result<Option<SyncResponse>, SyncFailure> {
        Ok(None)
    }

    fn close(&self, _session: ()) {}
}

/// One entry per live Operations node and transport it offers in a version the endpoint speaks.
pub fn server_list(view: &ClusterView, wanted: &[ProtocolVersionPair]) -> Vec<ProtocolMetaData> {
    let mut list = Vec::new();
    for node in view.operations.values() {
        let connection = &node.connection_info;
        let Ok(port) = u16::try_from(connection.thrift_port) else {
            continue;
        };
        let access_point_id = access_point_id(&connection.thrift_host, port);
        for transport in &node.transports {
            for pair in wanted.iter().filter(|p| p.id == transport.id) {
                if pair.version < transport.min_supported_version
                    || pair.version > transport.max_supported_version
                {
                    continue;
                }
                for info in transport
                    .connection_info
                    .iter()
                    .filter(|i| i.version == pair.version)
                {
                    list.push(ProtocolMetaData {
                        access_point_id,
                        protocol_version_info: pair.clone(),
                        connection_info: info.connection_info.clone(),
                    });
                }
            }
        }
    }
    list
}
