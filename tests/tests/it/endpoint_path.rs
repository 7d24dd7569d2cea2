//! The endpoint path end to end, as a device sees it: a real standalone `kaa-node`, an
//! application set up through the admin REST API, and an endpoint running the kaa-rs SDK that
//! bootstraps, registers over encrypted Kaatcp, receives its configuration, gets a configuration
//! change pushed without asking, and receives a topic notification.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kaa_idl::endpoint::sync::LogDeliveryErrorCode;
use kaa_sdk::bootstrap::Transport;
use kaa_sdk::client::{BootstrapServer, ClientConfig, Event, KaaClient};
use kaa_tests::api::{ApiClient, expect, id, mandatory_topic};
use kaa_tests::node::{Node, NodeBuilder};
use reqwest::Method;
use serde_json::json;

use crate::support;

pub(crate) const PASSWORD: &str = "endpoint-path-1";

/// Waits for the first event `pick` accepts, failing after `within`.
async fn wait_event<T>(
    client: &mut KaaClient,
    within: Duration,
    pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    support::wait_event(client, within, "an endpoint event", pick).await
}

pub(crate) struct App {
    pub(crate) path: String,
    pub(crate) sdk_token: String,
    pub(crate) all_group: String,
}

/// A tenant developer's application: configuration schema v1 {interval:int, mode:string}, the
/// group `all` with an active configuration, and an SDK profile pinning it.
pub(crate) async fn application(node: &Node) -> (ApiClient, App) {
    let base = format!("http://{}", node.admin);
    let admin = ApiClient::login(&base, "admin", PASSWORD).await;
    let tenant = admin
        .post("/api/v1/tenants", json!({ "name": "devices" }))
        .await;
    expect(&tenant, 201);
    expect(
        &admin
            .post(
                "/api/v1/users",
                json!({ "username": "boss", "password": PASSWORD, "role": "TENANT_ADMIN", "tenant_id": id(&tenant) }),
            )
            .await,
        201,
    );
    let boss = ApiClient::login(&base, "boss", PASSWORD).await;
    expect(
        &boss
            .post(
                "/api/v1/users",
                json!({ "username": "dev", "password": PASSWORD, "role": "TENANT_DEVELOPER" }),
            )
            .await,
        201,
    );
    let app = boss
        .post("/api/v1/applications", json!({ "name": "sensors" }))
        .await;
    expect(&app, 201);
    let developer = ApiClient::login(&base, "dev", PASSWORD).await;
    let path = format!("/api/v1/applications/{}", id(&app));
    let schema = json!({"type": "record", "name": "SensorConfig", "fields": [
        {"name": "interval", "type": "int"},
        {"name": "mode", "type": "string", "default": "normal"}]});
    expect(
        &developer
            .post(
                &format!("{path}/schemas/configuration"),
                json!({ "name": "sensor", "schema": schema }),
            )
            .await,
        201,
    );
    let notification_schema =
        json!({"type": "record", "name": "Alert", "fields": [{"name": "text", "type": "string"}]});
    expect(
        &developer
            .post(
                &format!("{path}/schemas/notification"),
                json!({ "name": "alert", "schema": notification_schema }),
            )
            .await,
        201,
    );
    let groups = developer.get(&format!("{path}/groups")).await;
    let all_group = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
    support::activate_interval(&developer, &path, &all_group, 10).await;
    let sdk = developer
        .post(
            &format!("{path}/sdk-profiles"),
            json!({ "name": "v1", "configuration_version": 1, "notification_version": 1 }),
        )
        .await;
    expect(&sdk, 201);
    let sdk_token = sdk.body["sdk_token"].as_str().unwrap().to_owned();
    (
        developer,
        App {
            path,
            sdk_token,
            all_group,
        },
    )
}

/// Avro binary of `{interval, mode}`: zig-zag varint, then a length-prefixed string.
pub(crate) fn sensor_config(interval: i32, mode: &str) -> Vec<u8> {
    let mut out = support::avro_long(i64::from(interval));
    out.extend(support::avro_long(mode.len() as i64));
    out.extend_from_slice(mode.as_bytes());
    out
}

#[tokio::test]
async fn endpoint_registers_gets_configuration_pushes_and_notifications() {
    let mut node = standalone().await;
    let (developer, app) = application(&node).await;

    let state = tempfile::tempdir().unwrap();
    let mut client = sdk_client(&node, &app.sdk_token, state.path());

    let within = Duration::from_secs(20);
    let server = wait_event(&mut client, within, |e| match e {
        Event::Connected(server) => Some(server.clone()),
        _ => None,
    })
    .await;
    assert!(server.starts_with("127.0.0.1:"), "{server}");
    let first = wait_event(&mut client, within, |e| match e {
        Event::Configuration(body) => Some(body.clone()),
        _ => None,
    })
    .await;
    assert_eq!(first, sensor_config(10, "normal"));

    // A change made through REST reaches the connected endpoint without it asking.
    support::activate_interval(&developer, &app.path, &app.all_group, 25).await;
    let pushed = wait_event(&mut client, within, |e| match e {
        Event::Configuration(body) => Some(body.clone()),
        _ => None,
    })
    .await;
    assert_eq!(pushed, sensor_config(25, "normal"));

    // The endpoint is registered and visible to operators, credentials in use.
    let key = URL_SAFE_NO_PAD.encode(client.key_hash());
    let endpoint = developer
        .get(&format!("{}/endpoints/{key}", app.path))
        .await;
    expect(&endpoint, 200);
    assert_eq!(endpoint.body["credentials_status"], "IN_USE");

    // A mandatory topic attached to `all` is offered, and its notification arrives.
    let topic_id = mandatory_topic(&developer, &app.path, &app.all_group, "alerts").await;
    let offered = wait_event(&mut client, within, |e| match e {
        Event::Topics(topics) if !topics.is_empty() => Some(topics.clone()),
        _ => None,
    })
    .await;
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].name, "alerts");
    let sent = developer
        .post(
            &format!("{}/topics/{topic_id}/notifications", app.path),
            json!({ "body": {"text": "overheat"}, "ttl_seconds": 600 }),
        )
        .await;
    expect(&sent, 201);
    let (seq, body) = wait_event(&mut client, within, |e| match e {
        Event::Notification {
            topic_id,
            seq_number,
            body,
            ..
        } if *topic_id == offered[0].id => Some((*seq_number, body.clone())),
        _ => None,
    })
    .await;
    assert_eq!(seq, Some(1));
    assert_eq!(body, [&[16u8][..], b"overheat"].concat());

    client.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(
        node.wait_exit(Duration::from_secs(20))
            .await
            .unwrap()
            .success()
    );
}

/// A standalone node with the first admin set, ready.
pub(crate) async fn standalone() -> Node {
    NodeBuilder::standalone_with_admin(PASSWORD).start().await
}

/// The SDK configuration the tests use: bootstrap from `node` over Kaatcp, keys in `state`,
/// quick retries.
fn client_config(node: &Node, sdk_token: &str, state: &std::path::Path) -> ClientConfig {
    ClientConfig {
        access_token: "sensor".into(),
        retry_delay: Duration::from_millis(200),
        keep_alive: 60,
        ..ClientConfig::new(
            vec![BootstrapServer {
                address: format!("127.0.0.1:{}", node.port("bootstrap.tcp_port")),
                http_address: None,
                public_key: None,
            }],
            sdk_token,
            state,
        )
    }
}

/// An SDK client of `sdk_token` bootstrapping from `node`, keys in `state`, over Kaatcp.
pub(crate) fn sdk_client(node: &Node, sdk_token: &str, state: &std::path::Path) -> KaaClient {
    KaaClient::start(client_config(node, sdk_token, state)).unwrap()
}

pub(crate) fn configuration_event(event: &Event) -> Option<Vec<u8>> {
    match event {
        Event::Configuration(body) => Some(body.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn internal_credentials_admit_only_provisioned_endpoints_and_revocation_ends_the_session() {
    let mut node = standalone().await;
    let (developer, app) = application(&node).await;
    let base = format!("http://{}", node.admin);
    let boss = ApiClient::login(&base, "boss", PASSWORD).await;
    expect(
        &boss
            .patch(&app.path, json!({ "credentials_service": "internal" }))
            .await,
        200,
    );
    let state = tempfile::tempdir().unwrap();
    let mut client = sdk_client(&node, &app.sdk_token, state.path());
    let within = Duration::from_secs(20);
    let refused = wait_event(&mut client, within, |e| match e {
        Event::Disconnected(reason) => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(refused.contains("VerificationFailed"), "{refused}");

    // Provisioned through REST, the same key is admitted on the next attempt.
    let public_key = std::fs::read(state.path().join("key.public")).unwrap();
    let provisioned = developer
        .post(
            &format!("{}/credentials", app.path),
            json!({ "public_key": base64::engine::general_purpose::STANDARD.encode(&public_key) }),
        )
        .await;
    expect(&provisioned, 201);
    assert_eq!(provisioned.body["status"], "AVAILABLE");
    let key = provisioned.body["endpoint_key_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(key, URL_SAFE_NO_PAD.encode(client.key_hash()));
    wait_event(&mut client, within, configuration_event).await;
    let credentials = developer
        .get(&format!("{}/credentials/{key}", app.path))
        .await;
    assert_eq!(credentials.body["status"], "IN_USE");
    let bad_key = developer
        .post(
            &format!("{}/credentials", app.path),
            json!({ "public_key": "bm90IGEga2V5" }),
        )
        .await;
    expect(&bad_key, 422);
    assert_eq!(bad_key.body["field"], "public_key");

    // Revoked: the live session is ended by the server, and reconnecting is refused.
    expect(
        &developer
            .post(&format!("{}/credentials/{key}/revoke", app.path), json!({}))
            .await,
        200,
    );
    let ended = wait_event(&mut client, within, |e| match e {
        Event::Disconnected(reason) => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(ended.contains("CredentialsRevoked"), "{ended}");
    let again = wait_event(&mut client, within, |e| match e {
        Event::Disconnected(reason) => Some(reason.clone()),
        Event::Connected(_) => panic!("a revoked endpoint was admitted"),
        _ => None,
    })
    .await;
    assert!(again.contains("VerificationFailed"), "{again}");
    client.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test]
async fn server_profile_change_moves_the_endpoint_to_a_group_and_unicasts_reach_it() {
    let mut node = standalone().await;
    let (developer, app) = application(&node).await;
    let server_schema = json!({"type": "record", "name": "Tier", "fields": [{"name": "vip", "type": "boolean", "default": false}]});
    expect(
        &developer
            .post(
                &format!("{}/schemas/server_profile", app.path),
                json!({ "name": "tier", "schema": server_schema }),
            )
            .await,
        201,
    );
    let vip = developer
        .post(
            &format!("{}/groups", app.path),
            json!({ "name": "vip", "weight": 10 }),
        )
        .await;
    expect(&vip, 201);
    let vip = id(&vip);
    let filters = format!("{}/groups/{vip}/profile-filters", app.path);
    let filter = developer
        .post(
            &filters,
            json!({ "server_profile_version": 1, "body": "sp.vip == true" }),
        )
        .await;
    expect(&filter, 201);
    expect(
        &developer
            .post(&format!("{filters}/{}/activate", id(&filter)), json!({}))
            .await,
        200,
    );
    support::activate_interval(&developer, &app.path, &vip, 99).await;
    // A second SDK profile that pins the server-profile schema.
    let sdk = developer
        .post(
            &format!("{}/sdk-profiles", app.path),
            json!({ "name": "v2", "configuration_version": 1, "notification_version": 1, "server_profile_version": 1 }),
        )
        .await;
    expect(&sdk, 201);
    let state = tempfile::tempdir().unwrap();
    let mut client = sdk_client(&node, sdk.body["sdk_token"].as_str().unwrap(), state.path());
    let within = Duration::from_secs(20);
    assert_eq!(
        wait_event(&mut client, within, configuration_event).await,
        sensor_config(10, "normal")
    );
    let key = URL_SAFE_NO_PAD.encode(client.key_hash());
    let endpoint = format!("{}/endpoints/{key}", app.path);
    let registered = developer.get(&endpoint).await;
    assert_eq!(
        registered.body["server_profile"],
        json!({"vip": false}),
        "a new endpoint starts with the server-profile schema's defaults"
    );
    let wrong = developer
        .send(
            Method::PUT,
            &format!("{endpoint}/server-profile"),
            Some(json!({ "version": 1, "body": {"vip": "yes"} })),
        )
        .await;
    expect(&wrong, 422);
    assert_eq!(wrong.body["field"], "body.vip");
    let updated = developer
        .send(
            Method::PUT,
            &format!("{endpoint}/server-profile"),
            Some(json!({ "version": 1, "body": {"vip": true} })),
        )
        .await;
    expect(&updated, 200);
    assert_eq!(
        wait_event(&mut client, within, configuration_event).await,
        sensor_config(99, "normal"),
        "the vip group's configuration outweighs all's"
    );
    let view = developer.get(&endpoint).await;
    let groups = view.body["groups"].as_array().unwrap();
    assert!(groups.contains(&json!(vip)), "{:#}", view.body);

    // A unicast notification reaches this endpoint only, with its id.
    let topic = developer
        .post(
            &format!("{}/topics", app.path),
            json!({ "name": "direct", "kind": "optional" }),
        )
        .await;
    expect(&topic, 201);
    let sent = developer
        .post(
            &format!("{endpoint}/notifications"),
            json!({ "topic_id": id(&topic), "body": {"text": "hello you"}, "ttl_seconds": 60 }),
        )
        .await;
    expect(&sent, 201);
    let uid = sent.body["id"].as_str().unwrap().to_owned();
    let (got_uid, body) = wait_event(&mut client, within, |e| match e {
        Event::Notification {
            uid: Some(uid),
            body,
            ..
        } => Some((uid.clone(), body.clone())),
        _ => None,
    })
    .await;
    assert_eq!(got_uid, uid);
    assert_eq!(body, [&[18u8][..], b"hello you"].concat());
    client.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test]
async fn malformed_frames_close_only_their_own_session() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut node = standalone().await;
    let (_developer, app) = application(&node).await;
    let state = tempfile::tempdir().unwrap();
    let mut client = sdk_client(&node, &app.sdk_token, state.path());
    let within = Duration::from_secs(20);
    wait_event(&mut client, within, configuration_event).await;

    let operations = format!("127.0.0.1:{}", node.port("operations.tcp_port"));
    // An unknown frame type before CONNECT: CONNACK "bad protocol" (02), then the server closes.
    let mut garbage = tokio::net::TcpStream::connect(&operations).await.unwrap();
    garbage.write_all(&[0x30, 0x02, 0xde, 0xad]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(within, garbage.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, [0x20, 0x02, 0x00, 0x02]);
    // A frame claiming to be far larger than allowed is refused as soon as its length is read.
    let mut huge = tokio::net::TcpStream::connect(&operations).await.unwrap();
    huge.write_all(&[0x10, 0xff, 0xff, 0xff, 0x7f])
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(within, huge.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, [0x20, 0x02, 0x00, 0x02]);
    // A CONNECT whose payload is not a SyncRequest: CONNACK "bad credentials" (05).
    let mut connect = vec![0x10, 18 + 3];
    connect.extend_from_slice(&[0x00, 0x06, b'K', b'a', b'a', b't', b'c', b'p', 0x01, 0x02]);
    connect.extend_from_slice(&[0xe0, 0xc0, 0xc1, 0x78, 0x00, 0x00, 0x00, 0x3c]);
    connect.extend_from_slice(&[0xff, 0xff, 0xff]);
    let mut bad = tokio::net::TcpStream::connect(&operations).await.unwrap();
    bad.write_all(&connect).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(within, bad.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, [0x20, 0x02, 0x00, 0x05]);

    // Inside a live (signed, encrypted) session, a KAASYNC whose payload does not decrypt ends
    // that session with DISCONNECT BAD_REQUEST (e0 02 00 01).
    let mut live = tokio::net::TcpStream::connect(&operations).await.unwrap();
    let endpoint = kaa_sdk::keys::EndpointKeys::generate().unwrap();
    let request = kaa_idl::endpoint::sync::SyncRequest {
        request_id: 1,
        sync_request_meta_data: Some(kaa_idl::endpoint::sync::SyncRequestMetaData {
            sdk_token: app.sdk_token.clone(),
            endpoint_public_key_hash: None,
            profile_hash: None,
            timeout: None,
        }),
        profile_sync_request: Some(kaa_idl::endpoint::sync::ProfileSyncRequest {
            endpoint_public_key: Some(endpoint.public_der().to_vec()),
            profile_body: Vec::new(),
            endpoint_access_token: None,
        }),
        ..Default::default()
    };
    use kaa_idl::endpoint::crypto::{PublicKey, SessionKey};
    use kaa_idl::endpoint::kaatcp::{Connect, Frame, KaaSync};
    let node_key = std::fs::read(node.data_dir().join("keys/node.public")).unwrap();
    let session_key = SessionKey::generate().unwrap();
    let wrapped = PublicKey::from_der(&node_key)
        .unwrap()
        .wrap_session_key(&session_key)
        .unwrap();
    let signature = endpoint.pair().sign(&wrapped).unwrap();
    let connect = Frame::Connect(Box::new(Connect {
        next_protocol_id: kaa_idl::endpoint::crypto::PROTOCOL_AVRO_V2,
        session_key: Some(wrapped.try_into().unwrap()),
        signature: Some(signature.try_into().unwrap()),
        keep_alive: 60,
        payload: session_key.encrypt(&request.encode()),
    }));
    live.write_all(&connect.encode()).await.unwrap();
    let mut connack = [0u8; 4];
    live.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x01], "signed session accepted");
    let garbage = Frame::KaaSync(KaaSync {
        request: true,
        encrypted: true,
        message_id: 0,
        payload: vec![0xff; 3],
    });
    live.write_all(&garbage.encode()).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(within, live.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(
        rest.ends_with(&[0xe0, 0x02, 0x00, 0x01]),
        "expected DISCONNECT BAD_REQUEST at the end of {rest:02x?}"
    );

    // The well-behaved endpoint's session is untouched: it still gets pushes.
    let developer = ApiClient::login(format!("http://{}", node.admin), "dev", PASSWORD).await;
    support::activate_interval(&developer, &app.path, &app.all_group, 42).await;
    assert_eq!(
        wait_event(&mut client, within, configuration_event).await,
        sensor_config(42, "normal")
    );
    assert!(node.is_running());
    client.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test]
async fn http_transports_bootstrap_signed_and_sync_encrypted() {
    use kaa_idl::endpoint::sync::{
        ConfigurationSyncRequest, ProfileSyncRequest, SyncRequest, SyncRequestMetaData,
        SyncResponseResultType, SyncResponseStatus,
    };
    use kaa_sdk::bootstrap::{fetch_servers, fetch_servers_http};
    use kaa_sdk::channel::Security;
    use kaa_sdk::http::{Path, sync};
    use kaa_sdk::keys::EndpointKeys;

    let mut node = standalone().await;
    let (_developer, app) = application(&node).await;
    let timeout = Duration::from_secs(10);
    // The node's key comes with the plaintext Kaatcp bootstrap answer; HTTP answers are then
    // checked against it.
    let over_tcp = fetch_servers(
        &format!("127.0.0.1:{}", node.port("bootstrap.tcp_port")),
        Security::Plain,
        &app.sdk_token,
        timeout,
    )
    .await
    .unwrap();
    assert_eq!(over_tcp.len(), 2, "{over_tcp:?}");
    let node_key = over_tcp[0].public_key.clone();
    let endpoint = EndpointKeys::generate().unwrap();
    let bootstrap_http = format!("127.0.0.1:{}", node.port("bootstrap.http_port"));
    let over_http = fetch_servers_http(
        &bootstrap_http,
        &node_key,
        &endpoint,
        &app.sdk_token,
        timeout,
    )
    .await
    .unwrap();
    assert_eq!(over_http, over_tcp);
    let http = over_http
        .iter()
        .find(|s| s.transport == Transport::Http)
        .unwrap();
    assert_eq!(http.port, node.port("operations.http_port"));
    // A bootstrap answer signed by another key is refused.
    let stranger = EndpointKeys::generate().unwrap();
    let refused = fetch_servers_http(
        &bootstrap_http,
        stranger.public_der(),
        &endpoint,
        &app.sdk_token,
        timeout,
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");

    // Register and fetch the configuration over /EP/Sync, then see NO_DELTA once it is held.
    let meta = |profile_hash: Vec<u8>| SyncRequestMetaData {
        sdk_token: app.sdk_token.clone(),
        endpoint_public_key_hash: Some(endpoint.key_hash().to_vec()),
        profile_hash: Some(profile_hash),
        timeout: Some(5_000),
    };
    let empty_profile_hash = {
        use sha1::{Digest, Sha1};
        Sha1::digest([]).to_vec()
    };
    let register = SyncRequest {
        request_id: 1,
        sync_request_meta_data: Some(meta(Vec::new())),
        profile_sync_request: Some(ProfileSyncRequest {
            endpoint_public_key: Some(endpoint.public_der().to_vec()),
            profile_body: Vec::new(),
            endpoint_access_token: Some("http-endpoint".into()),
        }),
        configuration_sync_request: Some(ConfigurationSyncRequest {
            configuration_hash: Vec::new(),
            resync_only: Some(true),
        }),
        ..SyncRequest::default()
    };
    let answer = sync(
        &http.address(),
        Path::Sync,
        &node_key,
        &endpoint,
        &register,
        timeout,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, SyncResponseResultType::Success);
    let configuration = answer.configuration_sync_response.unwrap();
    assert_eq!(configuration.response_status, SyncResponseStatus::Resync);
    let body = configuration.conf_delta_body.unwrap();
    assert_eq!(body, sensor_config(10, "normal"));
    let held = {
        use sha1::{Digest, Sha1};
        Sha1::digest(&body).to_vec()
    };
    let again = SyncRequest {
        request_id: 2,
        sync_request_meta_data: Some(meta(empty_profile_hash)),
        configuration_sync_request: Some(ConfigurationSyncRequest {
            configuration_hash: held,
            resync_only: Some(true),
        }),
        ..SyncRequest::default()
    };
    let answer = sync(
        &http.address(),
        Path::Sync,
        &node_key,
        &endpoint,
        &again,
        timeout,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, SyncResponseResultType::Success);
    assert_eq!(
        answer.configuration_sync_response.unwrap().response_status,
        SyncResponseStatus::NoDelta
    );
    // A profile hash that is not the stored one: the server asks for the profile.
    let stale = SyncRequest {
        request_id: 3,
        sync_request_meta_data: Some(meta(vec![7; 20])),
        ..SyncRequest::default()
    };
    let answer = sync(
        &http.address(),
        Path::Sync,
        &node_key,
        &endpoint,
        &stale,
        timeout,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, SyncResponseResultType::ProfileResync);
    // Signed by a key the server does not know for this endpoint: refused with 401 and the one
    // answer every identity refusal gets.
    let forged = sync(
        &http.address(),
        Path::Sync,
        &node_key,
        &stranger,
        &again,
        timeout,
    )
    .await;
    match forged {
        Err(kaa_sdk::SdkError::Refused(reason)) => {
            assert_eq!(reason, "HTTP 401: endpoint authentication failed")
        }
        other => panic!("a forged signature was accepted: {other:?}"),
    }
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files in `dir`, made with the
/// `openssl` command Debian ships.
pub(crate) fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let certificate = dir.join("node.crt");
    let key = dir.join("node.key");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=kaa-test",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl could not make a certificate");
    (certificate, key)
}

#[tokio::test]
async fn operations_transports_can_require_tls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::{ClientConfig as TlsConfig, RootCertStore};

    let certs = tempfile::tempdir().unwrap();
    let (certificate, key) = self_signed(certs.path());
    let mut node = NodeBuilder::standalone()
        .env("KAA_ADMIN_USER", "admin")
        .env("KAA_ADMIN_PASSWORD", PASSWORD)
        .set("node.thrift_host", "127.0.0.1")
        .set("operations.tls_certificate", certificate.display())
        .set("operations.tls_private_key", key.display())
        .set("operations.allow_plaintext", false)
        .spawn()
        .unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(30))
        .await
        .unwrap();
    let (_developer, app) = application(&node).await;

    // A client without TLS gets nothing from the TLS port: the handshake fails and it is closed.
    let operations = format!("127.0.0.1:{}", node.port("operations.tcp_port"));
    let mut plain = tokio::net::TcpStream::connect(&operations).await.unwrap();
    plain.write_all(&[0xc0, 0x00]).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(&[0xd0]),
        "a plaintext PINGREQ was answered: {answer:?}"
    );

    // The SDK trusting the node's certificate connects over TLS and gets its configuration.
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&certificate).unwrap())
        .unwrap();
    let tls = TlsConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let state = tempfile::tempdir().unwrap();
    let mut client = KaaClient::start(ClientConfig {
        access_token: "tls-endpoint".into(),
        tls: Some(std::sync::Arc::new(tls)),
        ..client_config(&node, &app.sdk_token, state.path())
    })
    .unwrap();
    assert_eq!(
        wait_event(&mut client, Duration::from_secs(20), configuration_event).await,
        sensor_config(10, "normal")
    );
    client.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test]
async fn optional_topics_follow_subscriptions_and_a_new_profile_changes_groups() {
    let mut node = standalone().await;
    let (developer, app) = application(&node).await;
    let profile_schema = json!({"type": "record", "name": "Device", "fields": [{"name": "model", "type": "string"}]});
    expect(
        &developer
            .post(
                &format!("{}/schemas/client_profile", app.path),
                json!({ "name": "device", "schema": profile_schema }),
            )
            .await,
        201,
    );
    let pro = developer
        .post(
            &format!("{}/groups", app.path),
            json!({ "name": "pro", "weight": 20 }),
        )
        .await;
    expect(&pro, 201);
    let pro = id(&pro);
    let filters = format!("{}/groups/{pro}/profile-filters", app.path);
    let filter = developer
        .post(
            &filters,
            json!({ "client_profile_version": 1, "body": "cp.model == \"pro\"" }),
        )
        .await;
    expect(&filter, 201);
    expect(
        &developer
            .post(&format!("{filters}/{}/activate", id(&filter)), json!({}))
            .await,
        200,
    );
    support::activate_interval(&developer, &app.path, &pro, 77).await;
    let news = developer
        .post(
            &format!("{}/topics", app.path),
            json!({ "name": "news", "kind": "optional" }),
        )
        .await;
    expect(&news, 201);
    let news = id(&news);
    expect(
        &developer
            .send(
                Method::PUT,
                &format!("{}/groups/{}/topics/{news}", app.path, app.all_group),
                None,
            )
            .await,
        204,
    );
    let sdk = developer
        .post(
            &format!("{}/sdk-profiles", app.path),
            json!({ "name": "v3", "configuration_version": 1, "notification_version": 1, "client_profile_version": 1 }),
        )
        .await;
    expect(&sdk, 201);
    // Avro of {model: "basic"}: a length-prefixed string.
    let profile = |model: &str| [&[(model.len() as u8) << 1][..], model.as_bytes()].concat();
    let state = tempfile::tempdir().unwrap();
    let mut client = KaaClient::start(ClientConfig {
        profile: profile("basic"),
        access_token: "reader".into(),
        ..client_config(&node, sdk.body["sdk_token"].as_str().unwrap(), state.path())
    })
    .unwrap();
    let within = Duration::from_secs(20);
    assert_eq!(
        wait_event(&mut client, within, configuration_event).await,
        sensor_config(10, "normal")
    );
    let topics = wait_event(&mut client, within, |e| match e {
        Event::Topics(topics) => Some(topics.clone()),
        _ => None,
    })
    .await;
    assert_eq!(topics.len(), 1);
    let news_wire = topics[0].id;
    let send = |text: &'static str| {
        let developer = &developer;
        let path = format!("{}/topics/{news}/notifications", app.path);
        async move {
            let sent = developer
                .post(&path, json!({ "body": {"text": text} }))
                .await;
            expect(&sent, 201);
            sent.body["seq"].as_i64().unwrap()
        }
    };
    assert_eq!(send("before subscribing").await, 1);
    // Subscribing fetches what the topic holds.
    client.subscribe(news_wire).await;
    let first = wait_event(&mut client, within, |e| match e {
        Event::Notification {
            topic_id,
            seq_number,
            ..
        } if *topic_id == news_wire => Some(*seq_number),
        _ => None,
    })
    .await;
    assert_eq!(first, Some(1));
    assert_eq!(send("while subscribed").await, 2);
    let second = wait_event(&mut client, within, |e| match e {
        Event::Notification {
            topic_id,
            seq_number,
            ..
        } if *topic_id == news_wire => Some(*seq_number),
        _ => None,
    })
    .await;
    assert_eq!(second, Some(2));
    // After unsubscribing, nothing more arrives from the topic; a new profile moves the endpoint
    // into the `pro` group, whose configuration then arrives.
    client.unsubscribe(news_wire).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(send("after unsubscribing").await, 3);
    client.set_profile(profile("pro")).await;
    let pro_config = wait_event(&mut client, within, |e| match e {
        Event::Notification { topic_id, .. } if *topic_id == news_wire => {
            panic!("a notification arrived after unsubscribing")
        }
        Event::Configuration(body) => Some(body.clone()),
        _ => None,
    })
    .await;
    assert_eq!(pro_config, sensor_config(77, "normal"));
    let view = developer
        .get(&format!(
            "{}/endpoints/{}",
            app.path,
            URL_SAFE_NO_PAD.encode(client.key_hash())
        ))
        .await;
    assert_eq!(view.body["client_profile"], json!({"model": "pro"}));
    assert!(
        view.body["groups"]
            .as_array()
            .unwrap()
            .contains(&json!(pro)),
        "{:#}",
        view.body
    );
    client.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test]
async fn http_sessions_long_poll_for_configuration_changes() {
    let mut node = standalone().await;
    let (developer, app) = application(&node).await;
    let state = tempfile::tempdir().unwrap();
    let mut client = KaaClient::start(ClientConfig {
        transport: Transport::Http,
        ..client_config(&node, &app.sdk_token, state.path())
    })
    .unwrap();
    let within = Duration::from_secs(20);
    let server = wait_event(&mut client, within, |e| match e {
        Event::Connected(server) => Some(server.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        server,
        format!("127.0.0.1:{}", node.port("operations.http_port"))
    );
    assert_eq!(
        wait_event(&mut client, within, configuration_event).await,
        sensor_config(10, "normal")
    );
    // The next long poll is held by the server and answered with the change.
    tokio::time::sleep(Duration::from_millis(300)).await;
    support::activate_interval(&developer, &app.path, &app.all_group, 61).await;
    assert_eq!(
        wait_event(&mut client, within, configuration_event).await,
        sensor_config(61, "normal")
    );
    client.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test]
async fn unacknowledged_log_records_are_retried_and_survive_an_endpoint_restart() {
    let node = standalone().await;
    let (_developer, app) = application(&node).await;
    let state = tempfile::tempdir().unwrap();
    let mut client = sdk_client(&node, &app.sdk_token, state.path());
    let ids: Vec<u64> = (0..3u8).map(|n| client.log(vec![n; 4]).unwrap()).collect();
    assert_eq!(ids, [1, 2, 3]);
    // No appender: the server refuses the batch with a reason, and the SDK tries again.
    for attempt in 0..2 {
        let failed = wait_event(&mut client, Duration::from_secs(30), |e| match e {
            Event::LogsFailed { first, last, code } => Some((*first, *last, *code)),
            Event::LogsDelivered { .. } => panic!("a batch was acknowledged without appenders"),
            _ => None,
        })
        .await;
        assert_eq!(
            failed,
            (1, 3, Some(LogDeliveryErrorCode::NoAppendersConfigured)),
            "attempt {attempt}"
        );
    }
    client.stop().await;
    // The records outlive the process's client: a new one finds them and sends them again.
    let mut restarted = sdk_client(&node, &app.sdk_token, state.path());
    let failed = wait_event(&mut restarted, Duration::from_secs(30), |e| match e {
        Event::LogsFailed { first, last, .. } => Some((*first, *last)),
        _ => None,
    })
    .await;
    assert_eq!(failed, (1, 3));
    assert_eq!(
        restarted.log(vec![9]).unwrap(),
        4,
        "ids continue after a restart"
    );
    restarted.stop().await;
}
