//! One simulated endpoint's encrypted Kaatcp session, the layer every mode drives: the SDK's
//! [`Channel`] bound to a source address, opened with the endpoint's own key from the pool and
//! a first request that registers it (profile with its public key, configuration, notifications,
//! as the Java SDK's first sync), then requests, pushes and pings. With `--transport http` the
//! same session runs over Kaa's HTTP transport instead ([`crate::loadgen::http`]: one POST per
//! request, no pushes, no pings).
//!
//! A session holds only what an endpoint must: the channel, its key hash, the hash of the
//! configuration it holds and its request counter; the key pair is dropped once CONNECT is
//! signed (over HTTP it is kept, to sign each request) and the shared [`Target`] is behind an
//! `Arc`.
//!
//! Flow: [`Target::bootstrap`] once per run (Operations servers and their keys), then per
//! endpoint [`Session::open`] → [`Session::request`] + [`Session::send`] / [`Session::receive`]
//! (or [`Session::round_trip`]), [`Session::ping`] at keepalive/2, [`Session::close`]. Failures
//! are [`SessionError`]s whose [`SessionError::tally_key`] is what the result counts them under.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kaa_sdk::SdkError;
use kaa_sdk::bootstrap::{OperationsServer, Transport, fetch_servers};
use kaa_sdk::channel::{Channel, Security, SessionKeys};
use kaa_sdk::idl::endpoint::crypto::sha1;
use kaa_sdk::idl::endpoint::sync::{
    ConfigurationSyncRequest, EventSequenceNumberRequest, EventSyncRequest,
    NotificationSyncRequest, ProfileSyncRequest, SyncRequest, SyncRequestMetaData, SyncResponse,
    SyncResponseResultType,
};
use kaa_sdk::keys::EndpointKeys;

use crate::loadgen::http::{HttpClients, HttpLink};

/// What every session of a run talks to.
#[derive(Debug)]
pub struct Target {
    /// The Operations servers speaking the run's transport; session `i` uses server `i % len`.
    pub servers: Vec<OperationsServer>,
    /// Kaatcp, or HTTP (one POST per sync).
    pub transport: Transport,
    /// The HTTP clients of the source addresses (HTTP only).
    pub http: HttpClients,
    /// The application's SDK token.
    pub sdk_token: String,
    /// Kaatcp keepalive announced in CONNECT, seconds.
    pub keep_alive: u16,
    /// How long a connect or an answer may take.
    pub timeout: Duration,
}

impl Target {
    /// Asks the Bootstrap server at `bootstrap` (its Kaatcp port, plaintext) for the Operations
    /// servers that speak `transport`.
    pub async fn bootstrap(
        bootstrap: &str,
        sdk_token: &str,
        transport: Transport,
        keep_alive: u16,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let servers = fetch_servers(bootstrap, Security::Plain, sdk_token, timeout)
            .await
            .with_context(|| format!("bootstrapping from {bootstrap}"))?;
        let servers: Vec<_> = servers
            .into_iter()
            .filter(|server| server.transport == transport)
            .collect();
        anyhow::ensure!(
            !servers.is_empty(),
            "the Bootstrap server at {bootstrap} knows no Operations server speaking {transport:?} \
             (is the SDK token right and an Operations service running?)"
        );
        Ok(Self {
            servers,
            transport,
            http: HttpClients::default(),
            sdk_token: sdk_token.to_owned(),
            keep_alive,
            timeout,
        })
    }

    /// The server session `index` connects to.
    pub fn server(&self, index: usize) -> &OperationsServer {
        &self.servers[index % self.servers.len()]
    }
}

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The node refused CONNECT or ended the session (the CONNACK code or DISCONNECT reason).
    #[error("refused: {0}")]
    Refused(String),
    /// The node answered a sync with a failure status.
    #[error("the node answered {0:?}")]
    Failed(SyncResponseResultType),
    /// No local port left on the source address.
    #[error("port range exhausted on {0}: add --sources")]
    PortsExhausted(IpAddr),
    /// The node closed the connection.
    #[error("the node closed the connection")]
    Closed,
    /// Something took longer than the timeout.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// Any other failure of the SDK's channel.
    #[error(transparent)]
    Sdk(SdkError),
}

impl SessionError {
    fn from_sdk(error: SdkError, source: IpAddr) -> Self {
        match error {
            SdkError::Refused(text) => Self::Refused(refusal_reason(&text)),
            SdkError::Timeout(what) => Self::Timeout(what),
            SdkError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AddrNotAvailable
                ) =>
            {
                Self::PortsExhausted(source)
            }
            SdkError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                Self::Closed
            }
            other => Self::Sdk(other),
        }
    }

    /// Whether the node refused (counted under `refused`, not `errors`).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused(_))
    }

    /// The key the result counts this failure under: the refusal's code or reason
    /// (`ServerUnavailable`, `DISCONNECT Unauthorized`, …) or an error kind.
    pub fn tally_key(&self) -> String {
        match self {
            Self::Refused(reason) => reason.clone(),
            Self::Failed(status) => format!("answer {status:?}"),
            Self::PortsExhausted(source) => format!("ports exhausted on {source}"),
            Self::Closed => "closed by the node".to_owned(),
            Self::Timeout(what) => format!("timeout {what}"),
            Self::Sdk(SdkError::Io(io)) => format!("io {:?}", io.kind()),
            Self::Sdk(SdkError::Protocol(_)) => "protocol".to_owned(),
            Self::Sdk(SdkError::Keys(_)) => "keys".to_owned(),
            Self::Sdk(SdkError::Redirected(_)) => "redirected".to_owned(),
            Self::Sdk(other) => format!("sdk {other}"),
        }
    }
}

/// `ServerUnavailable` from the SDK's "CONNACK 0x03 ServerUnavailable: …", `DISCONNECT Xxx`
/// from "DISCONNECT Xxx".
fn refusal_reason(text: &str) -> String {
    let mut words = text.split_whitespace();
    match words.next() {
        Some("CONNACK") => words
            .nth(1)
            .map(|code| code.trim_end_matches(':').to_owned())
            .unwrap_or_else(|| text.to_owned()),
        _ => text.to_owned(),
    }
}

/// One simulated endpoint's open session.
pub struct Session {
    link: Link,
    target: Arc<Target>,
    index: u32,
    key_hash: [u8; 20],
    configuration_hash: Option<[u8; 20]>,
    next_request_id: i32,
    source: IpAddr,
}

/// How a session reaches its server.
enum Link {
    /// One Kaatcp connection.
    Kaatcp(Channel),
    /// One POST per sync (keeps the key pair, to sign each); boxed, so a Kaatcp session does not
    /// carry its size.
    Http(Box<HttpLink>),
}

impl Session {
    /// Connects endpoint `index` from `source` to its server, signing CONNECT (over HTTP: each
    /// request) with `keys`, or with `presigned` key material made before, and registers it
    /// (empty profile); returns the session and the node's first answer, which carries the
    /// configuration the endpoint now holds.
    pub async fn open(
        target: &Arc<Target>,
        index: usize,
        keys: EndpointKeys,
        presigned: Option<SessionKeys>,
        source: IpAddr,
    ) -> Result<(Self, SyncResponse), SessionError> {
        let server = target.server(index);
        let key_hash = *keys.key_hash();
        let first = SyncRequest {
            request_id: 1,
            sync_request_meta_data: Some(meta(&target.sdk_token, &key_hash)),
            profile_sync_request: Some(ProfileSyncRequest {
                endpoint_public_key: Some(keys.public_der().to_vec()),
                profile_body: Vec::new(),
                endpoint_access_token: None,
            }),
            configuration_sync_request: Some(ConfigurationSyncRequest {
                configuration_hash: Vec::new(),
                resync_only: Some(true),
            }),
            notification_sync_request: Some(NotificationSyncRequest {
                topic_list_hash: 0,
                topic_states: Some(Vec::new()),
                accepted_unicast_notifications: Some(Vec::new()),
                subscription_commands: Some(Vec::new()),
            }),
            event_sync_request: Some(EventSyncRequest {
                event_sequence_number_request: Some(EventSequenceNumberRequest),
                event_listeners_requests: None,
                events: None,
            }),
            ..SyncRequest::default()
        };
        let failed = |e| SessionError::from_sdk(e, source);
        let (link, answer) = match target.transport {
            Transport::Tcp => {
                let session_keys = match presigned {
                    Some(made) => made,
                    None => SessionKeys::prepare(Security::Encrypted {
                        server_key: &server.public_key,
                        endpoint: &keys,
                    })
                    .map_err(failed)?,
                };
                let (channel, answer) = Channel::connect_from(
                    source,
                    &server.address(),
                    None,
                    session_keys,
                    target.keep_alive,
                    &first,
                    target.timeout,
                )
                .await
                .map_err(failed)?;
                (Link::Kaatcp(channel), answer)
            }
            Transport::Http => {
                let client = target.http.for_source(source).map_err(failed)?;
                let (link, answer) = HttpLink::open(client, server, keys, &first, target.timeout)
                    .await
                    .map_err(failed)?;
                (Link::Http(Box::new(link)), answer)
            }
        };
        let mut session = Self {
            link,
            target: target.clone(),
            index: index as u32,
            key_hash,
            configuration_hash: None,
            next_request_id: 2,
            source,
        };
        session.take(&answer)?;
        Ok((session, answer))
    }

    /// The endpoint's index in the pool.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// The endpoint's key hash (its identity on the node).
    pub fn key_hash(&self) -> &[u8; 20] {
        &self.key_hash
    }

    /// A new request of this endpoint: the next request id and the metadata; the caller adds
    /// its sections.
    pub fn request(&mut self) -> SyncRequest {
        let request_id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        SyncRequest {
            request_id,
            sync_request_meta_data: Some(meta(&self.target.sdk_token, &self.key_hash)),
            ..SyncRequest::default()
        }
    }

    /// A configuration sync of the configuration the endpoint holds (the node answers
    /// `NO_DELTA` unless it changed).
    pub fn configuration_sync(&mut self) -> SyncRequest {
        let configuration_hash = self
            .configuration_hash
            .map(|hash| hash.to_vec())
            .unwrap_or_default();
        SyncRequest {
            configuration_sync_request: Some(ConfigurationSyncRequest {
                configuration_hash,
                resync_only: Some(true),
            }),
            ..self.request()
        }
    }

    /// Sends `request`; the answer comes through [`Session::receive`].
    pub async fn send(&mut self, request: &SyncRequest) -> Result<(), SessionError> {
        let source = self.source;
        match &mut self.link {
            Link::Kaatcp(channel) => channel.send(request).await,
            Link::Http(link) => link.send(request).await,
        }
        .map_err(|e| SessionError::from_sdk(e, source))
    }

    /// The next answer or push (PINGRESP is skipped); a configuration in it becomes the one the
    /// endpoint holds. Cancel-safe.
    pub async fn receive(&mut self) -> Result<SyncResponse, SessionError> {
        let source = self.source;
        let response = match &mut self.link {
            Link::Kaatcp(channel) => channel.receive().await,
            Link::Http(link) => link.receive().await,
        }
        .map_err(|e| SessionError::from_sdk(e, source))?;
        self.take(&response)?;
        Ok(response)
    }

    /// Sends `request` and waits at most the target's timeout for the next response.
    pub async fn round_trip(
        &mut self,
        request: &SyncRequest,
    ) -> Result<SyncResponse, SessionError> {
        self.send(request).await?;
        tokio::time::timeout(self.target.timeout, self.receive())
            .await
            .map_err(|_| SessionError::Timeout("an answer"))?
    }

    /// Sends PINGREQ (its PINGRESP is skipped by [`Session::receive`]); over HTTP, nothing
    /// (there is no connection to keep alive).
    pub async fn ping(&mut self) -> Result<(), SessionError> {
        let source = self.source;
        match &mut self.link {
            Link::Kaatcp(channel) => channel
                .ping()
                .await
                .map_err(|e| SessionError::from_sdk(e, source)),
            Link::Http(_) => Ok(()),
        }
    }

    /// PINGREQ → PINGRESP: one transport round trip without sync work (Kaatcp only).
    pub async fn ping_round_trip(&mut self) -> Result<(), SessionError> {
        let source = self.source;
        let Link::Kaatcp(channel) = &mut self.link else {
            return Err(SessionError::Sdk(SdkError::Protocol(
                "HTTP has no PINGREQ: the ping baseline needs --transport tcp".into(),
            )));
        };
        tokio::time::timeout(self.target.timeout, channel.ping_round_trip())
            .await
            .map_err(|_| SessionError::Timeout("PINGRESP"))?
            .map_err(|e| SessionError::from_sdk(e, source))
    }

    /// When bytes last came from the node.
    pub fn last_read(&self) -> tokio::time::Instant {
        match &self.link {
            Link::Kaatcp(channel) => channel.last_read(),
            Link::Http(link) => link.last_answer(),
        }
    }

    /// Says goodbye (DISCONNECT) and closes; over HTTP there is nothing to close.
    pub async fn close(self) {
        if let Link::Kaatcp(channel) = self.link {
            channel.close().await;
        }
    }

    /// Keeps the configuration an answer carries; fails on a failure status.
    fn take(&mut self, response: &SyncResponse) -> Result<(), SessionError> {
        if response.status != SyncResponseResultType::Success {
            return Err(SessionError::Failed(response.status));
        }
        if let Some(body) = response
            .configuration_sync_response
            .as_ref()
            .and_then(|c| c.conf_delta_body.as_ref())
        {
            self.configuration_hash = Some(sha1(body));
        }
        Ok(())
    }
}

fn meta(sdk_token: &str, key_hash: &[u8; 20]) -> SyncRequestMetaData {
    SyncRequestMetaData {
        sdk_token: sdk_token.to_owned(),
        endpoint_public_key_hash: Some(key_hash.to_vec()),
        profile_hash: Some(sha1(&[]).to_vec()),
        timeout: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_counted_under_its_connack_code() {
        assert_eq!(
            refusal_reason("CONNACK 0x03 ServerUnavailable: the server failed"),
            "ServerUnavailable"
        );
        assert_eq!(
            refusal_reason("DISCONNECT Unauthorized"),
            "DISCONNECT Unauthorized"
        );
    }
}
