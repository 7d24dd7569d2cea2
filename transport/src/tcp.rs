//! The Kaatcp listener: one task per connection, reading and writing frames through a
//! [`Connection`] and answering them through the session logic HTTP shares
//! ([`Session`], on an [`EndpointService`]).
//!
//! A connection starts with CONNECT (session key, signature and the first SyncRequest), answered
//! with CONNACK and the first SyncResponse in one write. Then KAASYNC requests get KAASYNC
//! responses, PINGREQ gets PINGRESP, and the service's pushes go out as unsolicited KAASYNC
//! frames. Requests are answered one at a time, in order; while one is being answered (logs
//! waiting for a confirming appender can take seconds) the connection is still read: PINGREQ is
//! answered at once, so a client supervising its pings does not take a busy server for a dead
//! one, and other frames wait their turn. A session that stays silent for 1.5 × its keepalive is
//! closed. A malformed frame
//! closes only its own connection: with CONNACK before the session exists, with DISCONNECT
//! after.
//!
//! Limits ([`crate::limits`]): a connection over the service's caps is closed as soon as it is
//! accepted; one that has not completed its TLS handshake and whole CONNECT within the connect
//! deadline of its accept is cut, however it dribbles its bytes; a keepalive asked above
//! `max_keepalive` is clamped to it (Kaatcp's CONNACK cannot tell the client, so refusing would
//! strand devices whose firmware asks for more; clamped, such a device is dropped after
//! 1.5 × the cap of silence and reconnects).
//!
//! Logging: the work a connection does (a frame answered, a push sent) runs in a `kaatcp` span
//! naming the peer, so what the service logs meanwhile says which connection it was about; the
//! connection's idle wait holds no span (a span lives in the subscriber's registry, about 350
//! bytes with its formatted fields, in every idle session otherwise).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kaa_idl::endpoint::kaatcp::{Connect, DisconnectReason, Frame, ReturnCode};
use kaa_idl::endpoint::sync::SyncResponse;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

use crate::connection::{Channel, Connection, ConnectionError, Session, Started};
use crate::limits::{Admission, Admitted, ServiceMetrics, Transport};
use crate::secure::Opening;
use crate::{EndpointService, NodeKeys, SyncFailure};

/// Limits and switches of a Kaatcp listener.
#[derive(Debug, Clone)]
pub struct TcpSettings {
    /// Largest frame accepted; a bigger one closes the connection.
    pub max_frame: usize,
    /// Whether sessions without a session key are accepted.
    pub allow_plaintext: bool,
    /// How long after its accept a new connection may take to complete its TLS handshake and
    /// its whole CONNECT.
    pub connect_deadline: Duration,
    /// The longest keepalive a session gets; a longer one asked for is clamped to it.
    pub max_keepalive: Duration,
}

impl Default for TcpSettings {
    fn default() -> Self {
        Self {
            max_frame: 512 * 1024,
            allow_plaintext: false,
            connect_deadline: Duration::from_secs(15),
            max_keepalive: Duration::from_secs(20 * 60),
        }
    }
}

/// Accepts connections on `listener` until `shutdown`, each admitted by `admission` and served
/// by its own task in `tasks`, behind TLS when `tls` is given.
#[allow(clippy::too_many_arguments)]
pub async fn serve<S: EndpointService>(
    listener: TcpListener,
    service: Arc<S>,
    keys: NodeKeys,
    settings: TcpSettings,
    tls: Option<Arc<ServerConfig>>,
    admission: Arc<Admission>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let tls = tls.map(TlsAcceptor::from);
    // One for the listener: every connection holds a pointer to it, not its own copies.
    let handler = Arc::new(Handler {
        service,
        keys,
        settings,
        metrics: admission.metrics().clone(),
        shutdown: shutdown.clone(),
    });
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors and the like: back off instead of spinning.
                warn!(%error, "kaatcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over the cap: dropped, so closed at once, before a byte is read.
        let Some(admitted) = admission.admit(peer.ip(), Transport::Kaatcp) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Spawned as it is: wrapping it in another async block (to drop `admitted` after it)
        // would lay the connection's whole future out twice in every idle session's task.
        tasks.spawn(connection(
            handler.clone(),
            stream,
            peer,
            tls.clone(),
            admitted,
        ));
    }
}

/// Serves one accepted connection (behind TLS when `tls` is given) until it closes, holding its
/// place under the connection caps (`admitted`) until then.
fn connection<S: EndpointService>(
    handler: Arc<Handler<S>>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    admitted: Admitted,
) -> impl Future<Output = ()> + Send {
    let connect_by = tokio::time::Instant::now() + handler.settings.connect_deadline;
    async move {
        let _admitted = admitted;
        match tls {
            None => handler.run(stream, peer, connect_by).await,
            // Boxed: a plain connection's future need not be as big as a TLS one's.
            Some(acceptor) => {
                Box::pin(async move {
                    let accepting = acceptor.accept(stream);
                    match tokio::time::timeout_at(connect_by, accepting).await {
                        Ok(Ok(stream)) => handler.run(stream, peer, connect_by).await,
                        Ok(Err(error)) => debug!(%peer, %error, "tls handshake failed"),
                        Err(_) => {
                            debug!(%peer, "tls handshake passed the connect deadline");
                            handler.metrics.deadline_exceeded(Transport::Kaatcp);
                        }
                    }
                })
                .await
            }
        }
    }
}

/// The span of a connection's work: what it logs while answering a frame or a push names the
/// peer (see the module's doc).
fn work_span(peer: SocketAddr) -> tracing::Span {
    info_span!("kaatcp", %peer)
}

/// Serves one connection over any byte stream until it closes or `shutdown`: the session state
/// machine without a listener or TLS (the Kaatcp fuzz target drives it over an in-memory pipe).
pub async fn serve_stream<S, T>(
    stream: T,
    peer: SocketAddr,
    service: Arc<S>,
    keys: NodeKeys,
    settings: TcpSettings,
    shutdown: CancellationToken,
) where
    S: EndpointService,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let handler = Arc::new(Handler {
        service,
        keys,
        settings,
        metrics: ServiceMetrics::unregistered(),
        shutdown,
    });
    let connect_by = tokio::time::Instant::now() + handler.settings.connect_deadline;
    handler.run(stream, peer, connect_by).await;
}

struct Handler<S> {
    service: Arc<S>,
    keys: NodeKeys,
    settings: TcpSettings,
    metrics: ServiceMetrics,
    shutdown: CancellationToken,
}

/// Frames a client may send while one of its requests is being answered before the connection
/// is taken for abuse and closed.
const MAX_WAITING_FRAMES: usize = 64;

/// A started session and the silence it is allowed.
struct Live<S: EndpointService> {
    session: Session<S>,
    idle_limit: Duration,
}

/// What to do after a frame or push.
enum Next {
    Continue,
    Close,
}

impl<S: EndpointService> Handler<S> {
    /// Serves the connection until it closes. An idle session is this future, parked for as
    /// long as the endpoint stays connected, so it holds only the connection and the waits:
    /// answering a frame or a push (the session start's key work, a sync with its store calls)
    /// runs in a future boxed for the time it takes, not laid out inline in every connection's
    /// state for its whole life (that made each idle session carry ~28 KB). CONNECT must have
    /// arrived whole by `connect_by`.
    async fn run<T>(self: Arc<Self>, stream: T, peer: SocketAddr, connect_by: tokio::time::Instant)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        let mut connection = Connection::new(stream, self.settings.max_frame);
        let mut live: Option<Live<S>> = None;
        let mut waiting = VecDeque::new();
        // Until the first frame (which must be CONNECT) arrives.
        let mut connect_by = Some(connect_by);
        debug!(%peer, "connection opened");
        loop {
            if let Some(frame) = waiting.pop_front() {
                let work = Box::pin(self.frame(frame, &mut connection, &mut live, &mut waiting));
                match work.instrument(work_span(peer)).await {
                    Next::Continue => continue,
                    Next::Close => break,
                }
            }
            let until = match (&live, connect_by) {
                (Some(live), _) => tokio::time::Instant::now() + live.idle_limit,
                (None, Some(by)) => by,
                // A service that keeps no session, after its answer: the client may say goodbye.
                (None, None) => tokio::time::Instant::now() + self.settings.connect_deadline,
            };
            let next = tokio::select! {
                read = tokio::time::timeout_at(until, connection.read_frame()) => match read {
                    Ok(Ok(Some(frame))) => {
                        connect_by = None;
                        let work = Box::pin(self.frame(frame, &mut connection, &mut live, &mut waiting));
                        work.instrument(work_span(peer)).await
                    }
                    Ok(Ok(None)) => Next::Close,
                    Ok(Err(ConnectionError::Malformed(error))) => {
                        debug!(%peer, %error, "malformed frame");
                        if matches!(error, kaa_idl::endpoint::kaatcp::FrameError::TooLarge { .. }) {
                            self.metrics.too_large(Transport::Kaatcp);
                        }
                        let goodbye = match live {
                            None => Frame::ConnAck(ReturnCode::BadProtocol),
                            Some(_) => Frame::Disconnect(DisconnectReason::BadRequest),
                        };
                        let _ = connection.write_frame(goodbye).await;
                        Next::Close
                    }
                    Ok(Err(error)) => {
                        debug!(%peer, %error, "read failed");
                        Next::Close
                    }
                    Err(_) if connect_by.is_some() => {
                        debug!(%peer, "no whole CONNECT within the connect deadline");
                        self.metrics.deadline_exceeded(Transport::Kaatcp);
                        Next::Close
                    }
                    Err(_) => {
                        debug!(%peer, "session silent too long");
                        Next::Close
                    }
                },
                push = next_push(&mut live) => {
                    let work = Box::pin(self.push(push, &mut connection, &mut live));
                    work.instrument(work_span(peer)).await
                }
                _ = self.shutdown.cancelled() => {
                    if live.is_some() {
                        let _ = connection
                            .write_frame(Frame::Disconnect(DisconnectReason::None))
                            .await;
                    }
                    Next::Close
                }
            };
            if matches!(next, Next::Close) {
                break;
            }
        }
        connection.shutdown().await;
        // Dropping the session closes it in the service.
        drop(live);
        debug!(%peer, "connection closed");
    }

    async fn frame<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        frame: Frame,
        connection: &mut Connection<T>,
        live: &mut Option<Live<S>>,
        waiting: &mut VecDeque<Frame>,
    ) -> Next {
        match (frame, live.as_mut()) {
            (Frame::Connect(connect), None) => match self.connect(connect, connection).await {
                Ok((started, response)) => {
                    let answer = connection.sync_frame(&response);
                    let written = connection
                        .write_frames(&[Frame::ConnAck(ReturnCode::Accepted), answer])
                        .await;
                    if written.is_err() {
                        return Next::Close;
                    }
                    if S::KEEPS_SESSIONS {
                        *live = Some(started);
                    }
                    Next::Continue
                }
                Err(failure) => {
                    failure.log("session refused");
                    let _ = connection
                        .write_frame(Frame::ConnAck(failure.connack()))
                        .await;
                    Next::Close
                }
            },
            // A second CONNECT on a live session is ignored, as Kaa does.
            (Frame::Connect(_), Some(_)) => Next::Continue,
            (Frame::KaaSync(sync), Some(current)) => {
                let (answered, reading) = match connection.open_sync(sync) {
                    Ok(request) => {
                        // Boxed once here: passed by value, the sync's large future would be
                        // laid out twice in this one (once as the argument, once pinned).
                        let exchange = Box::pin(current.session.exchange(request));
                        answer_pings_while(exchange, connection, waiting).await
                    }
                    Err(failure) => (Err(failure), Reading::Open),
                };
                match answered {
                    Ok(response) => match (connection.write_sync(&response).await, reading) {
                        (Ok(()), Reading::Open) => Next::Continue,
                        (Ok(()), Reading::Ended) | (Err(_), _) => Next::Close,
                    },
                    Err(failure) => {
                        failure.log("sync failed; closing the session");
                        let _ = connection
                            .write_frame(Frame::Disconnect(failure.disconnect()))
                            .await;
                        Next::Close
                    }
                }
            }
            (Frame::PingReq, Some(_)) => written(connection.write_frame(Frame::PingResp).await),
            (Frame::Disconnect(reason), Some(_)) => {
                debug!(?reason, "endpoint disconnected");
                Next::Close
            }
            (Frame::Disconnect(_), None) => Next::Close,
            // Anything else before CONNECT: "bad protocol", as Kaa answers.
            (_, None) => {
                let _ = connection
                    .write_frame(Frame::ConnAck(ReturnCode::BadProtocol))
                    .await;
                Next::Close
            }
            (other, Some(_)) => {
                debug!(
                    frame = frame_name(&other),
                    "unexpected frame from an endpoint"
                );
                let _ = connection
                    .write_frame(Frame::Disconnect(DisconnectReason::BadRequest))
                    .await;
                Next::Close
            }
        }
    }

    /// Starts a session from CONNECT and answers its first request.
    async fn connect<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        connect: Box<Connect>,
        connection: &mut Connection<T>,
    ) -> Result<(Live<S>, SyncResponse), SyncFailure> {
        let Started {
            mut session,
            cipher,
            request,
        } = Session::start(
            &self.service,
            &self.keys,
            self.settings.allow_plaintext,
            Opening {
                wrapped_key: connect.session_key.as_ref().map(|key| &key[..]),
                signature: connect.signature.as_ref().map(|signature| &signature[..]),
                payload: &connect.payload,
            },
            Channel::Waiting,
        )
        .await?;
        let response = session.exchange(request).await?;
        connection.secure(cipher);
        // Kaa expires a channel after its keepalive; allow half again for network jitter.
        let asked = Duration::from_secs(u64::from(connect.keep_alive.max(1)));
        let keepalive = asked.min(self.settings.max_keepalive);
        if keepalive < asked {
            debug!(?asked, ?keepalive, "keepalive clamped");
            self.metrics.keepalive_clamped();
        }
        Ok((
            Live {
                session,
                idle_limit: keepalive + keepalive / 2,
            },
            response,
        ))
    }

    /// Sends a push to the endpoint as an unsolicited KAASYNC.
    async fn push<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        push: S::Push,
        connection: &mut Connection<T>,
        live: &mut Option<Live<S>>,
    ) -> Next {
        let Some(current) = live.as_mut() else {
            return Next::Continue;
        };
        match current.session.answer_push(push).await {
            Ok(Some(response)) => written(connection.write_sync(&response).await),
            Ok(None) => Next::Continue,
            Err(failure) => {
                failure.log("push ends the session");
                let _ = connection
                    .write_frame(Frame::Disconnect(failure.disconnect()))
                    .await;
                Next::Close
            }
        }
    }
}

/// Whether the connection can still be read after a request was answered.
enum Reading {
    Open,
    /// The client closed or broke the connection, or sent too much, meanwhile.
    Ended,
}

/// Waits for `exchange` (a request being answered) while reading the connection: PINGREQ gets
/// PINGRESP at once, other frames are kept in `waiting` (at most [`MAX_WAITING_FRAMES`]) to be
/// handled in order afterwards. The answer is always awaited, even when the client goes away,
/// so that what the request started (logs stored, say) completes as it would have.
async fn answer_pings_while<T, F>(
    exchange: F,
    connection: &mut Connection<T>,
    waiting: &mut VecDeque<Frame>,
) -> (F::Output, Reading)
where
    T: AsyncRead + AsyncWrite + Unpin,
    F: Future,
{
    tokio::pin!(exchange);
    loop {
        let read = tokio::select! {
            biased;
            answered = &mut exchange => return (answered, Reading::Open),
            read = connection.read_frame() => read,
        };
        let open = match read {
            Ok(Some(Frame::PingReq)) => connection.write_frame(Frame::PingResp).await.is_ok(),
            Ok(Some(frame)) if waiting.len() < MAX_WAITING_FRAMES => {
                waiting.push_back(frame);
                true
            }
            Ok(Some(_)) => {
                debug!("too many frames while a request was answered");
                false
            }
            Ok(None) => false,
            Err(error) => {
                debug!(%error, "read failed while a request was answered");
                false
            }
        };
        if !open {
            return (exchange.await, Reading::Ended);
        }
    }
}

/// The next push to the live session; pends while there is none.
async fn next_push<S: EndpointService>(live: &mut Option<Live<S>>) -> S::Push {
    match live {
        Some(current) => current.session.recv_push().await,
        None => std::future::pending().await,
    }
}

/// Goes on if a write went through.
fn written(result: std::io::Result<()>) -> Next {
    match result {
        Ok(()) => Next::Continue,
        Err(_) => Next::Close,
    }
}

fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Connect(_) => "CONNECT",
        Frame::ConnAck(_) => "CONNACK",
        Frame::KaaSync(_) => "KAASYNC",
        Frame::PingReq => "PINGREQ",
        Frame::PingResp => "PINGRESP",
        Frame::Disconnect(_) => "DISCONNECT",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A request that takes `delay` to answer (a sync waiting for a confirming appender).
    async fn slow_answer(delay: Duration) -> &'static str {
        tokio::time::sleep(delay).await;
        "answered"
    }

    #[tokio::test]
    async fn pings_are_answered_while_a_request_is_and_other_frames_wait_their_turn() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut connection = Connection::new(server, 1024);
        let mut waiting = VecDeque::new();
        let started = tokio::time::Instant::now();
        let answering = tokio::spawn(async move {
            let outcome = answer_pings_while(
                slow_answer(Duration::from_millis(500)),
                &mut connection,
                &mut waiting,
            )
            .await;
            (outcome, waiting)
        });
        let frames: Vec<u8> = [Frame::PingReq, Frame::Disconnect(DisconnectReason::None)]
            .iter()
            .flat_map(Frame::encode)
            .collect();
        client.write_all(&frames).await.unwrap();
        let pong = Frame::PingResp.encode();
        let mut read = vec![0; pong.len()];
        client.read_exact(&mut read).await.unwrap();
        assert_eq!(read, pong);
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "PINGRESP came only after {:?}, behind the request",
            started.elapsed()
        );
        let ((answer, reading), waiting) = answering.await.unwrap();
        assert_eq!(answer, "answered");
        assert!(matches!(reading, Reading::Open));
        assert!(matches!(
            waiting.into_iter().collect::<Vec<_>>().as_slice(),
            [Frame::Disconnect(DisconnectReason::None)]
        ));
    }

    #[tokio::test]
    async fn a_request_is_answered_to_its_end_when_the_client_goes_away_meanwhile() {
        let (client, server) = tokio::io::duplex(1024);
        let mut connection = Connection::new(server, 1024);
        let mut waiting = VecDeque::new();
        drop(client);
        let (answer, reading) = answer_pings_while(
            slow_answer(Duration::from_millis(100)),
            &mut connection,
            &mut waiting,
        )
        .await;
        assert_eq!(answer, "answered");
        assert!(matches!(reading, Reading::Ended));
    }

    #[tokio::test]
    async fn a_client_flooding_frames_during_a_request_is_cut_off() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut connection = Connection::new(server, 1024);
        let mut waiting = VecDeque::new();
        let flood: Vec<u8> = (0..MAX_WAITING_FRAMES + 1)
            .flat_map(|_| Frame::Disconnect(DisconnectReason::None).encode())
            .collect();
        client.write_all(&flood).await.unwrap();
        let (_, reading) = answer_pings_while(
            slow_answer(Duration::from_millis(200)),
            &mut connection,
            &mut waiting,
        )
        .await;
        assert!(matches!(reading, Reading::Ended));
        assert_eq!(waiting.len(), MAX_WAITING_FRAMES);
    }

    /// A service whose sync keeps 64 KB on its stack across an await, as a sync with store
    /// calls keeps its clients' futures.
    struct Heavy;

    impl EndpointService for Heavy {
        type Session = ();
        type Push = ();
        type Identity = ();
        const KEEPS_SESSIONS: bool = true;
        const SIGNS_RESPONSES: bool = false;
        const VERIFIES_SIGNATURES: bool = false;

        fn open(&self, _: crate::PushSender<()>, _: Option<()>, _: Channel) {}

        async fn identify(&self, _: &[u8]) -> Result<crate::Identified<()>, SyncFailure> {
            Ok(crate::Identified {
                public_key: None,
                identity: (),
            })
        }

        async fn sync(
            &self,
            _: &mut (),
            request: kaa_idl::endpoint::sync::SyncRequest,
        ) -> Result<SyncResponse, SyncFailure> {
            let scratch = [7u8; 64 * 1024];
            tokio::task::yield_now().await;
            let status = match std::hint::black_box(&scratch)[0] {
                7 => kaa_idl::endpoint::sync::SyncResponseResultType::Success,
                _ => kaa_idl::endpoint::sync::SyncResponseResultType::Failure,
            };
            Ok(SyncResponse::new(request.request_id, status))
        }

        async fn push(&self, _: &mut (), _: ()) -> Result<Option<SyncResponse>, SyncFailure> {
            Ok(None)
        }

        fn close(&self, _: ()) {}
    }

    /// A listener serving [`Heavy`] under `caps` and `settings`, and its address.
    async fn listening(caps: crate::limits::ConnectionCaps, settings: TcpSettings) -> SocketAddr {
        let dir = tempfile::tempdir().unwrap();
        let keys = NodeKeys::load_or_create(dir.path()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let admission = Admission::new(caps, ServiceMetrics::unregistered());
        tokio::spawn(serve(
            listener,
            Arc::new(Heavy),
            keys,
            settings,
            None,
            admission,
            CancellationToken::new(),
            TaskTracker::new(),
        ));
        address
    }

    /// Reads until the server closes; how long that took.
    async fn closed_after(stream: &mut TcpStream) -> Duration {
        let started = tokio::time::Instant::now();
        let mut sink = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink));
        read.await.expect("the server closes").ok();
        started.elapsed()
    }

    #[tokio::test]
    async fn a_connect_dribbled_a_byte_at_a_time_is_cut_at_the_deadline() {
        let settings = TcpSettings {
            connect_deadline: Duration::from_millis(400),
            ..TcpSettings::default()
        };
        let address = listening(Default::default(), settings).await;
        let mut client = TcpStream::connect(address).await.unwrap();
        let started = tokio::time::Instant::now();
        let connect = Frame::Connect(Box::new(Connect {
            next_protocol_id: 0,
            session_key: None,
            signature: None,
            keep_alive: 60,
            payload: vec![0; 100],
        }))
        .encode();
        for byte in &connect[..50] {
            if client.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        closed_after(&mut client).await;
        let cut = started.elapsed();
        assert!(
            cut >= Duration::from_millis(350) && cut < Duration::from_millis(1500),
            "cut after {cut:?}"
        );
    }

    #[tokio::test]
    async fn a_keepalive_over_the_cap_is_clamped_to_it() {
        let settings = TcpSettings {
            allow_plaintext: true,
            max_keepalive: Duration::from_secs(1),
            ..TcpSettings::default()
        };
        let address = listening(Default::default(), settings).await;
        let mut client = TcpStream::connect(address).await.unwrap();
        let connect = Frame::Connect(Box::new(Connect {
            next_protocol_id: 0,
            session_key: None,
            signature: None,
            keep_alive: 3600,
            payload: kaa_idl::endpoint::sync::SyncRequest::default().encode(),
        }));
        client.write_all(&connect.encode()).await.unwrap();
        let mut connack = [0u8; 4];
        client.read_exact(&mut connack).await.unwrap();
        assert_eq!(connack, [0x20, 0x02, 0x00, 0x01], "accepted");
        // Silent from here: closed after 1.5 x the cap (the answer to CONNECT is read first).
        let silent = closed_after(&mut client).await;
        assert!(
            silent >= Duration::from_millis(1300) && silent < Duration::from_secs(3),
            "closed after {silent:?} of silence, not 1.5 s"
        );
    }

    #[tokio::test]
    async fn a_connection_over_the_source_cap_is_closed_at_once_and_the_place_comes_back() {
        let caps = crate::limits::ConnectionCaps {
            total: 100,
            per_source: 2,
        };
        let address = listening(caps, TcpSettings::default()).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(TcpStream::connect(address).await.unwrap());
        }
        let mut over = TcpStream::connect(address).await.unwrap();
        assert!(closed_after(&mut over).await < Duration::from_millis(500));
        // The two held are still open: a ping before CONNECT is answered (CONNACK, then close).
        held[0].write_all(&Frame::PingReq.encode()).await.unwrap();
        let mut connack = [0u8; 4];
        held[0].read_exact(&mut connack).await.unwrap();
        assert_eq!(connack[0] >> 4, 2, "a CONNACK: {connack:02x?}");
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = TcpStream::connect(address).await.unwrap();
        again.write_all(&Frame::PingReq.encode()).await.unwrap();
        again.read_exact(&mut connack).await.unwrap();
        assert_eq!(connack[0] >> 4, 2, "admitted once places were freed");
    }

    /// An idle session is its connection's future, parked for as long as the endpoint stays:
    /// what answering a frame needs (here 64 KB) must not be laid out in it.
    #[tokio::test]
    async fn an_idle_connection_holds_no_space_for_answering_requests() {
        let dir = tempfile::tempdir().unwrap();
        let handler = Arc::new(Handler {
            service: Arc::new(Heavy),
            keys: NodeKeys::load_or_create(dir.path()).unwrap(),
            settings: TcpSettings::default(),
            metrics: ServiceMetrics::unregistered(),
            shutdown: CancellationToken::new(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let admission = Admission::new(
            crate::limits::ConnectionCaps::default(),
            ServiceMetrics::unregistered(),
        );
        let admitted = admission.admit(peer.ip(), Transport::Kaatcp).unwrap();
        // What the listener spawns, as it is.
        let serving = connection(handler, stream, peer, None, admitted);
        let size = std::mem::size_of_val(&serving);
        assert!(size < 2048, "a connection's future takes {size} bytes");
        drop(client);
    }
}
