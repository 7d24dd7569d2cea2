//! Kaa's HTTP transport from the endpoint's side: one `POST` per sync, the `multipart/form-data`
//! body Kaa's Java SDK sends (`signature`, `requestKey`, `requestData`, `nextProtocol`), always
//! encrypted under a fresh session key wrapped for the server. Bootstrap answers are signed by the
//! server (`X-SIGNATURE`), and this client checks the signature.

use std::time::Duration;

use base64::Engine as _;
use kaa_idl::endpoint::crypto::{self, PublicKey, SessionKey};
use kaa_idl::endpoint::http::{SIGNATURE_HEADER, SyncBody, content_type};
use kaa_idl::endpoint::sync::{SyncRequest, SyncResponse};

use crate::SdkError;
use crate::keys::EndpointKeys;

/// Which HTTP sync path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// `/BS/Sync`: bootstrap (unsigned request, signed answer).
    Bootstrap,
    /// `/EP/Sync`: one Operations sync.
    Sync,
    /// `/EP/LongSync`: an Operations sync the server may hold until it has news.
    LongSync,
}

impl Path {
    fn as_str(self) -> &'static str {
        match self {
            Path::Bootstrap => "/BS/Sync",
            Path::Sync => "/EP/Sync",
            Path::LongSync => "/EP/LongSync",
        }
    }
}

const BOUNDARY: &str = "kaa-rs-sdk-7d3f0c2a9b41";

/// Sends `request` to the server at `address` (`host:port`) whose public key is `server_key`,
/// and returns its decrypted answer.
pub async fn sync(
    address: &str,
    path: Path,
    server_key: &[u8],
    endpoint: &EndpointKeys,
    request: &SyncRequest,
    timeout: Duration,
) -> Result<SyncResponse, SdkError> {
    let client = reqwest::Client::new();
    sync_with(
        &client, address, path, server_key, endpoint, request, timeout,
    )
    .await
}

/// As [`sync`], over `client` (its connection pool, and whatever it was built with, such as a
/// local address): many endpoints of one process can share one client.
pub async fn sync_with(
    client: &reqwest::Client,
    address: &str,
    path: Path,
    server_key: &[u8],
    endpoint: &EndpointKeys,
    request: &SyncRequest,
    timeout: Duration,
) -> Result<SyncResponse, SdkError> {
    let keys_error = |e: crypto::CryptoError| SdkError::Keys(e.to_string());
    let server = PublicKey::from_der(server_key).map_err(keys_error)?;
    let session_key = SessionKey::generate().map_err(keys_error)?;
    let request_key = server.wrap_session_key(&session_key).map_err(keys_error)?;
    let signature = match path {
        Path::Bootstrap => None,
        Path::Sync | Path::LongSync => {
            Some(endpoint.pair().sign(&request_key).map_err(keys_error)?)
        }
    };
    let body = SyncBody {
        signature,
        request_key,
        request_data: session_key.encrypt(&request.encode()),
        next_protocol: Some(crypto::PROTOCOL_AVRO_V2),
    }
    .encode(BOUNDARY);
    let response = client
        .post(format!("http://{address}{}", path.as_str()))
        .header(reqwest::header::CONTENT_TYPE, content_type(BOUNDARY))
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| SdkError::Unreachable(e.to_string()))?;
    let status = response.status();
    let server_signature = response
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SdkError::Unreachable(e.to_string()))?;
    if !status.is_success() {
        return Err(SdkError::Refused(format!(
            "HTTP {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(&bytes)
        )));
    }
    let plain = session_key
        .decrypt(&bytes)
        .map_err(|e| SdkError::Protocol(format!("response: {e}")))?;
    if path == Path::Bootstrap {
        let signature = server_signature
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .ok_or_else(|| SdkError::Protocol("bootstrap answer is not signed".into()))?;
        server
            .verify(&plain, &signature)
            .map_err(|e| SdkError::Protocol(format!("bootstrap signature: {e}")))?;
    }
    SyncResponse::decode(&plain).map_err(|e| SdkError::Protocol(e.to_string()))
}
