//! The Thrift server on a node's Thrift port: an accept loop, one task per connection (a TLS
//! handshake first, under mutual TLS), frames handed to the multiplexed processor (see the
//! parent module for the design).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kaa_idl::thrift::bootstrap::{BootstrapServiceSyncHandler, BootstrapServiceSyncProcessor};
use kaa_idl::thrift::kaa_node::{KaaNodeServiceSyncHandler, KaaNodeServiceSyncProcessor};
use kaa_idl::thrift::operations::{OperationsServiceSyncHandler, OperationsServiceSyncProcessor};
use kaa_idl::thrift::service_names;
use thrift::server::{TMultiplexedProcessor, TProcessor};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, instrument, warn};

use super::frame::{self, DEFAULT_MAX_FRAME_LEN, HEADER_LEN};
use super::{RpcError, Security};

/// The services a node serves, each under its multiplexed name.
#[derive(Default)]
pub struct Processors {
    multiplexed: TMultiplexedProcessor,
    names: Vec<&'static str>,
}

impl Processors {
    /// Serves `KaaNodeService` with `handler`.
    ///
    /// # Panics
    /// If the service is already registered.
    pub fn kaa_node(self, handler: impl KaaNodeServiceSyncHandler + Send + Sync + 'static) -> Self {
        self.register(
            service_names::KAA_NODE,
            KaaNodeServiceSyncProcessor::new(handler),
        )
    }

    /// Serves `OperationsService` with `handler`.
    ///
    /// # Panics
    /// If the service is already registered.
    pub fn operations(
        self,
        handler: impl OperationsServiceSyncHandler + Send + Sync + 'static,
    ) -> Self {
        self.register(
            service_names::OPERATIONS,
            OperationsServiceSyncProcessor::new(handler),
        )
    }

    /// Serves `BootstrapService` with `handler`.
    ///
    /// # Panics
    /// If the service is already registered.
    pub fn bootstrap(
        self,
        handler: impl BootstrapServiceSyncHandler + Send + Sync + 'static,
    ) -> Self {
        self.register(
            service_names::BOOTSTRAP,
            BootstrapServiceSyncProcessor::new(handler),
        )
    }

    /// The multiplexed names registered so far.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    fn register(
        mut self,
        name: &'static str,
        processor: impl TProcessor + Send + Sync + 'static,
    ) -> Self {
        self.multiplexed
            .register(name, Box::new(processor), false)
            .unwrap_or_else(|error| panic!("{name} registered twice: {error}"));
        self.names.push(name);
        self
    }
}

/// Server limits.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Largest request payload accepted; a larger frame closes its connection.
    pub max_frame_len: usize,
    /// How long a peer may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// A running Thrift server.
pub struct ThriftServer {
    local_addr: SocketAddr,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl ThriftServer {
    /// Listens on `host:port` (port 0 picks a free one) and serves `processors` on the current
    /// tokio runtime until [`ThriftServer::stop`], to peers that pass `security`.
    pub async fn start(
        host: &str,
        port: u16,
        processors: Processors,
        settings: ServerSettings,
        security: &Security,
    ) -> Result<Self, RpcError> {
        let bind_error = |source| RpcError::Bind {
            addr: format!("{host}:{port}"),
            source,
        };
        let listener = TcpListener::bind((host, port)).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let tls = match security {
            Security::MutualTls(tls) => Some(TlsAcceptor::from(tls.server_config())),
            Security::Plaintext => None,
        };
        info!(
            addr = %local_addr,
            services = ?processors.names(),
            security = ?security,
            "thrift server listening"
        );
        tasks.spawn(accept_loop(
            listener,
            tls,
            Arc::new(processors.multiplexed),
            settings,
            stop.clone(),
            tasks.clone(),
        ));
        Ok(Self {
            local_addr,
            stop,
            tasks,
        })
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes idle connections, and returns once every call already received
    /// has been answered.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        info!(addr = %self.local_addr, "thrift server stopped");
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    processor: Arc<TMultiplexedProcessor>,
    settings: ServerSettings,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tasks.spawn(accept_connection(
                    stream,
                    peer,
                    tls.clone(),
                    processor.clone(),
                    settings,
                    stop.clone(),
                ));
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(%error, "thrift accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Takes one connection: under mutual TLS, the handshake must complete with a certificate the
/// cluster CA signed before a single byte is read as Thrift.
#[instrument(name = "thrift_connection", skip_all, fields(%peer))]
async fn accept_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    processor: Arc<TMultiplexedProcessor>,
    settings: ServerSettings,
    stop: CancellationToken,
) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%error, "cannot set TCP_NODELAY");
    }
    debug!("connection opened");
    let Some(tls) = tls else {
        serve_connection(stream, processor, settings, stop).await;
        return;
    };
    let handshake = tokio::select! {
        _ = stop.cancelled() => return,
        handshake = tokio::time::timeout(settings.handshake_timeout, tls.accept(stream)) => handshake,
    };
    match handshake {
        Ok(Ok(stream)) => serve_connection(stream, processor, settings, stop).await,
        Ok(Err(error)) => warn!(%error, "thrift peer refused in the TLS handshake"),
        Err(_) => warn!(
            after = ?settings.handshake_timeout,
            "thrift peer refused: no TLS handshake in time"
        ),
    }
}

/// Serves one connection: a request frame in, a response frame out, until the peer closes, the
/// server stops, or the peer sends something that is not framed Thrift.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    processor: Arc<TMultiplexedProcessor>,
    settings: ServerSettings,
    stop: CancellationToken,
) {
    loop {
        let request = tokio::select! {
            _ = stop.cancelled() => break,
            request = read_frame(&mut stream, settings.max_frame_len) => request,
        };
        let request = match request {
            Ok(Some(request)) => request,
            Ok(None) => break,
            Err(FrameReadError::TooLarge(error)) => {
                warn!(%error, "closing thrift connection");
                break;
            }
            Err(FrameReadError::Io(error)) => {
                debug!(%error, "thrift connection broke");
                break;
            }
        };
        let response = match frame::process(processor.as_ref(), &request) {
            Ok(response) => response,
            Err(error) => {
                warn!(%error, "closing thrift connection after a request that is not thrift");
                break;
            }
        };
        if !response.is_empty() {
            // TLS buffers what it encrypts: the flush puts the answer on the wire.
            let written = match stream.write_all(&response).await {
                Ok(()) => stream.flush().await,
                Err(error) => Err(error),
            };
            if let Err(error) = written {
                debug!(%error, "cannot write thrift response");
                break;
            }
        }
    }
    if let Err(error) = stream.shutdown().await {
        debug!(%error, "cannot close the thrift connection cleanly");
    }
    debug!("connection closed");
}

enum FrameReadError {
    TooLarge(frame::FrameTooLarge),
    Io(std::io::Error),
}

/// Reads one frame's payload; `None` when the peer closed the connection between frames.
async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_len: usize,
) -> Result<Option<Vec<u8>>, FrameReadError> {
    let mut header = [0; HEADER_LEN];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(FrameReadError::Io(error)),
    }
    let len = frame::payload_len(header, max_len).map_err(FrameReadError::TooLarge)?;
    let mut payload = vec![0; len];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(FrameReadError::Io)?;
    Ok(Some(payload))
}
