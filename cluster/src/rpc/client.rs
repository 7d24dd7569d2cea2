//! Pooled blocking Thrift clients, one pool per service (see the parent module for the design).

use std::collections::HashMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaa_idl::thrift::bootstrap::BootstrapServiceSyncClient;
use kaa_idl::thrift::kaa_node::KaaNodeServiceSyncClient;
use kaa_idl::thrift::operations::{
    Notification, OperationsServiceSyncClient, TOperationsServiceSyncClient,
};
use kaa_idl::thrift::service_names;
use thrift::protocol::{TBinaryInputProtocol, TBinaryOutputProtocol, TMultiplexedOutputProtocol};
use thrift::transport::{
    ReadHalf, TFramedReadTransport, TFramedWriteTransport, TIoChannel, TTcpChannel, WriteHalf,
};
use tracing::{debug, warn};

use super::{PeerAddr, RpcError};

/// What a generated client reads replies with: binary protocol over framed transport.
pub type InputProtocol = TBinaryInputProtocol<TFramedReadTransport<ReadHalf<TTcpChannel>>>;

/// What a generated client writes calls with: binary protocol over framed transport, each call
/// named `Service:method` for the peer's multiplexed processor.
pub type OutputProtocol = TMultiplexedOutputProtocol<
    TBinaryOutputProtocol<TFramedWriteTransport<WriteHalf<TTcpChannel>>>,
>;

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

/// Idle connections to each peer for service `S`, and the settings calls use. Cloning shares
/// the pool.
pub struct ClientPool<S: Service> {
    settings: ClientSettings,
    idle: Arc<Mutex<HashMap<PeerAddr, Vec<S::Client>>>>,
}

impl<S: Service> Clone for ClientPool<S> {
    fn clone(&self) -> Self {
        Self {
            settings: self.settings,
            idle: self.idle.clone(),
        }
    }
}

impl<S: Service> ClientPool<S> {
    /// An empty pool.
    pub fn new(settings: ClientSettings) -> Self {
        Self {
            settings,
            idle: Arc::default(),
        }
    }

    /// Runs `call` with a client connected to `peer`, on tokio's blocking pool.
    ///
    /// Takes an idle connection or dials one. A connection goes back to the pool after a call that
    /// completed, including one that raised a declared exception; any other failure drops it. A
    /// pooled connection that turns out closed (the peer restarted while it was idle) is replaced
    /// by a fresh one and `call` runs again, once; a call on a fresh connection never repeats.
    pub async fn call<R, F>(&self, peer: &PeerAddr, call: F) -> Result<R, RpcError>
    where
        F: Fn(&mut S::Client) -> thrift::Result<R> + Send + 'static,
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
        call: impl Fn(&mut S::Client) -> thrift::Result<R>,
    ) -> Result<R, RpcError> {
        let (client, result) = match self.take_idle(peer) {
            Some(mut client) => match call(&mut client) {
                Err(thrift::Error::Transport(error)) => {
                    debug!(%peer, service = S::NAME, %error, "pooled connection is closed, dialling again");
                    let mut client = self.dial(peer)?;
                    let result = call(&mut client);
                    (client, result)
                }
                result => (client, result),
            },
            None => {
                let mut client = self.dial(peer)?;
                let result = call(&mut client);
                (client, result)
            }
        };
        match result {
            Ok(value) => {
                self.put_idle(peer, client);
                Ok(value)
            }
            // A declared exception was read in full: the connection is still in step.
            Err(error @ thrift::Error::User(_)) => {
                self.put_idle(peer, client);
                Err(call_error(peer, error))
            }
            // Anything else may leave bytes of this call on the wire: the connection closes.
            Err(error) => Err(call_error(peer, error)),
        }
    }

    fn dial(&self, peer: &PeerAddr) -> Result<S::Client, RpcError> {
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
            match TcpStream::connect_timeout(&addr, self.settings.connect_timeout) {
                Ok(stream) => {
                    let timeout = Some(self.settings.call_timeout);
                    stream.set_nodelay(true).map_err(connect_error)?;
                    stream.set_read_timeout(timeout).map_err(connect_error)?;
                    stream.set_write_timeout(timeout).map_err(connect_error)?;
                    let (read, write) = TTcpChannel::with_stream(stream)
                        .split()
                        .map_err(|error| call_error(peer, error))?;
                    debug!(%peer, service = S::NAME, "connected");
                    return Ok(S::client(
                        TBinaryInputProtocol::new(TFramedReadTransport::new(read), true),
                        TMultiplexedOutputProtocol::new(
                            S::NAME,
                            TBinaryOutputProtocol::new(TFramedWriteTransport::new(write), true),
                        ),
                    ));
                }
                Err(error) => last_error = error,
            }
        }
        Err(connect_error(last_error))
    }

    fn take_idle(&self, peer: &PeerAddr) -> Option<S::Client> {
        self.idle.lock().ok()?.get_mut(peer)?.pop()
    }

    fn put_idle(&self, peer: &PeerAddr, client: S::Client) {
        if let Ok(mut idle) = self.idle.lock() {
            let clients = idle.entry(peer.clone()).or_default();
            if clients.len() < self.settings.max_idle_per_peer {
                clients.push(client);
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
    F: Fn(&mut S::Client) -> thrift::Result<R> + Clone + Send + 'static,
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
        client.on_notification(notification.clone())
    })
    .await
}
