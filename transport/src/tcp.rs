//! The Kaatcp listener: one task per connection, reading frames with the pure decoder and
//! answering them through an [`EndpointService`].
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

use bytes::BytesMut;
use kaa_idl::endpoint::kaatcp::{
    Connect, DisconnectReason, Frame, FrameDecoder, KaaSync, ReturnCode,
};
use kaa_idl::endpoint::sync::SyncResponse;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

use crate::secure::{self, Cipher, Opening};
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
            allow_plaintext: true,
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
        let connection = Connection {
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
                    None => connection.run(stream, peer).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        {
                            Ok(Ok(stream)) => connection.run(stream, peer).await,
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

struct Connection<S> {
    service: Arc<S>,
    keys: NodeKeys,
    settings: Arc<TcpSettings>,
    shutdown: CancellationToken,
}

/// An open session: its cipher, the service's state and the silence allowed.
struct Open<T> {
    cipher: Cipher,
    session: T,
    idle_limit: Duration,
}

/// What to do after a frame.
enum Next {
    Continue,
    Close,
}

impl<S: EndpointService> Connection<S> {
    async fn run<T>(self, stream: T, peer: SocketAddr)
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut buffer = BytesMut::with_capacity(1024);
        let mut decoder = FrameDecoder::new(self.settings.max_frame);
        let (push_tx, mut push_rx) = mpsc::channel::<S::Push>(8);
        let mut open: Option<Open<S::Session>> = None;
        debug!(%peer, "connection opened");
        'connection: loop {
            loop {
                let frame = match decoder.decode(&mut buffer) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(error) => {
                        debug!(%error, "malformed frame");
                        let goodbye = match open {
                            None => Frame::ConnAck(ReturnCode::BadProtocol),
                            Some(_) => Frame::Disconnect(DisconnectReason::BadRequest),
                        };
                        let _ = writer.write_all(&goodbye.encode()).await;
                        break 'connection;
                    }
                };
                let next = self.frame(frame, &mut open, &push_tx, &mut writer).await;
                if matches!(next, Next::Close) {
                    break 'connection;
                }
            }
            let idle_limit = open
                .as_ref()
                .map_or(self.settings.connect_timeout, |o| o.idle_limit);
            tokio::select! {
                read = tokio::time::timeout(idle_limit, reader.read_buf(&mut buffer)) => match read {
                    Ok(Ok(0)) => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => {
                        debug!(%error, "read failed");
                        break;
                    }
                    Err(_) => {
                        debug!(?idle_limit, "session silent too long");
                        break;
                    }
                },
                Some(push) = push_rx.recv(), if open.is_some() => {
                    let Some(current) = open.as_mut() else { continue };
                    match self.service.push(&mut current.session, push).await {
                        Ok(Some(response)) => {
                            let frame = sync_frame(&current.cipher, &response);
                            if writer.write_all(&frame.encode()).await.is_err() {
                                break;
                            }
                        }
                        Ok(None) => {}
                        Err(failure) => {
                            debug!(%failure, "push ends the session");
                            let _ = writer
                                .write_all(&Frame::Disconnect(failure.disconnect()).encode())
                                .await;
                            break;
                        }
                    }
                }
                _ = self.shutdown.cancelled() => {
                    if open.is_some() {
                        let _ = writer.write_all(&Frame::Disconnect(DisconnectReason::None).encode()).await;
                    }
                    break;
                }
            }
        }
        let _ = writer.shutdown().await;
        if let Some(open) = open {
            self.service.close(open.session);
        }
        debug!(%peer, "connection closed");
    }

    async fn frame<W: AsyncWrite + Unpin>(
        &self,
        frame: Frame,
        open: &mut Option<Open<S::Session>>,
        push_tx: &mpsc::Sender<S::Push>,
        writer: &mut W,
    ) -> Next {
        match (frame, open.is_some()) {
            (Frame::Connect(connect), false) => match self.connect(connect, push_tx).await {
                Ok((new, response)) => {
                    let mut bytes = Frame::ConnAck(ReturnCode::Accepted).encode();
                    bytes.extend_from_slice(&sync_frame(&new.cipher, &response).encode());
                    if writer.write_all(&bytes).await.is_err() {
                        return Next::Close;
                    }
                    if S::KEEPS_SESSIONS {
                        *open = Some(new);
                    } else {
                        self.service.close(new.session);
                    }
                    Next::Continue
                }
                Err(failure) => {
                    debug!(%failure, "session refused");
                    let _ = writer
                        .write_all(&Frame::ConnAck(failure.connack()).encode())
                        .await;
                    Next::Close
                }
            },
            // A second CONNECT on a live session is ignored, as Kaa does.
            (Frame::Connect(_), true) => Next::Continue,
            (Frame::KaaSync(sync), true) => {
                let Some(current) = open.as_mut() else {
                    return Next::Close;
                };
                match self.kaasync(current, sync).await {
                    Ok(response) => {
                        let frame = sync_frame(&current.cipher, &response);
                        match writer.write_all(&frame.encode()).await {
                            Ok(()) => Next::Continue,
                            Err(_) => Next::Close,
                        }
                    }
                    Err(failure) => {
                        debug!(%failure, "sync failed; closing the session");
                        let _ = writer
                            .write_all(&Frame::Disconnect(failure.disconnect()).encode())
                            .await;
                        Next::Close
                    }
                }
            }
            (Frame::PingReq, true) => match writer.write_all(&Frame::PingResp.encode()).await {
                Ok(()) => Next::Continue,
                Err(_) => Next::Close,
            },
            (Frame::Disconnect(reason), true) => {
                debug!(?reason, "endpoint disconnected");
                Next::Close
            }
            (Frame::Disconnect(_), false) => Next::Close,
            // Anything else before CONNECT: "bad protocol", as Kaa answers.
            (_, false) => {
                let _ = writer
                    .write_all(&Frame::ConnAck(ReturnCode::BadProtocol).encode())
                    .await;
                Next::Close
            }
            (other, true) => {
                debug!(
                    frame = frame_name(&other),
                    "unexpected frame from an endpoint"
                );
                let _ = writer
                    .write_all(&Frame::Disconnect(DisconnectReason::BadRequest).encode())
                    .await;
                Next::Close
            }
        }
    }

    async fn connect(
        &self,
        connect: Box<Connect>,
        push_tx: &mpsc::Sender<S::Push>,
    ) -> Result<(Open<S::Session>, SyncResponse), SyncFailure> {
        let (cipher, request) = secure::open(
            self.service.as_ref(),
            &self.keys,
            self.settings.allow_plaintext,
            Opening {
                wrapped_key: connect.session_key.as_ref().map(|key| &key[..]),
                signature: connect.signature.as_ref().map(|signature| &signature[..]),
                payload: &connect.payload,
            },
        )
        .await?;
        let mut session = self.service.open(push_tx.clone());
        let response = match self.service.sync(&mut session, request).await {
            Ok(response) => response,
            Err(failure) => {
                self.service.close(session);
                return Err(failure);
            }
        };
        // Kaa expires a channel after its keepalive; allow half again for network jitter.
        let keepalive = Duration::from_secs(u64::from(connect.keep_alive.max(1)));
        Ok((
            Open {
                cipher,
                session,
                idle_limit: keepalive + keepalive / 2,
            },
            response,
        ))
    }

    async fn kaasync(
        &self,
        open: &mut Open<S::Session>,
        sync: KaaSync,
    ) -> Result<SyncResponse, SyncFailure> {
        if !sync.request {
            return Err(SyncFailure::BadRequest(
                "KAASYNC from an endpoint must be a request".into(),
            ));
        }
        if sync.encrypted != open.cipher.is_encrypted() {
            return Err(SyncFailure::BadRequest(
                "KAASYNC encryption flag differs from the session's".into(),
            ));
        }
        let request = secure::decode(&open.cipher, &sync.payload)?;
        self.service.sync(&mut open.session, request).await
    }
}

fn sync_frame(cipher: &Cipher, response: &SyncResponse) -> Frame {
    Frame::KaaSync(KaaSync {
        request: false,
        encrypted: cipher.is_encrypted(),
        message_id: 0,
        payload: cipher.encrypt(&response.encode()),
    })
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
