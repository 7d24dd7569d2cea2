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
//! that answer is streamed (chunked, headers first), so a client that goes away ends the wait
//! and its session at once. An `/EP/Sync` answers at once with the pushes that came while it
//! ran. Failures map to 400/401/403/500 with a plain-text reason, the same one for
//! every refusal of the endpoint's identity (401 and 403 as Kaatcp's CONNACK `0x05` and `0x10`),
//! and 503 when the node's private-key work is full.
//!
//! Limits ([`crate::limits`]): a connection over the service's caps is shut as soon as it is
//! accepted (after the TLS handshake, with TLS); a request's head must arrive within the request
//! deadline of its connection, and its body within the request deadline after its head, or it
//! gets 408; a body over `max_body` gets 413. The body grows as its bytes arrive, whatever
//! length it declares.

use std::any::Any;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Extensions, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use actix_web::rt::net::TcpStream;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use bytes::BytesMut;
use futures::StreamExt as _;
use kaa_idl::endpoint::http::{
    RESPONSE_CONTENT_TYPE, RESPONSE_TYPE_HEADER, RESPONSE_TYPE_OPERATION, SIGNATURE_HEADER,
    SyncBody, boundary,
};
use kaa_idl::endpoint::sync::{SyncResponse, SyncResponseResultType};
use tokio_rustls::rustls::ServerConfig;

use crate::connection::{Channel, Session, Started, has_news};
use crate::limits::{Admission, ServiceMetrics, Transport};
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
    /// How long a connection may take to send a request's head (and a TLS handshake), and then
    /// its body.
    pub request_deadline: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body: 512 * 1024,
            max_long_poll: Duration::from_secs(60),
            workers: 2,
            request_deadline: Duration::from_secs(15),
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

/// What every request on one listener needs: the endpoint service that answers, the node's keys
/// (to unwrap session keys and sign Bootstrap answers) and the listener's limits.
struct ListenerContext<S> {
    service: Arc<S>,
    keys: NodeKeys,
    settings: HttpSettings,
    metrics: ServiceMetrics,
}

/// Serves `paths` on `listener` for `service`, behind TLS when `tls` is given, each connection
/// admitted by `admission`.
pub fn serve<S: EndpointService>(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    paths: Paths,
    service: Arc<S>,
    keys: NodeKeys,
    settings: HttpSettings,
    admission: Arc<Admission>,
) -> std::io::Result<HttpListener> {
    let workers = settings.workers.max(1);
    let deadline = settings.request_deadline;
    let context = web::Data::new(ListenerContext {
        service,
        keys,
        settings,
        metrics: admission.metrics().clone(),
    });
    let server = HttpServer::new(move || {
        let app = App::new().app_data(context.clone());
        match paths {
            Paths::Bootstrap => app.route("/BS/Sync", web::post().to(sync::<S>)),
            Paths::Operations => app
                .route("/EP/Sync", web::post().to(sync::<S>))
                .route("/EP/LongSync", web::post().to(long_sync::<S>)),
        }
    })
    .workers(workers)
    .on_connect(move |io, extensions| admit(&admission, io, extensions))
    .client_request_timeout(deadline)
    .tls_handshake_timeout(deadline)
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

/// Gives a new connection its place among the service's connections, kept in the connection's
/// data for as long as it lives; one over the caps is shut at once (its reads end, so actix
/// drops it before reading a request).
fn admit(admission: &Arc<Admission>, io: &dyn Any, extensions: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<TcpStream>;
    let stream = io
        .downcast_ref::<TcpStream>()
        .or_else(|| io.downcast_ref::<Tls>().map(|tls| tls.get_ref().0));
    let Some(peer) = stream.and_then(|stream| stream.peer_addr().ok()) else {
        return;
    };
    match admission.admit(peer.ip(), Transport::Http) {
        Some(admitted) => {
            extensions.insert(admitted);
        }
        None => {
            if let Some(stream) = stream {
                let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

async fn sync<S: EndpointService>(
    context: web::Data<ListenerContext<S>>,
    request: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    answer(&context, &request, body, false).await
}

async fn long_sync<S: EndpointService>(
    context: web::Data<ListenerContext<S>>,
    request: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    answer(&context, &request, body, true).await
}

/// Why a request's body was not read.
enum BodyRefused {
    /// Not whole within the request deadline (408).
    Late,
    /// Over `max_body` (413).
    TooLarge,
    /// The connection failed (400).
    Broken(String),
}

/// Reads a request's body, growing the buffer by what arrives, up to `max_body` bytes and
/// until the request deadline.
async fn read_body(
    settings: &HttpSettings,
    request: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::Bytes, BodyRefused> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > settings.max_body) {
        return Err(BodyRefused::TooLarge);
    }
    let by = tokio::time::Instant::now() + settings.request_deadline;
    let mut body = BytesMut::new();
    loop {
        match tokio::time::timeout_at(by, payload.next()).await {
            Err(_) => return Err(BodyRefused::Late),
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(Err(error))) => return Err(BodyRefused::Broken(error.to_string())),
            Ok(Some(Ok(chunk))) if body.len() + chunk.len() > settings.max_body => {
                return Err(BodyRefused::TooLarge);
            }
            Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
        }
    }
}

async fn answer<S: EndpointService>(
    context: &ListenerContext<S>,
    request: &HttpRequest,
    payload: web::Payload,
    long: bool,
) -> HttpResponse {
    let body = match read_body(&context.settings, request, payload).await {
        Ok(body) => body,
        Err(refused) => {
            let (status, text) = match refused {
                BodyRefused::Late => {
                    context.metrics.deadline_exceeded(Transport::Http);
                    (
                        StatusCode::REQUEST_TIMEOUT,
                        "request body too slow".to_owned(),
                    )
                }
                BodyRefused::TooLarge => {
                    context.metrics.too_large(Transport::Http);
                    (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request body too large".to_owned(),
                    )
                }
                BodyRefused::Broken(error) => (StatusCode::BAD_REQUEST, error),
            };
            tracing::debug!(%status, path = request.path(), "http sync body refused");
            return HttpResponse::build(status)
                .insert_header((CONNECTION, "close"))
                .content_type("text/plain; charset=utf-8")
                .body(text);
        }
    };
    match run(context, request, &body, long).await {
        Ok(response) => response,
        Err(failure) => {
            failure.log("http sync failed");
            HttpResponse::build(
                StatusCode::from_u16(failure.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            )
            .content_type("text/plain; charset=utf-8")
            .body(failure.http_body())
        }
    }
}

async fn run<S: EndpointService>(
    context: &ListenerContext<S>,
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
    // A long sync waits for pushes. Its answer streams once a push brings news, its headers
    // going at once, so that a client that goes away drops the wait and its session at once. A
    // signed answer needs its body before its headers: Bootstrap neither keeps sessions nor waits.
    let waits = long && S::KEEPS_SESSIONS && !S::SIGNS_RESPONSES;
    let Started {
        mut session,
        cipher,
        request: sync_request,
    } = Session::start(
        &context.service,
        &context.keys,
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
    let wait = sync_request
        .sync_request_meta_data
        .as_ref()
        .and_then(|m| m.timeout)
        .map_or(context.settings.max_long_poll, |ms| {
            Duration::from_millis(ms.max(0) as u64).min(context.settings.max_long_poll)
        });
    let request_id = sync_request.request_id;
    let response = session.exchange(sync_request).await?;
    let mut http = HttpResponse::Ok();
    http.insert_header((
        CONTENT_TYPE,
        HeaderValue::from_static(RESPONSE_CONTENT_TYPE),
    ))
    .insert_header((RESPONSE_TYPE_HEADER, RESPONSE_TYPE_OPERATION));
    if !long {
        http.insert_header(("Connection", "close"));
    }
    if waits && !has_news(&response) {
        let answer = futures::stream::once(async move {
            let waited = session.wait_for_news(response, wait).await;
            drop(session);
            match waited {
                Ok(response) => Ok(web::Bytes::from(cipher.encrypt(&response.encode()))),
                // Revoked while the poll waited: the status is sent, so the poll ends with
                // nothing new and the endpoint's next request is refused (403).
                Err(SyncFailure::Revoked) => {
                    tracing::debug!("long sync ended by a revocation");
                    let nothing = SyncResponse::new(request_id, SyncResponseResultType::Success);
                    Ok(web::Bytes::from(cipher.encrypt(&nothing.encode())))
                }
                Err(failure) => {
                    // The status is sent: the connection is cut instead.
                    failure.log("long sync ended without an answer");
                    Err(actix_web::error::ErrorServiceUnavailable(failure))
                }
            }
        });
        return Ok(http.streaming(answer));
    }
    // The answer is known: the session closes before it is sent.
    drop(session);
    let plain = response.encode();
    if S::SIGNS_RESPONSES {
        let signature = context
            .keys
            .sign(plain.clone())
            .await?
            .map_err(|e| SyncFailure::Internal(format!("signing the answer: {e}")))?;
        http.insert_header((
            SIGNATURE_HEADER,
            base64::engine::general_purpose::STANDARD.encode(signature),
        ));
    }
    Ok(http.body(cipher.encrypt(&plain)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kaa_idl::endpoint::crypto::{PublicKey, SessionKey};
    use kaa_idl::endpoint::http::content_type;
    use kaa_idl::endpoint::sync::{SyncRequest, SyncRequestMetaData};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::{Channel, Identified};

    /// A service that never has news and counts its open sessions; with `revokes`, every push
    /// revokes the endpoint.
    #[derive(Default)]
    struct Quiet {
        open: AtomicUsize,
        /// Kept, so sessions wait for pushes (that never come, unless a test sends one).
        pushes: std::sync::Mutex<Vec<crate::PushSender<()>>>,
        revokes: bool,
    }

    impl EndpointService for Quiet {
        type Session = ();
        type Push = ();
        type Identity = ();
        const KEEPS_SESSIONS: bool = true;
        const SIGNS_RESPONSES: bool = false;
        const VERIFIES_SIGNATURES: bool = false;

        fn open(&self, pushes: crate::PushSender<()>, _: Option<()>, _: Channel) {
            self.pushes.lock().unwrap().push(pushes);
            self.open.fetch_add(1, Ordering::SeqCst);
        }

        async fn identify(&self, _: &[u8]) -> Result<Identified<()>, SyncFailure> {
            Ok(Identified {
                public_key: None,
                identity: (),
            })
        }

        async fn sync(
            &self,
            _: &mut (),
            request: SyncRequest,
        ) -> Result<SyncResponse, SyncFailure> {
            Ok(SyncResponse::new(
                request.request_id,
                SyncResponseResultType::Success,
            ))
        }

        async fn push(&self, _: &mut (), _: ()) -> Result<Option<SyncResponse>, SyncFailure> {
            if self.revokes {
                Err(SyncFailure::Revoked)
            } else {
                Ok(None)
            }
        }

        fn close(&self, _: ()) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A long poll's body: request 1 of SDK `sdk` waiting up to 30 s, under `session_key`.
    fn long_poll_body(keys: &NodeKeys, session_key: &SessionKey) -> Vec<u8> {
        let request = SyncRequest {
            request_id: 1,
            sync_request_meta_data: Some(SyncRequestMetaData {
                sdk_token: "sdk".into(),
                timeout: Some(30_000),
                ..SyncRequestMetaData::default()
            }),
            ..SyncRequest::default()
        };
        SyncBody {
            signature: None,
            request_key: PublicKey::from_der(keys.public_der())
                .unwrap()
                .wrap_session_key(session_key)
                .unwrap(),
            request_data: session_key.encrypt(&request.encode()),
            next_protocol: None,
        }
        .encode("b0")
    }

    /// `service` served on an Operations HTTP listener on 127.0.0.1 with fresh node keys (kept in
    /// the returned folder).
    fn listen(
        service: Quiet,
    ) -> (
        tempfile::TempDir,
        NodeKeys,
        Arc<Quiet>,
        SocketAddr,
        HttpListener,
    ) {
        listen_under(
            service,
            HttpSettings::default(),
            crate::limits::ConnectionCaps::default(),
        )
    }

    /// As [`listen`], with `settings` and `caps`.
    fn listen_under(
        service: Quiet,
        settings: HttpSettings,
        caps: crate::limits::ConnectionCaps,
    ) -> (
        tempfile::TempDir,
        NodeKeys,
        Arc<Quiet>,
        SocketAddr,
        HttpListener,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let keys = NodeKeys::load_or_create(dir.path()).unwrap();
        let service = Arc::new(service);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = serve(
            listener,
            None,
            Paths::Operations,
            service.clone(),
            keys.clone(),
            settings,
            Admission::new(caps, ServiceMetrics::unregistered()),
        )
        .unwrap();
        (dir, keys, service, address, server)
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        let waiting = async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap_or_else(|_| panic!("{what}"));
    }

    #[tokio::test]
    async fn a_body_dribbled_past_the_deadline_gets_408_and_one_too_large_413() {
        // Not under a second: actix times a request's head on a clock it updates twice a second.
        let settings = HttpSettings {
            request_deadline: Duration::from_secs(1),
            max_body: 1024,
            ..HttpSettings::default()
        };
        let (_dir, _keys, _service, address, server) =
            listen_under(Quiet::default(), settings, Default::default());
        let head = |length: usize| {
            format!(
                "POST /EP/Sync HTTP/1.1\r\nHost: {address}\r\nContent-Type: {}\r\nContent-Length: {length}\r\n\r\n",
                content_type("b0")
            )
        };
        let status_of = |answer: &[u8]| String::from_utf8_lossy(&answer[..12]).into_owned();
        let client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut reader, mut writer) = client.into_split();
        writer.write_all(head(1000).as_bytes()).await.unwrap();
        let started = tokio::time::Instant::now();
        let dribbling = tokio::spawn(async move {
            for _ in 0..150 {
                if writer.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let mut answer = vec![0; 12];
        reader.read_exact(&mut answer).await.unwrap();
        dribbling.abort();
        assert_eq!(status_of(&answer), "HTTP/1.1 408");
        let cut = started.elapsed();
        assert!(
            cut >= Duration::from_millis(900) && cut < Duration::from_millis(2000),
            "cut after {cut:?}"
        );
        let mut rest = String::new();
        reader.read_to_string(&mut rest).await.unwrap();
        assert!(rest.ends_with("request body too slow"), "{rest}");

        let mut large = tokio::net::TcpStream::connect(address).await.unwrap();
        large.write_all(head(4096).as_bytes()).await.unwrap();
        large.read_exact(&mut answer).await.unwrap();
        assert_eq!(status_of(&answer), "HTTP/1.1 413");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_connection_over_the_cap_is_shut_before_its_request() {
        let caps = crate::limits::ConnectionCaps {
            total: 1,
            per_source: 1,
        };
        let (_dir, _keys, _service, address, server) =
            listen_under(Quiet::default(), HttpSettings::default(), caps);
        let _held = tokio::net::TcpStream::connect(address).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut over = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut sink = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), over.read_to_end(&mut sink));
        assert!(read.await.is_ok(), "closed at once");
        assert!(sink.is_empty(), "no answer: {sink:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_long_poll_whose_client_went_away_is_closed() {
        let (_dir, keys, service, address, server) = listen(Quiet::default());
        let body = long_poll_body(&keys, &SessionKey::generate().unwrap());
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /EP/LongSync HTTP/1.1\r\nHost: {address}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            content_type("b0"),
            body.len()
        );
        client.write_all(head.as_bytes()).await.unwrap();
        client.write_all(&body).await.unwrap();
        until("the poll waits in a session", || {
            service.open.load(Ordering::SeqCst) == 1
        })
        .await;
        drop(client);
        until("the session of a poll whose client left is closed", || {
            service.open.load(Ordering::SeqCst) == 0
        })
        .await;
        server.stop().await;
    }

    #[tokio::test]
    async fn a_long_poll_revoked_while_it_waits_ends_with_a_whole_empty_answer() {
        let (_dir, keys, service, address, server) = listen(Quiet {
            revokes: true,
            ..Quiet::default()
        });
        let session_key = SessionKey::generate().unwrap();
        let poll = reqwest::Client::new()
            .post(format!("http://{address}/EP/LongSync"))
            .header("content-type", content_type("b0"))
            .body(long_poll_body(&keys, &session_key))
            .send();
        let poll = tokio::spawn(async move {
            let response = poll.await.expect("the poll is answered");
            (response.status().as_u16(), response.bytes().await)
        });
        until("the poll waits in a session", || {
            service.open.load(Ordering::SeqCst) == 1
        })
        .await;
        let pushes = service.pushes.lock().unwrap().clone();
        pushes[0].try_send(()).unwrap();
        let (status, body) = poll.await.unwrap();
        assert_eq!(status, 200);
        let body = body.expect("a whole body, not a cut connection");
        let answer = SyncResponse::decode(&session_key.decrypt(&body).unwrap()).unwrap();
        assert_eq!(
            answer,
            SyncResponse::new(1, SyncResponseResultType::Success),
            "nothing but an empty answer"
        );
        server.stop().await;
    }
}
