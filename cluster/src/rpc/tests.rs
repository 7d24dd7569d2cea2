//! Real servers and pooled clients over loopback, in one process, under mutual TLS with a CA
//! made for the test process (plaintext only where a test writes raw bytes).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use kaa_idl::thrift::kaa_node::{
    CommandResult, KaaNodeServiceSyncHandler, MemoryUsage, TKaaNodeServiceSyncClient,
};
use kaa_idl::thrift::operations::{
    Message, Notification, Operation, OperationsServiceSyncHandler, RedirectionRule,
    ThriftEndpointDeregistrationMessage, ThriftEntityRouteMessage, ThriftOwnerChangeMessage,
    ThriftServerProfileUpdateMessage, ThriftUnicastNotificationMessage, UserConfigurationUpdate,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::certs::{self, NodeSubject, TlsFiles};
use super::*;

/// The test process's cluster CA folder.
fn ca_dir() -> &'static Path {
    static CA: OnceLock<tempfile::TempDir> = OnceLock::new();
    CA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        certs::init_ca(dir.path()).unwrap();
        dir
    })
    .path()
}

/// A node identity for `ips`, signed by the CA in `ca_dir`, in a folder of its own.
fn identity_files(ca_dir: &Path, ips: &[&str]) -> (tempfile::TempDir, TlsFiles) {
    let out = tempfile::tempdir().unwrap();
    let subject = NodeSubject {
        name: "node".into(),
        ips: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        dns: vec!["localhost".into()],
    };
    let files = certs::issue(ca_dir, &subject, 1, out.path()).unwrap();
    (out, files)
}

/// Mutual TLS as a node on 127.0.0.1 of the test CA.
fn security() -> Security {
    static SECURITY: OnceLock<(tempfile::TempDir, Security)> = OnceLock::new();
    SECURITY
        .get_or_init(|| {
            let (dir, files) = identity_files(ca_dir(), &["127.0.0.1"]);
            (dir, Security::mutual_tls(&files).unwrap())
        })
        .1
        .clone()
}

/// A CA of another cluster.
fn foreign_ca() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    certs::init_ca(dir.path()).unwrap();
    let path = dir.path().to_owned();
    (dir, path)
}

/// `KaaNodeService` answering with a fixed name, after `delay`.
pub(super) struct Named {
    name: &'static str,
    delay: Duration,
}

impl Named {
    /// Answers at once.
    pub(super) fn new(name: &'static str) -> Self {
        Self {
            name,
            delay: Duration::ZERO,
        }
    }
}

impl KaaNodeServiceSyncHandler for Named {
    fn handle_server_name(&self) -> thrift::Result<String> {
        std::thread::sleep(self.delay);
        Ok(self.name.into())
    }
    fn handle_shutdown(&self) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_get_memory_usage(&self, _force_gc: bool) -> thrift::Result<MemoryUsage> {
        Ok(MemoryUsage::default())
    }
    fn handle_execute_command(&self, _line: String) -> thrift::Result<CommandResult> {
        Ok(CommandResult::default())
    }
}

/// `OperationsService` recording the notifications it gets.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Notification>>>);

impl OperationsServiceSyncHandler for Recorder {
    fn handle_on_notification(&self, notification: Notification) -> thrift::Result<()> {
        self.0.lock().unwrap().push(notification);
        Ok(())
    }
    fn handle_set_redirection_rule(&self, _: RedirectionRule) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_send_messages(&self, _: Vec<Message>) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_send_user_configuration_updates(
        &self,
        _: Vec<UserConfigurationUpdate>,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_entity_route_messages(
        &self,
        _: Vec<ThriftEntityRouteMessage>,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_unicast_notification(
        &self,
        _: ThriftUnicastNotificationMessage,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_server_profile_update(
        &self,
        _: ThriftServerProfileUpdateMessage,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_endpoint_deregistration(
        &self,
        _: ThriftEndpointDeregistrationMessage,
    ) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_on_owner_change(&self, _: ThriftOwnerChangeMessage) -> thrift::Result<()> {
        Ok(())
    }
    fn handle_find_event_listeners(
        &self,
        _: String,
        _: Vec<String>,
        _: Vec<u8>,
    ) -> thrift::Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
}

async fn start(processors: Processors, port: u16) -> ThriftServer {
    start_with(processors, port, &security()).await
}

async fn start_with(processors: Processors, port: u16, security: &Security) -> ThriftServer {
    let settings = ServerSettings::default();
    ThriftServer::start("127.0.0.1", port, processors, settings, security)
        .await
        .unwrap()
}

fn named(name: &'static str) -> Processors {
    Processors::default().kaa_node(Named::new(name))
}

fn peer_of(server: &ThriftServer) -> PeerAddr {
    PeerAddr::new("127.0.0.1", server.local_addr().port())
}

fn quick() -> ClientSettings {
    ClientSettings {
        connect_timeout: Duration::from_millis(500),
        call_timeout: Duration::from_millis(500),
        max_idle_per_peer: 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_reaches_every_operations_server() {
    let (first, second) = (Recorder::default(), Recorder::default());
    let servers = [
        start(Processors::default().operations(first.clone()), 0).await,
        start(Processors::default().operations(second.clone()), 0).await,
    ];
    let peers: Vec<PeerAddr> = servers.iter().map(peer_of).collect();
    let notification = Notification {
        app_id: Some("42".into()),
        app_seq_number: Some(7),
        op: Some(Operation::APP_UPDATE),
        ..Default::default()
    };

    let pool = ClientPool::<Operations>::new(quick(), security());
    let results = notify_operations(&pool, &peers, notification.clone()).await;

    assert_eq!(results.len(), 2);
    for ((peer, result), expected) in results.iter().zip(&peers) {
        assert_eq!(peer, expected);
        result.as_ref().unwrap();
    }
    for recorder in [&first, &second] {
        assert_eq!(*recorder.0.lock().unwrap(), vec![notification.clone()]);
    }
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_peer_fails_alone() {
    let recorder = Recorder::default();
    let server = start(Processors::default().operations(recorder.clone()), 0).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let peers = [peer_of(&server), PeerAddr::new("127.0.0.1", closed)];

    let pool = ClientPool::<Operations>::new(quick(), security());
    let results = notify_operations(&pool, &peers, Notification::default()).await;

    assert!(results[0].1.is_ok(), "{:?}", results[0].1);
    assert!(
        matches!(results[1].1, Err(RpcError::Connect { .. })),
        "{:?}",
        results[1].1
    );
    assert_eq!(recorder.0.lock().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_is_replaced_after_the_peer_restarts() {
    let server = start(named("before"), 0).await;
    let port = server.local_addr().port();
    let peer = peer_of(&server);
    let pool = ClientPool::<KaaNode>::new(quick(), security());
    let name = pool.call(&peer, |client| client.server_name()).await;
    assert_eq!(name.unwrap(), "before");

    // The idle pooled connection dies with the server; the next call dials the new one.
    server.stop().await;
    let server = start(named("after"), port).await;
    let name = pool.call(&peer, |client| client.server_name()).await;
    assert_eq!(name.unwrap(), "after");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_times_out() {
    // A listening socket nobody accepts on: the kernel completes the handshake, nothing answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = PeerAddr::new("127.0.0.1", silent.local_addr().unwrap().port());
    let pool = ClientPool::<KaaNode>::new(quick(), security());

    let started = Instant::now();
    let result = pool.call(&peer, |client| client.server_name()).await;

    assert!(
        matches!(
            result,
            Err(RpcError::Handshake { .. } | RpcError::Call { .. } | RpcError::Timeout { .. })
        ),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_its_connection() {
    let server = start_with(named("node"), 0, &Security::Plaintext).await;
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let too_long = u32::try_from(frame::DEFAULT_MAX_FRAME_LEN + 1).unwrap();
    stream.write_all(&too_long.to_be_bytes()).await.unwrap();

    let mut buf = [0; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .expect("the server closes the connection");
    assert_eq!(read.unwrap_or(0), 0, "closed without a response");

    // The server itself keeps serving.
    let pool = ClientPool::<KaaNode>::new(quick(), Security::Plaintext);
    let name = pool
        .call(&peer_of(&server), |client| client.server_name())
        .await;
    assert_eq!(name.unwrap(), "node");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_answers_the_call_in_flight_first() {
    let slow = Processors::default().kaa_node(Named {
        name: "slow",
        delay: Duration::from_millis(300),
    });
    let server = start(slow, 0).await;
    let peer = peer_of(&server);
    let pool = ClientPool::<KaaNode>::new(quick(), security());
    let call = tokio::spawn(async move { pool.call(&peer, |client| client.server_name()).await });

    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;

    assert_eq!(call.await.unwrap().unwrap(), "slow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_a_certificate_of_the_cluster_ca_is_refused_before_any_call() {
    let recorder = Recorder::default();
    let server = start(Processors::default().operations(recorder.clone()), 0).await;
    let peers = [peer_of(&server)];

    let plaintext = ClientPool::<Operations>::new(quick(), Security::Plaintext);
    let (_foreign, foreign_ca) = foreign_ca();
    let (_dir, files) = identity_files(&foreign_ca, &["127.0.0.1"]);
    let foreign = ClientPool::<Operations>::new(quick(), Security::mutual_tls(&files).unwrap());
    for pool in [plaintext, foreign] {
        let results = notify_operations(&pool, &peers, Notification::default()).await;
        assert!(results[0].1.is_err(), "{:?}", results[0].1);
    }
    assert!(recorder.0.lock().unwrap().is_empty(), "nothing was decoded");

    let member = ClientPool::<Operations>::new(quick(), security());
    let results = notify_operations(&member, &peers, Notification::default()).await;
    assert!(results[0].1.is_ok(), "{:?}", results[0].1);
    assert_eq!(recorder.0.lock().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_certificate_does_not_name_the_host_dialled_is_refused() {
    let (_dir, files) = identity_files(ca_dir(), &["10.11.12.13"]);
    let elsewhere = Security::mutual_tls(&files).unwrap();
    let server = start_with(named("impostor"), 0, &elsewhere).await;
    let pool = ClientPool::<KaaNode>::new(quick(), security());

    let result = pool
        .call(&peer_of(&server), |client| client.server_name())
        .await;

    assert!(
        matches!(&result, Err(RpcError::Handshake { source, .. }) if source.to_string().contains("certificate")),
        "{result:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_server_is_refused_by_a_tls_client() {
    let server = start_with(named("plain"), 0, &Security::Plaintext).await;
    let pool = ClientPool::<KaaNode>::new(quick(), security());

    let result = pool
        .call(&peer_of(&server), |client| client.server_name())
        .await;

    assert!(
        matches!(result, Err(RpcError::Handshake { .. })),
        "{result:?}"
    );
    server.stop().await;
}
