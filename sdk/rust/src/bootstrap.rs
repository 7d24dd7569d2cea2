//! Bootstrap: asking a Bootstrap server (over Kaatcp or HTTP) which Operations servers are live,
//! with their public keys and transports.

use std::time::Duration;

use kaa_idl::endpoint::crypto::{TRANSPORT_HTTP_ID, TRANSPORT_TCP_ID, TRANSPORT_VERSION};
use kaa_idl::endpoint::sync::{
    BootstrapSyncRequest, ProtocolVersionPair, SyncRequest, SyncRequestMetaData, SyncResponse,
};
use kaa_idl::zk::TransportConnectionInfo;

use crate::channel::{Channel, Security};
use crate::keys::EndpointKeys;
use crate::{SdkError, http};

/// A transport an Operations server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Kaatcp.
    Tcp,
    /// HTTP.
    Http,
}

/// One entry of the bootstrap answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationsServer {
    /// Kaa's access point id of the node (CRC32 of its Thrift address).
    pub access_point_id: i32,
    /// Which transport.
    pub transport: Transport,
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// The node's public key, X.509 DER.
    pub public_key: Vec<u8>,
}

impl OperationsServer {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Asks the Bootstrap server at `addr` (its Kaatcp port) for Operations servers speaking TCP or
/// HTTP v1.
pub async fn fetch_servers(
    addr: &str,
    security: Security<'_>,
    sdk_token: &str,
    timeout: Duration,
) -> Result<Vec<OperationsServer>, SdkError> {
    let (channel, response) =
        Channel::connect(addr, None, security, 60, &request(sdk_token), timeout).await?;
    channel.close().await;
    servers(response)
}

/// Asks the Bootstrap server at `addr` (its HTTP port, `/BS/Sync`) for Operations servers; the
/// answer must carry the server's signature by `server_key`.
pub async fn fetch_servers_http(
    addr: &str,
    server_key: &[u8],
    endpoint: &EndpointKeys,
    sdk_token: &str,
    timeout: Duration,
) -> Result<Vec<OperationsServer>, SdkError> {
    let response = http::sync(
        addr,
        http::Path::Bootstrap,
        server_key,
        endpoint,
        &request(sdk_token),
        timeout,
    )
    .await?;
    servers(response)
}

/// The bootstrap request of the Java SDK: TCP and HTTP, version 1.
fn request(sdk_token: &str) -> SyncRequest {
    SyncRequest {
        request_id: 1,
        sync_request_meta_data: Some(SyncRequestMetaData {
            sdk_token: sdk_token.to_owned(),
            endpoint_public_key_hash: None,
            profile_hash: None,
            timeout: None,
        }),
        bootstrap_sync_request: Some(BootstrapSyncRequest {
            request_id: 1,
            supported_protocols: vec![
                ProtocolVersionPair {
                    id: TRANSPORT_HTTP_ID,
                    version: TRANSPORT_VERSION,
                },
                ProtocolVersionPair {
                    id: TRANSPORT_TCP_ID,
                    version: TRANSPORT_VERSION,
                },
            ],
        }),
        ..SyncRequest::default()
    }
}

fn servers(response: SyncResponse) -> Result<Vec<OperationsServer>, SdkError> {
    let answer = response
        .bootstrap_sync_response
        .ok_or_else(|| SdkError::Protocol("bootstrap answer has no bootstrap section".into()))?;
    answer
        .supported_protocols
        .into_iter()
        .map(|entry| {
            let transport = match entry.protocol_version_info.id {
                TRANSPORT_TCP_ID => Transport::Tcp,
                TRANSPORT_HTTP_ID => Transport::Http,
                other => return Err(SdkError::Protocol(format!("unknown transport {other}"))),
            };
            let info = TransportConnectionInfo::decode(&entry.connection_info)
                .map_err(|e| SdkError::Protocol(format!("connection info: {e}")))?;
            Ok(OperationsServer {
                access_point_id: entry.access_point_id,
                transport,
                host: info.host,
                port: u16::try_from(info.port)
                    .map_err(|_| SdkError::Protocol(format!("bad port {}", info.port)))?,
                public_key: info.public_key,
            })
        })
        .collect()
}
