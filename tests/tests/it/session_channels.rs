//! An endpoint with several channels open at once, as Kaa's Java SDK runs over HTTP: a
//! `/EP/LongSync` poll waiting for pushes while `/EP/Sync` posts carry logs. Every request here is
//! signed and encrypted as Kaa SDKs send them. A change activated through REST reaches the
//! waiting poll at once even though a short-lived `/EP/Sync` came and went meanwhile, and
//! events and owner notices sent to a long-polling endpoint arrive on its polls, none lost.

use std::time::{Duration, Instant};

use base64::Engine as _;
use kaa_idl::endpoint::crypto::sha1;
use kaa_idl::endpoint::sync::{
    ConfigurationSyncRequest, LogEntry, LogSyncRequest, ProfileSyncRequest, SyncRequest,
    SyncRequestMetaData, SyncResponse, SyncResponseResultType, SyncResponseStatus,
};
use kaa_sdk::bootstrap::{Transport, fetch_servers};
use kaa_sdk::channel::Security;
use kaa_sdk::client::{Event, KaaClient};
use kaa_sdk::http::{Path, sync};
use kaa_sdk::keys::EndpointKeys;
use kaa_tests::node::{Node, NodeBuilder};

use crate::owners_events::home_application;
use crate::support::{activate_interval, avro_long, endpoint_config, read_avro_long, wait_event};

const PASSWORD: &str = "session-channels-1";
const PING: &str = "org.home.Ping";

/// The application's HTTP verifier is never called here: owners attach through the default,
/// trustful one.
const UNUSED_VERIFIER: &str = "http://127.0.0.1:9/verify";

/// An endpoint speaking raw HTTP to an Operations node, each request signed with its key and
/// encrypted under a fresh session key wrapped for the node, as Kaa's Java SDK sends them.
#[derive(Clone)]
struct HttpEndpoint {
    address: String,
    node_key: Vec<u8>,
    keys: std::sync::Arc<EndpointKeys>,
    sdk_token: String,
}

/// The longest a test poll asks the server to wait.
const POLL_TIMEOUT: Duration = Duration::from_secs(60);

impl HttpEndpoint {
    /// An endpoint with a new key, told the node's HTTP address and key by plaintext Kaatcp
    /// Bootstrap.
    async fn new(node: &Node, sdk_token: &str) -> Self {
        let servers = fetch_servers(
            &format!("127.0.0.1:{}", node.port("bootstrap.tcp_port")),
            Security::Plain,
            sdk_token,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let http = servers
            .iter()
            .find(|s| s.transport == Transport::Http)
            .expect("an HTTP Operations transport");
        Self {
            address: http.address(),
            node_key: http.public_key.clone(),
            keys: std::sync::Arc::new(EndpointKeys::generate().unwrap()),
            sdk_token: sdk_token.to_owned(),
        }
    }

    fn key_hash(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.keys.key_hash())
    }

    /// A request of the registered endpoint (empty profile) with `timeout` in its meta data.
    fn request(&self, request_id: i32, timeout: Duration) -> SyncRequest {
        SyncRequest {
            request_id,
            sync_request_meta_data: Some(SyncRequestMetaData {
                sdk_token: self.sdk_token.clone(),
                endpoint_public_key_hash: Some(self.keys.key_hash().to_vec()),
                profile_hash: Some(sha1(&[]).to_vec()),
                timeout: Some(timeout.as_millis() as i64),
            }),
            ..SyncRequest::default()
        }
    }

    async fn send(&self, path: Path, request: &SyncRequest) -> SyncResponse {
        let answer = sync(
            &self.address,
            path,
            &self.node_key,
            &self.keys,
            request,
            POLL_TIMEOUT + Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{path:?} failed: {e}"));
        assert_eq!(answer.status, SyncResponseResultType::Success, "{answer:?}");
        answer
    }

    /// Registers with access token `access_token` over `/EP/Sync`; returns the SHA-1 of the
    /// configuration it received.
    async fn register(&self, access_token: &str) -> Vec<u8> {
        let mut request = self.request(1, Duration::from_secs(10));
        if let Some(meta) = request.sync_request_meta_data.as_mut() {
            meta.profile_hash = None;
        }
        request.profile_sync_request = Some(ProfileSyncRequest {
            endpoint_public_key: Some(self.keys.public_der().to_vec()),
            profile_body: Vec::new(),
            endpoint_access_token: Some(access_token.into()),
        });
        request.configuration_sync_request = Some(ConfigurationSyncRequest {
            configuration_hash: Vec::new(),
            resync_only: Some(true),
        });
        let answer = self.send(Path::Sync, &request).await;
        let body = answer
            .configuration_sync_response
            .and_then(|c| c.conf_delta_body)
            .expect("a registration gets the configuration");
        sha1(&body).to_vec()
    }

    /// Starts a `/EP/LongSync` poll holding configuration `held`; it runs until the server answers.
    fn poll(
        &self,
        request_id: i32,
        held: &[u8],
    ) -> tokio::task::JoinHandle<(SyncResponse, Instant)> {
        let mut request = self.request(request_id, POLL_TIMEOUT);
        request.configuration_sync_request = Some(ConfigurationSyncRequest {
            configuration_hash: held.to_vec(),
            resync_only: Some(true),
        });
        let this = self.clone();
        tokio::spawn(async move {
            let answer = this.send(Path::LongSync, &request).await;
            (answer, Instant::now())
        })
    }

    /// Posts log record `{n}` over `/EP/Sync` and checks that it was delivered.
    async fn post_log(&self, request_id: i32, n: i32) {
        let mut request = self.request(request_id, Duration::from_secs(10));
        request.log_sync_request = Some(LogSyncRequest {
            request_id,
            log_entries: Some(vec![LogEntry {
                data: avro_long(i64::from(n)),
            }]),
        });
        let answer = self.send(Path::Sync, &request).await;
        let statuses = answer
            .log_sync_response
            .and_then(|l| l.delivery_statuses)
            .expect("a delivery status for the log batch");
        assert_eq!(statuses.len(), 1, "{statuses:?}");
        assert_eq!(statuses[0].request_id, request_id);
    }
}

/// Lets a just-started poll reach the server and wait there.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn an_http_endpoint_posting_logs_gets_a_configuration_change_on_its_waiting_poll_at_once() {
    let mut node = NodeBuilder::standalone_with_admin(PASSWORD).start().await;
    let app = home_application(&node, PASSWORD, UNUSED_VERIFIER).await;
    let sensor = HttpEndpoint::new(&node, &app.sdk_token).await;
    let held = sensor.register("sensor-1").await;

    let poll = sensor.poll(2, &held);
    settle().await;
    // While the poll waits, the endpoint posts logs on its other channel.
    sensor.post_log(3, 1).await;
    sensor.post_log(4, 2).await;
    assert!(!poll.is_finished(), "the poll answered before any change");

    activate_interval(&app.developer, &app.path, &app.all_group, 25).await;
    let activated = Instant::now();
    let (answer, answered) = poll.await.unwrap();
    let delay = answered.saturating_duration_since(activated);
    println!("configuration change reached the waiting poll after {delay:?}");
    let configuration = answer
        .configuration_sync_response
        .unwrap_or_else(|| panic!("the poll ended after {delay:?} without a configuration"));
    assert_eq!(configuration.response_status, SyncResponseStatus::Resync);
    assert_eq!(
        read_avro_long(&configuration.conf_delta_body.unwrap()),
        25,
        "the poll carries the new configuration"
    );
    assert!(
        delay < Duration::from_secs(1),
        "the configuration change took {delay:?} to reach the waiting poll"
    );
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

/// The events of class `Ping` in a response: their numbers.
fn pings(answer: &SyncResponse) -> Vec<i64> {
    answer
        .event_sync_response
        .iter()
        .flat_map(|e| e.events.iter().flatten())
        .filter(|e| e.event_class_fqn == PING)
        .map(|e| read_avro_long(&e.event_data))
        .collect()
}

#[tokio::test]
async fn a_long_polling_endpoint_receives_owner_notices_and_every_event() {
    let mut node = NodeBuilder::standalone_with_admin(PASSWORD).start().await;
    let app = home_application(&node, PASSWORD, UNUSED_VERIFIER).await;
    let within = Duration::from_secs(20);
    let phone_state = tempfile::tempdir().unwrap();
    let mut phone = KaaClient::start(endpoint_config(
        &[&node],
        &app.sdk_token,
        "phone-1",
        phone_state.path(),
    ))
    .unwrap();
    wait_event(&mut phone, within, "a session", |e| {
        matches!(e, Event::Connected(_)).then_some(())
    })
    .await;
    phone
        .attach_to_owner(None, "alice".into(), "anything".into())
        .unwrap();
    wait_event(&mut phone, within, "the owner attach", |e| match e {
        Event::AttachedToOwner { .. } => Some(()),
        Event::OwnerAttachFailed { code, reason } => panic!("attach failed: {code:?} {reason:?}"),
        _ => None,
    })
    .await;

    let lamp = HttpEndpoint::new(&node, &app.sdk_token).await;
    let held = lamp.register("lamp-1").await;

    // Attached by the phone while its poll waits: the poll carries the notice.
    let poll = lamp.poll(2, &held);
    settle().await;
    phone.attach_endpoint("lamp-1".into()).unwrap();
    let (answer, _) = tokio::time::timeout(within, poll).await.unwrap().unwrap();
    let notice = answer
        .user_sync_response
        .as_ref()
        .and_then(|u| u.user_attach_notification.clone())
        .unwrap_or_else(|| panic!("the poll carries no attach notice: {answer:?}"));
    assert_eq!(notice.user_external_id, "alice");
    assert_eq!(notice.endpoint_access_token, "phone-1");

    // Events sent while the lamp's poll waits and it posts logs on another channel all arrive,
    // in order, on its polls.
    const EVENTS: i64 = 20;
    let mut received = Vec::new();
    let mut request_id = 3;
    let mut poll = lamp.poll(request_id, &held);
    settle().await;
    lamp.post_log(100, 1).await;
    for n in 0..EVENTS {
        phone.send_event(PING.into(), avro_long(n), None).unwrap();
    }
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (answer, _) = tokio::time::timeout(left, poll)
            .await
            .unwrap_or_else(|_| panic!("events missing; got {received:?}"))
            .unwrap();
        received.extend(pings(&answer));
        if received.len() as i64 >= EVENTS {
            break;
        }
        request_id += 1;
        poll = lamp.poll(request_id, &held);
    }
    assert_eq!(
        received,
        (0..EVENTS).collect::<Vec<_>>(),
        "every event, in order"
    );

    // Detached while a poll waits: the poll carries the notice.
    let poll = lamp.poll(request_id + 1, &held);
    settle().await;
    phone.detach_endpoint(lamp.key_hash()).unwrap();
    let (answer, _) = tokio::time::timeout(within, poll).await.unwrap().unwrap();
    let notice = answer
        .user_sync_response
        .as_ref()
        .and_then(|u| u.user_detach_notification.clone())
        .unwrap_or_else(|| panic!("the poll carries no detach notice: {answer:?}"));
    assert_eq!(notice.endpoint_access_token, "phone-1");

    phone.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}
