//! Pooled blocking Thrift clients, one pool per service (see the parent module for the design).
//! Under mutual TLS a connection completes its handshake when it is dialled, within the connect
//! timeout, so a peer with the wrong certificate fails the dial, never a call.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kaa_idl::thrift::bootstrap::BootstrapServiceSyncClient;
use kaa_idl::thrift::kaa_node::KaaNodeServiceSyncClient;
use kaa_idl::thrift::operations::{
    Notification, OperationsServiceSyncClient, TOperationsServiceSyncClient,
};
use kaa_idl::thrift::service_names;
use thrift::protocol::{TBinaryInputProtocol, TBinaryOutputProtocol, TMultiplexedOutputProtocol};
use thrift::transport::{
    ReadHalf, TFramedReadTransport, TFramedWriteTransport, TIoChannel, WriteHalf,
};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConnection, StreamOwned};
use tracing::{debug, warn};

use super::{PeerAddr, RpcError, Security};

/// What a generated client reads replies with: binary protocol over framed transport.
pub type InputProtocol = TBinaryInputProtocol<TFramedReadTransport<ReadHalf<Channel>>>;

/// What a generated client writes calls with: binary protocol over framed transport, each call
/// named `Service:method` for the peer's multiplexed processor.
pub type OutputProtocol =
    TMultiplexedOutputProtocol<TBinaryOutputProtocol<TFramedWriteTransport<WriteHalf<Channel>>>>;

/// One connection's byte stream, plaintext or TLS, shared by the generated client's read and
/// write halves. A call writes, flushes, then reads, so the halves never wait on each other.
#[derive(Clone)]
pub struct Channel(Arc<Mutex<Stream>>);

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Channel {
    fn stream(&self) -> std::io::Result<MutexGuard<'_, Stream>> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("a call on this connection panicked"))
    }
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut *self.stream()? {
            Stream::Plain(stream) => stream.read(buf),
            Stream::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut *self.stream()? {
            Stream::Plain(stream) => stream.write(buf),
            Stream::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut *self.stream()? {
            Stream::Plain(stream) => stream.flush(),
            Stream::Tls(stream) => stream.flush(),
        }
    }
}

impl TIoChannel for Channel {
    fn split(self) -> thrift::Result<(ReadHalf<Self>, WriteHalf<Self>)> {
        Ok((ReadHalf::new(self.clone()), WriteHalf::new(self)))
    }
}

/// One internode service, as seen by a caller: its multiplexed name and its generated client.
pub trait Service: 'static {
    /// The multiplexed name the peer serves it under.
    const NAME: &'static str;
    /// The generated blocking client.
    type Client: Send + 'static;
    /// Wraps a connection's protocols in the generated client.
    fn client(input: InputProtocol, output: OutputProtocol) -> Self::Client;
}

/// `KaaNodeService`, served by every node.
pub enum KaaNode {}

impl Service for KaaNode {
    const NAME: &'static str = service_names::KAA_NODE;
    type Client = KaaNodeServiceSyncClient<InputProtocol, OutputProtocol>;
    fn client(input: InputProtocol, output: OutputProtocol) -> Self::Client {
        KaaNodeServiceSyncClient::new(input, output)
    }
}

/// `OperationsService`, served by Operations nodes.
pub enum Operations {}

impl Service for Operations {
    const NAME: &'static str = service_names::OPERATIONS;
    type Client = OperationsServiceSyncClient<InputProtocol, OutputProtocol>;
    fn client(input: InputProtocol, output: OutputProtocol) -> Self::Client {
        OperationsServiceSyncClient::new(input, output)
    }
}

/// `BootstrapService`, served by Bootstrap nodes.
pub enum Bootstrap {}

impl Service for Bootstrap {
    const NAME: &'static str = service_names::BOOTSTRAP;
    type Client = BootstrapServiceSyncClient<InputProtocol, OutputProtocol>;
    fn client(input: InputProtocol, output: OutputProtocol) -> Self::Client {
        BootstrapServiceSyncClient::new(input, output)
    }
}

/// Client timeouts and pool size.
#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    /// How long dialling a peer may take.
    pub connect_timeout: Duration,
    /// How long one call may take once connected; also bounds each socket read and write.
    pub call_timeout: Duration,
    /// Idle connections kept per peer; more concurrent calls dial more, then close them.
    pub max_idle_per_peer: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            call_timeout: Duration::from_secs(5),
            max_idle_per_peer: 4,
        }
    }
}

/// A connected client, and a second handle on its socket to check it while it is idle.
struct Connection<S: Service> {
    client: S::Client,
    socket: TcpStream,
}

impl<S: Service> Connection<S> {
    /// Whether the peer has left the connection alone while it sat idle: not closed or reset it,
    /// and sent nothing (bytes between calls would put the stream out of step).
    fn is_usable(&self) -> bool {
        if self.socket.set_nonblocking(true).is_err() {
            return false;
        }
        let quiet = matches!(
            self.socket.peek(&mut [0; 1]),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
        );
        self.socket.set_nonblocking(false).is_ok() && quiet
    }
}

/// Idle connections to each peer for service `S`, and the settings and security calls use.
/// Cloning shares the pool.
pub struct ClientPool<S: Service> {
    settings: ClientSettings,
    security: Security,
    idle: Arc<Mutex<HashMap<PeerAddr, Vec<Connection<S>>>>>,
}

impl<S: Service> Clone for ClientPool<S> {
    fn clone(&self) -> Self {
        Self {
            settings: self.settings,
            security: self.security.clone(),
            idle: self.idle.clone(),
        }
    }
}

impl<S: Service> ClientPool<S> {
    /// An empty pool whose connections are secured by `security`.
    pub fn new(settings: ClientSettings, security: Security) -> Self {
        Self {
            settings,
            security,
            idle: Arc::default(),
        }
    }

    /// Runs `call` with a client connected to `peer`, on tokio's blocking pool.
    ///
    /// Takes an idle connection the peer has not closed meanwhile, or dials one. The connection
    /// goes back to the pool after a call that completed, including one that raised a declared
    /// exception; any other failure drops it, so the next call dials again. A failed call is not
    /// repeated: the peer may have acted on it.
    pub async fn call<R, F>(&self, peer: &PeerAddr, call: F) -> Result<R, RpcError>
    where
        F: FnOnce(&mut S::Client) -> thrift::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.clone();
        let task_peer = peer.clone();
        let blocking = tokio::task::spawn_blocking(move || pool.call_blocking(&task_peer, call));
        let deadline = self.settings.connect_timeout + self.settings.call_timeout;
        match tokio::time::timeout(deadline, blocking).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(RpcError::Aborted {
                peer: peer.clone(),
                reason: join_error.to_string(),
            }),
            // The blocking task ends by itself within its socket timeouts.
            Err(_) => Err(RpcError::Timeout {
                peer: peer.clone(),
                after: deadline,
            }),
        }
    }

    fn call_blocking<R>(
        &self,
        peer: &PeerAddr,
        call: impl FnOnce(&mut S::Client) -> thrift::Result<R>,
    ) -> Result<R, RpcError> {
        let mut connection = match self.take_idle(peer) {
            Some(connection) => connection,
            None => self.dial(peer)?,
        };
        match call(&mut connection.client) {
            Ok(value) => {
                self.put_idle(peer, connection);
                Ok(value)
            }
            // A declared exception was read in full: the connection is still in step.
            Err(error @ thrift::Error::User(_)) => {
                self.put_idle(peer, connection);
                Err(call_error(peer, error))
            }
            // Anything else may leave bytes of this call on the wire: the connection closes.
            Err(error) => Err(call_error(peer, error)),
        }
    }

    fn dial(&self, peer: &PeerAddr) -> Result<Connection<S>, RpcError> {
        let connect_error = |source| RpcError::Connect {
            peer: peer.clone(),
            source,
        };
        let addrs = (peer.host.as_str(), peer.port)
            .to_socket_addrs()
            .map_err(connect_error)?;
        let mut last_error = std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "host name resolves to no address",
        );
        for addr in addrs {
            let stream = match TcpStream::connect_timeout(&addr, self.settings.connect_timeout) {
                Ok(stream) => stream,
                Err(error) => {
                    last_error = error;
                    continue;
                }
            };
            stream.set_nodelay(true).map_err(connect_error)?;
            let socket = stream.try_clone().map_err(connect_error)?;
            let stream = match &self.security {
                Security::Plaintext => Stream::Plain(stream),
                Security::MutualTls(tls) => Stream::Tls(Box::new(self.handshake(
                    peer,
                    tls.client_config(),
                    stream,
                )?)),
            };
            let timeout = Some(self.settings.call_timeout);
            socket.set_read_timeout(timeout).map_err(connect_error)?;
            socket.set_write_timeout(timeout).map_err(connect_error)?;
            let (read, write) = Channel(Arc::new(Mutex::new(stream)))
                .split()
                .map_err(|error| call_error(peer, error))?;
            debug!(%peer, service = S::NAME, "connected");
            let client = S::client(
                TBinaryInputProtocol::new(TFramedReadTransport::new(read), true),
                TMultiplexedOutputProtocol::new(
                    S::NAME,
                    TBinaryOutputProtocol::new(TFramedWriteTransport::new(write), true),
                ),
            );
            return Ok(Connection { client, socket });
        }
        Err(connect_error(last_error))
    }

    /// Completes the TLS handshake with `peer` within the connect timeout, checking that its
    /// certificate is the cluster CA's and names the host dialled.
    fn handshake(
        &self,
        peer: &PeerAddr,
        config: Arc<tokio_rustls::rustls::ClientConfig>,
        mut stream: TcpStream,
    ) -> Result<StreamOwned<ClientConnection, TcpStream>, RpcError> {
        let handshake_error = |source| RpcError::Handshake {
            peer: peer.clone(),
            source,
        };
        let name = ServerName::try_from(peer.host.clone()).map_err(|error| {
            handshake_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, error))
        })?;
        let mut connection = ClientConnection::new(config, name)
            .map_err(|error| handshake_error(std::io::Error::other(error)))?;
        let timeout = Some(self.settings.connect_timeout);
        stream.set_read_timeout(timeout).map_err(handshake_error)?;
        stream.set_write_timeout(timeout).map_err(handshake_error)?;
        while connection.is_handshaking() {
            connection
                .complete_io(&mut stream)
                .map_err(handshake_error)?;
        }
        Ok(StreamOwned::new(connection, stream))
    }

    /// An idle connection to `peer` that is still usable; unusable ones are dropped on the way.
    fn take_idle(&self, peer: &PeerAddr) -> Option<Connection<S>> {
        let mut idle = self.idle.lock().ok()?;
        let connections = idle.get_mut(peer)?;
        while let Some(connection) = connections.pop() {
            if connection.is_usable() {
                return Some(connection);
            }
            debug!(%peer, service = S::NAME, "dropping a pooled connection the peer closed");
        }
        None
    }

    fn put_idle(&self, peer: &PeerAddr, connection: Connection<S>) {
        if let Ok(mut idle) = self.idle.lock() {
            let connections = idle.entry(peer.clone()).or_default();
            if connections.len() < self.settings.max_idle_per_peer {
                connections.push(connection);
            }
        }
    }
}

fn call_error(peer: &PeerAddr, source: thrift::Error) -> RpcError {
    RpcError::Call {
        peer: peer.clone(),
        source,
    }
}

/// Runs `call` on every peer at once, each bounded by the pool's timeouts, and returns each
/// peer's result in `peers` order. Failures are logged here, so callers need only act on them.
pub async fn fan_out<S, R, F>(
    pool: &ClientPool<S>,
    peers: &[PeerAddr],
    call: F,
) -> Vec<(PeerAddr, Result<R, RpcError>)>
where
    S: Service,
    F: FnOnce(&mut S::Client) -> thrift::Result<R> + Clone + Send + 'static,
    R: Send + 'static,
{
    let calls = peers.iter().map(|peer| {
        let call = call.clone();
        async move {
            let result = pool.call(peer, call).await;
            if let Err(error) = &result {
                warn!(%peer, service = S::NAME, %error, "internode call failed");
            }
            (peer.clone(), result)
        }
    });
    futures::future::join_all(calls).await
}

/// Sends Control's metadata change to every given Operations node
/// (`OperationsService.onNotification`), concurrently.
pub async fn notify_operations(
    pool: &ClientPool<Operations>,
    peers: &[PeerAddr],
    notification: Notification,
) -> Vec<(PeerAddr, Result<(), RpcError>)> {
    fan_out(pool, peers, move |client| {
        client.on_notification(notification)
    })
    .await
}
