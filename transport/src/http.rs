//! The HTTP listener: Kaa's `POST /BS/Sync` (Bootstrap), `/EP/Sync` and `/EP/LongSync`
//! (Operations), each body a `multipart/form-data` of `signature`, `requestKey`, `requestData`
//! and `nextProtocol`.
//!
//! Every HTTP request is its own session, run by the session logic Kaatcp shares
//! ([`Session`]): the wrapped key, signature and request are checked as for a Kaatcp CONNECT,
//! and the answer is AES-encrypted under the request's key with the content type
//! `"application/x-kaa"` (quotes included, as Kaa sends it). Bootstrap answers are signed in
//! `X-SIGNATURE`. A long sync is a channel waiting for pushes: when its answer has nothing new it
//! waits, up to the endpoint's timeout, for a push and answers with it, every section merged;
//! an `/EP/Sync` answers at once with the pushes that came while it ran. Failures map to 400/403/500 with a plain-text reason, the same one for
//! every refusal of the endpoint's identity.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use kaa_idl::endpoint::http::{
    RESPONSE_CONTENT_TYPE, RESPONSE_TYPE_HEADER, RESPONSE_TYPE_OPERATION, SIGNATURE_HEADER,
    SyncBody, boundary,
};
use tokio_rustls::rustls::ServerConfig;

use crate::connection::{Channel, Session, Started};
use crate::secure::Opening;
use crate::{EndpointService, NodeKeys, SyncFailure};

/// Limits of an HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest body accepted (Kaa: 512 KiB).
    pub max_body: usize,
    /// Longest a long sync waits for something to answer with.
    pub max_long_poll: Duration,
    /// Worker threads.
    pub workers: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body: 512 * 1024,
            max_long_poll: Duration::from_secs(60),
            workers: 2,
        }
    }
}

/// Which sync paths a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paths {
    /// `/BS/Sync`.
    Bootstrap,
    /// `/EP/Sync` and `/EP/LongSync`.
    Operations,
}

/// A running HTTP listener.
pub struct HttpListener {
    handle: ServerHandle,
    /// Where it listens.
    pub addrs: Vec<SocketAddr>,
}

impl HttpListener {
    /// Stops accepting and lets requests in flight finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

struct Shared<S> {
    service: Arc<S>,
    keys: NodeKeys,
    settings: HttpSettings,
}

/// Serves `paths` on `listener` for `service`, behind TLS when `tls` is given.
pub fn serve<S: EndpointService>(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    paths: Paths,
    service: Arc<S>,
    keys: NodeKeys,
    settings: HttpSettings,
) -> std::io::Result<HttpListener> {
    let workers = settings.workers.max(1);
    let max_body = settings.max_body;
    let shared = web::Data::new(Shared {
        service,
        keys,
        settings,
    });
    let server = HttpServer::new(move || {
        let app = App::new()
            .app_data(shared.clone())
            .app_data(web::PayloadConfig::new(max_body));
        match paths {
            Paths::Bootstrap => app.route("/BS/Sync", web::post().to(sync::<S>)),
            Paths::Operations => app
                .route("/EP/Sync", web::post().to(sync::<S>))
                .route("/EP/LongSync", web::post().to(long_sync::<S>)),
        }
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(5);
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, (*config).clone())?,
        None => server.listen(listener)?,
    };
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(HttpListener { handle, addrs })
}

async fn sync<S: EndpointService>(
    shared: web::Data<Shared<S>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    answer(&shared, &request, &body, false).await
}

async fn long_sync<S: EndpointService>(
    shared: web::Data<Shared<S>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    answer(&shared, &request, &body, true).await
}

async fn answer<S: EndpointService>(
    shared: &Shared<S>,
    request: &HttpRequest,
    body: &[u8],
    long: bool,
) -> HttpResponse {
    match run(shared, request, body, long).await {
        Ok(response) => response,
        Err(failure) => {
            tracing::debug!(%failure, path = request.path(), "http sync failed");
            HttpResponse::build(
                actix_web::http::StatusCode::from_u16(failure.http_status())
                    .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
            )
            .content_type("text/plain; charset=utf-8")
            .body(failure.http_body())
        }
    }
}

async fn run<S: EndpointService>(
    shared: &Shared<S>,
    request: &HttpRequest,
    body: &[u8],
    long: bool,
) -> Result<HttpResponse, SyncFailure> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SyncFailure::BadRequest("no multipart content type".into()))?;
    let parts = boundary(content_type)
        .and_then(|boundary| SyncBody::parse(body, boundary))
        .map_err(|e| SyncFailure::BadRequest(format!("multipart body: {e}")))?;
    // A long sync waits for pushes; Bootstrap keeps no sessions, so it never waits.
    let waits = long && S::KEEPS_SESSIONS;
    let Started {
        mut session,
        cipher,
        request: sync_request,
    } = Session::start(
        &shared.service,
        &shared.keys,
        false,
        Opening {
            wrapped_key: Some(&parts.request_key),
            signature: parts.signature.as_deref(),
            payload: &parts.request_data,
        },
        if waits {
            Channel::Waiting
        } else {
            Channel::Request
        },
    )
    .await?;
    let wait = if waits {
        sync_request
            .sync_request_meta_data
            .as_ref()
            .and_then(|m| m.timeout)
            .map_or(shared.settings.max_long_poll, |ms| {
                Duration::from_millis(ms.max(0) as u64).min(shared.settings.max_long_poll)
            })
    } else {
        Duration::ZERO
    };
    let response = session.exchange(sync_request, wait).await?;
    // The answer is known: the session closes before it is sent.
    drop(session);
    let plain = response.encode();
    let mut http = HttpResponse::Ok();
    http.insert_header((
        CONTENT_TYPE,
        HeaderValue::from_static(RESPONSE_CONTENT_TYPE),
    ))
    .insert_header((RESPONSE_TYPE_HEADER, RESPONSE_TYPE_OPERATION));
    if !long {
        http.insert_header(("Connection", "close"));
    }
    if S::SIGNS_RESPONSES {
        let signature = shared
            .keys
            .pair()
            .sign(&plain)
            .map_err(|e| SyncFailure::Internal(format!("signing the answer: {e}")))?;
        http.insert_header((
            SIGNATURE_HEADER,
            base64::engine::general_purpose::STANDARD.encode(signature),
        ));
    }
    Ok(http.body(cipher.encrypt(&plain)))
}
