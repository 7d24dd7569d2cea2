//! Endpoint transports shared by the Bootstrap and Operations services: the Kaatcp listener, the
//! HTTP listener (`/BS/Sync`, `/EP/Sync`, `/EP/LongSync`), Kaa's session crypto and the node's
//! RSA key pair.
//!
//! Bytes become typed messages in `kaa-idl`'s pure codecs; this crate owns the sockets around
//! them. A service plugs in through [`EndpointService`]: it turns each decrypted `SyncRequest`
//! into a `SyncResponse`, and may push unsolicited responses to a live session. Each connection
//! is one lightweight task holding a few KB of state; nothing on the sync path takes a global
//! lock. In front of both transports stand the service's limits ([`limits`]: connection caps,
//! the connect deadline, keepalive and size caps) and the node's bounded pool of private-key work
//! ([`key_work`]).

mod connection;
mod failure;
pub mod http;
pub mod key_work;
pub mod keys;
pub mod limits;
pub mod pushes;
mod secure;
pub mod tcp;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use kaa_idl::endpoint::sync::{SyncRequest, SyncResponse};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{HttpListener, HttpSettings, Paths};
use crate::limits::Admission;
use crate::tcp::TcpSettings;

pub use connection::Channel;
pub use failure::{AUTHENTICATION_FAILED, AuthFailure, SyncFailure};
pub use keys::NodeKeys;
pub use pushes::{PushSender, TrySendError};

/// What a service holds for the endpoint a session start names.
#[derive(Debug)]
pub struct Identified<I> {
    /// The endpoint's stored public key (X.509 DER); `None` when it is not registered.
    pub public_key: Option<Vec<u8>>,
    /// Handed to the session ([`EndpointService::open`]).
    pub identity: I,
}

/// What a service answers on an endpoint transport.
pub trait EndpointService: Send + Sync + 'static {
    /// Per-session state, created when a connection opens.
    type Session: Send + 'static;
    /// What can be pushed to a live session.
    type Push: Send + 'static;
    /// What a session start read about its endpoint while checking the signature (Operations:
    /// the stored profile).
    type Identity: Send + 'static;

    /// Whether sessions outlive their first request. Bootstrap answers one request and keeps
    /// nothing; Operations keeps sessions for pushes and later requests.
    const KEEPS_SESSIONS: bool;

    /// Whether HTTP responses carry `X-SIGNATURE` (Bootstrap signs its answers).
    const SIGNS_RESPONSES: bool;

    /// Whether every session start must be encrypted and signed by the endpoint's key
    /// (Operations); Bootstrap ignores signatures, as Kaa.
    const VERIFIES_SIGNATURES: bool;

    /// A new session whose pushes arrive through `pushes`. `identity` is what the session start
    /// read to check the signature ([`EndpointService::identify`]), handed on so the first sync
    /// does not read it again; `None` when the start read nothing. `channel` says how the session
    /// takes pushes (an endpoint may have several sessions at once).
    fn open(
        &self,
        pushes: PushSender<Self::Push>,
        identity: Option<Self::Identity>,
        channel: Channel,
    ) -> Self::Session;

    /// What the service holds for endpoint `key_hash` at a session start: its stored public key
    /// (X.509 DER), against which the start's signature is checked, and the identity handed to
    /// the session. Called only when [`EndpointService::VERIFIES_SIGNATURES`].
    fn identify(
        &self,
        key_hash: &[u8],
    ) -> impl Future<Output = Result<Identified<Self::Identity>, SyncFailure>> + Send;

    /// A session start was refused because it did not prove the endpoint's identity (for
    /// metrics; the endpoint is told nothing about the reason).
    fn refused(&self, reason: AuthFailure) {
        let _ = reason;
    }

    /// Answers one request.
    fn sync(
        &self,
        session: &mut Self::Session,
        request: SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncFailure>> + Send;

    /// Turns a push into an unsolicited response, or nothing if the endpoint has it already.
    fn push(
        &self,
        session: &mut Self::Session,
        push: Self::Push,
    ) -> impl Future<Output = Result<Option<SyncResponse>, SyncFailure>> + Send;

    /// The session ended.
    fn close(&self, session: Self::Session);
}

/// The two listening sockets of an endpoint service, bound by the node before start-up so a
/// port in use fails the start with its config key, and what stands in front of them: TLS, if
/// any, the service's connection caps and how each transport reads.
pub struct Listeners {
    /// Kaatcp.
    pub tcp: tokio::net::TcpListener,
    /// HTTP.
    pub http: std::net::TcpListener,
    /// TLS for both, when configured.
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Admits connections on both.
    pub admission: Arc<Admission>,
    /// How the Kaatcp listener reads and what it allows.
    pub tcp_settings: TcpSettings,
    /// How the HTTP listener reads and what it allows.
    pub http_settings: HttpSettings,
}

/// A service answering on both transports; [`Serving::stop`] ends both.
pub struct Serving {
    http: HttpListener,
    stop_tcp: CancellationToken,
    tasks: TaskTracker,
}

impl Serving {
    /// Serves `service` on both `listeners` (HTTP on `paths`).
    pub fn start<S: EndpointService>(
        listeners: Listeners,
        paths: Paths,
        service: Arc<S>,
        keys: NodeKeys,
    ) -> std::io::Result<Self> {
        let stop_tcp = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(tcp::serve(
            listeners.tcp,
            service.clone(),
            keys.clone(),
            listeners.tcp_settings,
            listeners.tls.clone(),
            listeners.admission.clone(),
            stop_tcp.clone(),
            tasks.clone(),
        ));
        let http = http::serve(
            listeners.http,
            listeners.tls,
            paths,
            service,
            keys,
            listeners.http_settings,
            listeners.admission,
        )?;
        Ok(Self {
            http,
            stop_tcp,
            tasks,
        })
    }

    /// Stops accepting; open Kaatcp sessions get DISCONNECT, HTTP requests in flight finish.
    pub async fn stop(self) {
        self.stop_tcp.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.http.stop().await;
    }
}
