//! Only an endpoint's own key opens its sessions, on a real node and on both transports: a
//! session start without a signature, signed by another key, carrying another key for the same
//! key hash, in plaintext, or with a session key that does not unwrap gets one and the same
//! refusal (CONNACK 05 on Kaatcp, 401 with one body on `/EP/Sync` and `/EP/LongSync`) and is counted
//! on `/metrics`, while the endpoint's own signed session goes on. A revoked endpoint gets
//! nothing more on its next sync, even when it never read the DISCONNECT, and on a node of a
//! cluster where the DISCONNECT never arrived.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kaa_idl::endpoint::crypto::{self, PublicKey, SessionKey};
use kaa_idl::endpoint::http::{SyncBody, content_type};
use kaa_idl::endpoint::kaatcp::{Connect, Frame};
use kaa_idl::endpoint::sync::{
    ConfigurationSyncRequest, ProfileSyncRequest, SyncRequest, SyncRequestMetaData,
    SyncResponseResultType,
};
use kaa_sdk::channel::{Channel, Security};
use kaa_sdk::client::Event;
use kaa_sdk::keys::EndpointKeys;
use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::json;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::endpoint_path::{
    PASSWORD, application, configuration_event, sdk_client, sensor_config, standalone,
};
use crate::{support, unique};

/// The one body of every identity refusal over HTTP.
const REFUSED: &str = "endpoint authentication failed";

const TIMEOUT: Duration = Duration::from_secs(10);

/// A session start as an endpoint (or someone posing as one) builds it.
struct Start {
    /// The session key wrapped for the node; `None`: plaintext.
    wrapped: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
    payload: Vec<u8>,
}

/// `request` under a fresh session key wrapped for `node_key`, signed by `signer` if given.
fn encrypted(node_key: &[u8], request: &SyncRequest, signer: Option<&EndpointKeys>) -> Start {
    let key = SessionKey::generate().unwrap();
    let wrapped = PublicKey::from_der(node_key)
        .unwrap()
        .wrap_session_key(&key)
        .unwrap();
    Start {
        signature: signer.map(|keys| keys.pair().sign(&wrapped).unwrap()),
        payload: key.encrypt(&request.encode()),
        wrapped: Some(wrapped),
    }
}

fn plaintext(request: &SyncRequest) -> Start {
    Start {
        wrapped: None,
        signature: None,
        payload: request.encode(),
    }
}

/// Sends `start` as a Kaatcp CONNECT and returns the CONNACK code.
async fn kaatcp(address: &str, start: &Start) -> u8 {
    let block = |bytes: &Vec<u8>| <[u8; 256]>::try_from(bytes.as_slice()).unwrap();
    let connect = Frame::Connect(Box::new(Connect {
        next_protocol_id: crypto::PROTOCOL_AVRO_V2,
        session_key: start.wrapped.as_ref().map(block),
        signature: start.signature.as_ref().map(block),
        keep_alive: 60,
        payload: start.payload.clone(),
    }));
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(&connect.encode()).await.unwrap();
    let mut connack = [0u8; 4];
    tokio::time::timeout(TIMEOUT, stream.read_exact(&mut connack))
        .await
        .expect("CONNACK in time")
        .unwrap();
    assert_eq!(connack[..3], [0x20, 0x02, 0x00], "{connack:02x?}");
    connack[3]
}

/// Posts `start` to `path` as Kaa's multipart body (an empty `requestKey` for plaintext) and
/// returns the status and body.
async fn http(address: &str, path: &str, start: &Start) -> (u16, String) {
    const BOUNDARY: &str = "endpoint-auth-test";
    let body = SyncBody {
        signature: start.signature.clone(),
        request_key: start.wrapped.clone().unwrap_or_default(),
        request_data: start.payload.clone(),
        next_protocol: Some(crypto::PROTOCOL_AVRO_V2),
    }
    .encode(BOUNDARY);
    let response = reqwest::Client::new()
        .post(format!("http://{address}{path}"))
        .header(reqwest::header::CONTENT_TYPE, content_type(BOUNDARY))
        .body(body)
        .timeout(TIMEOUT)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// A sync of endpoint `keys` that holds no configuration yet, carrying its public key when
/// `carried` is given (as a registration does).
fn sync_of(sdk_token: &str, keys: &EndpointKeys, carried: Option<&EndpointKeys>) -> SyncRequest {
    SyncRequest {
        request_id: 1,
        sync_request_meta_data: Some(SyncRequestMetaData {
            sdk_token: sdk_token.to_owned(),
            endpoint_public_key_hash: Some(keys.key_hash().to_vec()),
            profile_hash: Some(Sha1::digest([]).to_vec()),
            timeout: Some(1_000),
        }),
        profile_sync_request: carried.map(|key| ProfileSyncRequest {
            endpoint_public_key: Some(key.public_der().to_vec()),
            profile_body: Vec::new(),
            endpoint_access_token: None,
        }),
        configuration_sync_request: Some(ConfigurationSyncRequest {
            configuration_hash: Vec::new(),
            resync_only: Some(true),
        }),
        ..SyncRequest::default()
    }
}

/// `kaa_endpoint_auth_failures_total{reason}` on the node's `/metrics` (0 when not yet shown).
async fn auth_failures(node: &Node, reason: &str) -> u64 {
    let metrics = node.get_text("/metrics").await;
    let series = format!("kaa_endpoint_auth_failures_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().unwrap())
}

fn addresses(node: &Node) -> (String, String) {
    (
        format!("127.0.0.1:{}", node.port("operations.tcp_port")),
        format!("127.0.0.1:{}", node.port("operations.http_port")),
    )
}

fn node_key(node: &Node) -> Vec<u8> {
    std::fs::read(node.data_dir().join("keys/node.public")).unwrap()
}

#[tokio::test]
async fn only_the_endpoints_own_key_opens_its_sessions_on_both_transports() {
    let mut node = standalone().await;
    let (developer, app) = application(&node).await;
    let (tcp, http_address) = addresses(&node);
    let node_key = node_key(&node);

    // The endpoint, registered through the SDK's signed Kaatcp session, which stays open.
    let state = tempfile::tempdir().unwrap();
    let mut client = sdk_client(&node, &app.sdk_token, state.path());
    let first = support::wait_event(
        &mut client,
        TIMEOUT * 2,
        "registration",
        configuration_event,
    );
    assert_eq!(first.await, sensor_config(10, "normal"));
    let victim = EndpointKeys::load_or_create(state.path()).unwrap();
    assert_eq!(victim.key_hash()[..], client.key_hash()[..]);
    let stranger = EndpointKeys::generate().unwrap();
    let claim = sync_of(&app.sdk_token, &victim, None);

    let attacks = [
        ("no signature", encrypted(&node_key, &claim, None)),
        (
            "a signature by another key",
            encrypted(&node_key, &claim, Some(&stranger)),
        ),
        (
            "another public key for the endpoint's hash",
            encrypted(
                &node_key,
                &sync_of(&app.sdk_token, &victim, Some(&stranger)),
                Some(&stranger),
            ),
        ),
        ("plaintext", plaintext(&claim)),
    ];
    for (what, attack) in &attacks {
        assert_eq!(kaatcp(&tcp, attack).await, 0x05, "{what} over Kaatcp");
        for path in ["/EP/Sync", "/EP/LongSync"] {
            let answer = http(&http_address, path, attack).await;
            assert_eq!(answer, (401, REFUSED.to_owned()), "{what} on {path}");
        }
    }
    assert!(auth_failures(&node, "no_signature").await >= 3);
    assert!(auth_failures(&node, "bad_signature").await >= 3);
    assert!(auth_failures(&node, "key_mismatch").await >= 3);
    assert!(auth_failures(&node, "plaintext").await >= 1);

    // Session keys that do not unwrap, signed by the endpoint itself as a padding-oracle probe
    // would be: one out of the RSA key's range (the unwrap fails, the start goes on with a random
    // key) and one with bad padding (the RSA layer answers it with a pseudo-random key). Both get
    // the same answer as a wrong signature, and are counted.
    let unwrap_before = auth_failures(&node, "key_unwrap").await;
    let undecryptable_before = auth_failures(&node, "undecryptable").await;
    let probe = |corrupt: &dyn Fn(&mut Vec<u8>)| {
        let mut start = encrypted(&node_key, &claim, None);
        let wrapped = start.wrapped.as_mut().unwrap();
        corrupt(wrapped);
        start.signature = Some(victim.pair().sign(wrapped).unwrap());
        start
    };
    let out_of_range = probe(&|wrapped| wrapped.fill(0xff));
    let bad_padding = probe(&|wrapped| wrapped[128] ^= 0x5a);
    let forged = encrypted(&node_key, &claim, Some(&stranger));
    for corrupted in [&out_of_range, &bad_padding] {
        assert_eq!(kaatcp(&tcp, corrupted).await, kaatcp(&tcp, &forged).await);
        for path in ["/EP/Sync", "/EP/LongSync"] {
            assert_eq!(
                http(&http_address, path, corrupted).await,
                http(&http_address, path, &forged).await,
                "{path}"
            );
        }
    }
    let unwrap_after = auth_failures(&node, "key_unwrap").await;
    let undecryptable_after = auth_failures(&node, "undecryptable").await;
    assert!(unwrap_after >= unwrap_before + 3, "{unwrap_after}");
    assert_eq!(
        unwrap_after + undecryptable_after,
        unwrap_before + undecryptable_before + 6
    );

    // The endpoint's own session went on: a new configuration reaches it, and its own signed
    // HTTP sync is answered.
    support::activate_interval(&developer, &app.path, &app.all_group, 42).await;
    let pushed =
        support::wait_event(
            &mut client,
            TIMEOUT * 2,
            "the pushed configuration",
            |e| match e {
                Event::Disconnected(reason) => panic!("the endpoint's session ended: {reason}"),
                other => configuration_event(other),
            },
        );
    assert_eq!(pushed.await, sensor_config(42, "normal"));
    let own = kaa_sdk::http::sync(
        &http_address,
        kaa_sdk::http::Path::Sync,
        &node_key,
        &victim,
        &claim,
        TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(own.status, SyncResponseResultType::Success);
    client.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test]
async fn a_revoked_endpoint_gets_nothing_more_on_its_next_sync() {
    let mut node = standalone().await;
    let (developer, app) = application(&node).await;
    let (tcp, http_address) = addresses(&node);
    let node_key = node_key(&node);
    let endpoint = EndpointKeys::generate().unwrap();
    let register = sync_of(&app.sdk_token, &endpoint, Some(&endpoint));
    let security = || Security::Encrypted {
        server_key: &node_key,
        endpoint: &endpoint,
    };

    // A raw Kaatcp session that will never read what the server sends it, and the same
    // endpoint's HTTP syncs, which have no push channel at all.
    let (mut channel, registered) =
        Channel::connect(&tcp, None, security(), 60, &register, TIMEOUT)
            .await
            .unwrap();
    assert_eq!(registered.status, SyncResponseResultType::Success);
    let claim = sync_of(&app.sdk_token, &endpoint, None);
    let http_sync =
        |path| kaa_sdk::http::sync(&http_address, path, &node_key, &endpoint, &claim, TIMEOUT);
    let admitted = Instant::now();
    let answer = http_sync(kaa_sdk::http::Path::Sync).await.unwrap();
    assert_eq!(answer.status, SyncResponseResultType::Success);

    let key = URL_SAFE_NO_PAD.encode(endpoint.key_hash());
    let revoked = developer
        .post(&format!("{}/credentials/{key}/revoke", app.path), json!({}))
        .await;
    assert_eq!(revoked.status, 200, "{:#}", revoked.body);
    // The change notification reaches the node in milliseconds; the node's cache of endpoints
    // in use would otherwise admit this one for a few seconds more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for path in [kaa_sdk::http::Path::Sync, kaa_sdk::http::Path::LongSync] {
        match http_sync(path).await {
            Err(kaa_sdk::SdkError::Refused(reason)) => {
                assert_eq!(reason, format!("HTTP 403: {REFUSED}"), "{path:?}")
            }
            other => panic!("a revoked endpoint was answered on {path:?}: {other:?}"),
        }
    }
    assert!(
        admitted.elapsed() < ADMITTED_FOR,
        "the refusal came only after the cache's TTL; it proves nothing about invalidation"
    );

    // The Kaatcp session's next sync gets no answer: only DISCONNECT CREDENTIALS_REVOKED (or the
    // closed connection, if the server ended it when the revocation arrived).
    let sent = channel.send(&claim).await;
    if sent.is_ok() {
        match tokio::time::timeout(TIMEOUT, channel.receive()).await {
            Ok(Ok(response)) => panic!("a revoked endpoint got an answer: {response:?}"),
            Ok(Err(error)) => {
                let reason = error.to_string();
                assert!(
                    reason.contains("CredentialsRevoked") || !reason.contains("DISCONNECT"),
                    "{reason}"
                );
            }
            Err(_) => panic!("the revoked session was neither answered nor closed"),
        }
    }
    // A new session of the endpoint is refused: CONNACK 10 (verification failed).
    let again = encrypted(&node_key, &claim, Some(&endpoint));
    assert_eq!(kaatcp(&tcp, &again).await, 0x10);
    assert!(auth_failures(&node, "revoked").await >= 3);
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test]
async fn a_revocation_holds_on_another_nodes_session_that_never_heard_of_it() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("postgresql");
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let chroot = format!("/{}", unique("endpoint_auth"));
    let member = |id: &str, control: bool| {
        NodeBuilder::cluster_member(&chroot, id, PASSWORD)
            .set("control.enabled", control)
            .set("sql.url", &database.url)
            .set("endpoint_store.backend", "sql")
            .set("endpoint_store.url", &database.url)
    };
    let mut serving = member("node-a-ops", false).spawn().unwrap();
    let mut other = member("node-b-control", true).spawn().unwrap();
    for node in [&mut serving, &mut other] {
        node.wait_for("/ready", 200, Duration::from_secs(60))
            .await
            .unwrap();
        node.wait_operations(2, Duration::from_secs(20)).await;
    }
    let (developer, app) = application(&other).await;
    let endpoint = EndpointKeys::generate().unwrap();
    let serving_key = node_key(&serving);
    let (serving_tcp, _) = addresses(&serving);
    let (_, other_http) = addresses(&other);

    // A live Kaatcp session on one node, synced once more so that node admits the endpoint...
    let register = sync_of(&app.sdk_token, &endpoint, Some(&endpoint));
    let security = Security::Encrypted {
        server_key: &serving_key,
        endpoint: &endpoint,
    };
    let (mut channel, registered) =
        Channel::connect(&serving_tcp, None, security, 60, &register, TIMEOUT)
            .await
            .unwrap();
    assert_eq!(registered.status, SyncResponseResultType::Success);
    let claim = sync_of(&app.sdk_token, &endpoint, None);
    channel.send(&claim).await.unwrap();
    let answer = tokio::time::timeout(TIMEOUT, channel.receive()).await;
    assert_eq!(
        answer.unwrap().unwrap().status,
        SyncResponseResultType::Success
    );
    // ...then one HTTP sync on the other node: the profile now names that node, so the
    // revocation's DISCONNECT goes there, where no session waits, and is lost.
    let moved = kaa_sdk::http::sync(
        &other_http,
        kaa_sdk::http::Path::Sync,
        &node_key(&other),
        &endpoint,
        &claim,
        TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(moved.status, SyncResponseResultType::Success);
    let key = URL_SAFE_NO_PAD.encode(endpoint.key_hash());
    let profile = developer
        .get(&format!("{}/endpoints/{key}", app.path))
        .await;
    assert_eq!(
        profile.body["node_id"], "node-b-control",
        "{:#}",
        profile.body
    );
    let revoked = developer
        .post(&format!("{}/credentials/{key}/revoke", app.path), json!({}))
        .await;
    assert_eq!(revoked.status, 200, "{:#}", revoked.body);

    // Within the cache's bound, the live session's next sync is refused, not answered.
    tokio::time::sleep(ADMITTED_FOR + Duration::from_millis(500)).await;
    channel.send(&claim).await.unwrap();
    match tokio::time::timeout(TIMEOUT, channel.receive()).await {
        Ok(Err(kaa_sdk::SdkError::Refused(reason))) => {
            assert_eq!(reason, "DISCONNECT CredentialsRevoked")
        }
        other => panic!("the revoked endpoint's session was not ended: {other:?}"),
    }
    for node in [&mut serving, &mut other] {
        node.signal(nix::sys::signal::Signal::SIGTERM);
        node.wait_exit(Duration::from_secs(20)).await.unwrap();
    }
    database.drop().await;
}

/// How long Operations admits an endpoint found in use without reading its credentials again
/// (`kaa_operations::credentials::ADMITTED_FOR`).
const ADMITTED_FOR: Duration = Duration::from_secs(3);
