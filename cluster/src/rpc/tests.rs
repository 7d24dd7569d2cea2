//! Real servers and pooled clients over loopback, in one process.

use std::sync::{Arc, Mutex};
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

use super::*;

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
    ThriftServer::start("127.0.0.1", port, processors, ServerSettings::default())
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

    let pool = ClientPool::<Operations>::new(quick());
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

    let pool = ClientPool::<Operations>::new(quick());
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
    let pool = ClientPool::<KaaNode>::new(quick());
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
    let pool = ClientPool::<KaaNode>::new(quick());

    let started = Instant::now();
    let result = pool.call(&peer, |client| client.server_name()).await;

    assert!(
        matches!(
            result,
            Err(RpcError::Call { .. } | RpcError::Timeout { .. })
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
    let server = start(named("node"), 0).await;
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
    let pool = ClientPool::<KaaNode>::new(quick());
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
    let pool = ClientPool::<KaaNode>::new(quick());
    let call = tokio::spawn(async move { pool.call(&peer, |client| client.server_name()).await });

    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;

    assert_eq!(call.await.unwrap().unwrap(), "slow");
}
