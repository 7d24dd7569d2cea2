//! The Kaatcp listener: one task per connection, reading and writing frames through a
//! [`Connection`] and answering them through the session logic HTTP shares
//! ([`Session`], on an [`EndpointService`]).
//!
//! A connection starts with CONNECT (session key, signature and the first SyncRequest), answered
//! with CONNACK and the first SyncResponse in one write. Then KAASYNC requests get KAASYNC
//! responses, PINGREQ gets PINGRESP, and the service's pushes go out as unsolicited KAASYNC
//! frames. A session that stays silent for 1.5 × its keepalive is closed. A malformed frame
//! closes only its own connection: with CONNACK before the session exists, with DISCONNECT
//! after.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kaa_idl::endpoint::kaatcp::{Connect, DisconnectReason, Frame, ReturnCode};
use kaa_idl::endpoint::sync::SyncResponse;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

use crate::connection::{Channel, Connection, ConnectionError, Session, Started};
use crate::secure::Opening;
use crate::{EndpointService, NodeKeys, SyncFailure};

/// Limits and switches of a Kaatcp listener.
#[derive(Debug, Clone)]
pub struct TcpSettings {
    /// Largest frame accepted; a bigger one closes the connection.
    pub max_frame: usize,
    /// Whether sessions without a session key are accepted.
    pub allow_plaintext: bool,
    /// How long a new connection may take to send CONNECT.
    pub connect_timeout: Duration,
}

impl Default for TcpSettings {
    fn default() -> Self {
        Self {
            max_frame: 512 * 1024,
            allow_plaintext: false,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// Accepts connections on `listener` until `shutdown`, each served by its own task in `tasks`,
/// behind TLS when `tls` is given.
pub async fn serve<S: EndpointService>(
    listener: TcpListener,
    service: Arc<S>,
    keys: NodeKeys,
    settings: TcpSettings,
    tls: Option<Arc<ServerConfig>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let settings = Arc::new(settings);
    let tls = tls.map(TlsAcceptor::from);
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
        let _ = stream.set_nodelay(true);
        let handler = Handler {
            service: service.clone(),
            keys: keys.clone(),
            settings: settings.clone(),
            shutdown: shutdown.clone(),
        };
        let tls = tls.clone();
        let handshake_timeout = settings.connect_timeout;
        tasks.spawn(
            async move {
                match tls {
                    None => handler.run(stream, peer).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        {
                            Ok(Ok(stream)) => handler.run(stream, peer).await,
                            Ok(Err(error)) => debug!(%error, "tls handshake failed"),
                            Err(_) => debug!("tls handshake timed out"),
                        }
                    }
                }
            }
            .instrument(info_span!("kaatcp", %peer)),
        );
    }
}

struct Handler<S> {
    service: Arc<S>,
    keys: NodeKeys,
    settings: Arc<TcpSettings>,
    shutdown: CancellationToken,
}

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
    async fn run<T>(self, stream: T, peer: SocketAddr)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        let mut connection = Connection::new(stream, self.settings.max_frame);
        let mut live: Option<Live<S>> = None;
        debug!(%peer, "connection opened");
        loop {
            let idle_limit = live
                .as_ref()
                .map_or(self.settings.connect_timeout, |l| l.idle_limit);
            let next = tokio::select! {
                read = tokio::time::timeout(idle_limit, connection.read_frame()) => match read {
                    Ok(Ok(Some(frame))) => self.frame(frame, &mut connection, &mut live).await,
                    Ok(Ok(None)) => Next::Close,
                    Ok(Err(ConnectionError::Malformed(error))) => {
                        debug!(%error, "malformed frame");
                        let goodbye = match live {
                            None => Frame::ConnAck(ReturnCode::BadProtocol),
                            Some(_) => Frame::Disconnect(DisconnectReason::BadRequest),
                        };
                        let _ = connection.write_frame(goodbye).await;
                        Next::Close
                    }
                    Ok(Err(error)) => {
                        debug!(%error, "read failed");
                        Next::Close
                    }
                    Err(_) => {
                        debug!(?idle_limit, "session silent too long");
                        Next::Close
                    }
                },
                push = next_push(&mut live) => self.push(push, &mut connection, &mut live).await,
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
                    debug!(%failure, "session refused");
                    let _ = connection
                        .write_frame(Frame::ConnAck(failure.connack()))
                        .await;
                    Next::Close
                }
            },
            // A second CONNECT on a live session is ignored, as Kaa does.
            (Frame::Connect(_), Some(_)) => Next::Continue,
            (Frame::KaaSync(sync), Some(current)) => {
                let answered = match connection.open_sync(sync) {
                    Ok(request) => current.session.exchange(request).await,
                    Err(failure) => Err(failure),
                };
                match answered {
                    Ok(response) => written(connection.write_sync(&response).await),
                    Err(failure) => {
                        debug!(%failure, "sync failed; closing the session");
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
        let keepalive = Duration::from_secs(u64::from(connect.keep_alive.max(1)));
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
                debug!(%failure, "push ends the session");
                let _ = connection
                    .write_frame(Frame::Disconnect(failure.disconnect()))
                    .await;
                Next::Close
            }
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
