//! Owners and events end to end with SDK endpoints and real `kaa-node` processes: endpoints
//! attach to an owner through trustful and HTTP user verifiers, attach and detach each other by
//! access token, find listeners and exchange events in order; across a cluster, two endpoints
//! on different Operations nodes keep exchanging events after the node holding their owner's
//! route table is killed.

use std::time::{Duration, Instant};

use kaa_idl::endpoint::sync::UserAttachErrorCode;
use kaa_sdk::client::{Event, KaaClient};
use kaa_tests::api::{ApiClient, expect, id, new_application};
use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use kaa_tests::stubs::HttpStub;
use serde_json::{Value, json};

use crate::support::{
    ALLOW_LOOPBACK, activate_interval, avro_long, connected_on, endpoint_config, read_avro_long,
    wait_event,
};
use crate::unique;

const PASSWORD: &str = "owners-events-1";
const PING: &str = "org.home.Ping";
const PONG: &str = "org.home.Pong";

/// What the tests' endpoints need of an application (also used by `session_channels`).
pub(crate) struct HomeApp {
    pub(crate) developer: ApiClient,
    pub(crate) path: String,
    pub(crate) all_group: String,
    pub(crate) tenant_id: String,
    pub(crate) sdk_token: String,
    pub(crate) trustful: String,
    pub(crate) http: String,
}

/// An application on `node` (whose first admin has `password`) whose endpoints send and receive
/// `Ping` and `Pong` (family `home` v1), with a trustful verifier (the SDK profile's default), an
/// HTTP verifier calling `verifier_url`, configuration schema v1 `{interval}` (10 for group
/// `all`) and log schema v1 `{n}`.
pub(crate) async fn home_application(node: &Node, password: &str, verifier_url: &str) -> HomeApp {
    let base = format!("http://{}", node.admin);
    let (developer, path) = new_application(&base, password, "household", "gadgets").await;
    let record = |name: &str| {
        json!({"type": "record", "name": name, "namespace": "org.home",
               "fields": [{"name": "n", "type": "int"}]})
    };
    let family = developer
        .post(
            "/api/v1/event-families",
            json!({"name": "home", "namespace": "org.home", "class_name": "HomeFamily"}),
        )
        .await;
    expect(&family, 201);
    expect(
        &developer
            .post(
                &format!("/api/v1/event-families/{}/versions", id(&family)),
                json!({"classes": [{"schema": record("Ping"), "kind": "event"},
                                   {"schema": record("Pong"), "kind": "event"}]}),
            )
            .await,
        201,
    );
    let map = developer
        .post(
            &format!("{path}/event-maps"),
            json!({"family_id": id(&family), "version": 1,
                   "actions": {PING: "both", PONG: "both"}}),
        )
        .await;
    expect(&map, 201);
    let trustful = developer
        .post(
            &format!("{path}/user-verifiers"),
            json!({"name": "trust", "type": "trustful"}),
        )
        .await;
    expect(&trustful, 201);
    let http = developer
        .post(
            &format!("{path}/user-verifiers"),
            json!({"name": "gate", "type": "http", "settings": {"url": verifier_url}}),
        )
        .await;
    expect(&http, 201);
    // Configuration schema v1 {interval}, 10 for every endpoint (group `all`).
    expect(
        &developer
            .post(
                &format!("{path}/schemas/configuration"),
                json!({"name": "settings", "schema": {"type": "record", "name": "Settings",
                       "fields": [{"name": "interval", "type": "int"}]}}),
            )
            .await,
        201,
    );
    expect(
        &developer
            .post(
                &format!("{path}/schemas/log"),
                json!({"name": "reading", "schema": record("Reading")}),
            )
            .await,
        201,
    );
    let groups = developer.get(&format!("{path}/groups")).await;
    let all_group = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
    activate_interval(&developer, &path, &all_group, 10).await;
    let sdk = developer
        .post(
            &format!("{path}/sdk-profiles"),
            json!({"name": "v1", "configuration_version": 1, "log_version": 1,
                   "event_map_ids": [id(&map)], "default_verifier": id(&trustful)}),
        )
        .await;
    expect(&sdk, 201);
    let app = developer.get(&path).await;
    HomeApp {
        tenant_id: app.body["tenant_id"].as_str().unwrap().to_owned(),
        sdk_token: sdk.body["sdk_token"].as_str().unwrap().to_owned(),
        trustful: trustful.body["verifier_token"].as_str().unwrap().to_owned(),
        http: http.body["verifier_token"].as_str().unwrap().to_owned(),
        developer,
        path,
        all_group,
    }
}

fn endpoint(
    nodes: &[&Node],
    sdk_token: &str,
    access_token: &str,
    state: &std::path::Path,
) -> KaaClient {
    KaaClient::start(endpoint_config(nodes, sdk_token, access_token, state)).unwrap()
}

/// Avro binary of `{n: int}`.
fn payload(n: i32) -> Vec<u8> {
    avro_long(i64::from(n))
}

/// The next received event of class `fqn`: its number and source.
fn received(fqn: &'static str) -> impl FnMut(&Event) -> Option<(i32, Option<String>)> {
    move |event| match event {
        Event::EventReceived {
            fqn: got,
            data,
            source,
        } if got == fqn => Some((read_avro_long(data) as i32, source.clone())),
        _ => None,
    }
}

fn key_of(client: &KaaClient) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(client.key_hash())
}

async fn connected(client: &mut KaaClient) -> String {
    wait_event(client, Duration::from_secs(30), "a session", |e| match e {
        Event::Connected(server) => Some(server.clone()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn owners_attach_through_verifiers_and_their_endpoints_exchange_events() {
    let verifier = HttpStub::start().await;
    // The verifier stub is on loopback, which the node calls only when allowed.
    let mut node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.outbound_allow", ALLOW_LOOPBACK)
        .start()
        .await;
    let app = home_application(&node, PASSWORD, &verifier.url("/verify")).await;
    let within = Duration::from_secs(20);
    let (phone_state, lamp_state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut phone = endpoint(&[&node], &app.sdk_token, "phone-1", phone_state.path());
    let mut lamp = endpoint(&[&node], &app.sdk_token, "lamp-1", lamp_state.path());
    connected(&mut phone).await;
    connected(&mut lamp).await;

    // The HTTP verifier refuses, then accepts; it is asked with the user's id and token.
    verifier.answer(403);
    phone
        .attach_to_owner(Some(app.http.clone()), "alice".into(), "bad-token".into())
        .unwrap();
    let refused = wait_event(&mut phone, within, "a refused attach", |e| match e {
        Event::OwnerAttachFailed { code, .. } => Some(*code),
        Event::AttachedToOwner { .. } => panic!("attached with a refused token"),
        _ => None,
    })
    .await;
    assert_eq!(refused, Some(UserAttachErrorCode::TokenInvalid));
    verifier.answer(200);
    phone
        .attach_to_owner(Some(app.http.clone()), "alice".into(), "good-token".into())
        .unwrap();
    let attached = wait_event(&mut phone, within, "the owner attach", |e| match e {
        Event::AttachedToOwner { user_external_id } => Some(user_external_id.clone()),
        Event::OwnerAttachFailed { code, reason } => panic!("attach failed: {code:?} {reason:?}"),
        _ => None,
    })
    .await;
    assert_eq!(attached, "alice");
    let asked = verifier.received();
    let last: &Value = &asked.last().unwrap().body;
    assert_eq!(last["user_external_id"], "alice");
    assert_eq!(last["user_access_token"], "good-token");
    assert_eq!(last["endpoint_key_hash"], key_of(&phone));

    // The phone attaches the lamp by its access token; the lamp is told who did it.
    let request = phone.attach_endpoint("lamp-1".into()).unwrap();
    let (request_id, key, ok) =
        wait_event(&mut phone, within, "the endpoint attach", |e| match e {
            Event::EndpointAttached {
                request_id,
                key_hash,
                success,
            } => Some((*request_id, key_hash.clone(), *success)),
            _ => None,
        })
        .await;
    assert_eq!((request_id, ok), (request, true));
    assert_eq!(key.as_deref(), Some(key_of(&lamp).as_str()));
    let by = wait_event(&mut lamp, within, "the attach notification", |e| match e {
        Event::AttachedByEndpoint {
            user_external_id,
            by_access_token,
        } => Some((user_external_id.clone(), by_access_token.clone())),
        _ => None,
    })
    .await;
    assert_eq!(by, ("alice".to_owned(), "phone-1".to_owned()));
    let endpoint_view = app
        .developer
        .get(&format!(
            "{}/endpoints/{}",
            app.path,
            urlsafe(&key_of(&lamp))
        ))
        .await;
    expect(&endpoint_view, 200);
    assert_eq!(
        endpoint_view.body["owner_id"],
        format!("{}:alice", app.tenant_id)
    );

    // Listeners, then events both ways, in order.
    let query = phone
        .find_listeners(vec![PING.into(), PONG.into()])
        .unwrap();
    let listeners = wait_event(&mut phone, within, "the listeners", |e| match e {
        Event::Listeners {
            request_id,
            listeners,
            success,
        } if *request_id == query => {
            assert!(success);
            Some(listeners.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(listeners, vec![key_of(&lamp)]);
    const BURST: i32 = 100;
    for n in 0..BURST {
        phone.send_event(PING.into(), payload(n), None).unwrap();
    }
    for n in 0..BURST {
        let (got, source) = wait_event(&mut lamp, within, "a ping", received(PING)).await;
        assert_eq!(got, n, "pings arrive in the order sent");
        assert_eq!(source.as_deref(), Some(key_of(&phone).as_str()));
    }
    lamp.send_event(PONG.into(), payload(7), Some(key_of(&phone)))
        .unwrap();
    let (pong, source) = wait_event(&mut phone, within, "a pong", received(PONG)).await;
    assert_eq!(pong, 7);
    assert_eq!(source.as_deref(), Some(key_of(&lamp).as_str()));

    // Detached, the lamp is told and gets no more events.
    let request = phone.detach_endpoint(key_of(&lamp)).unwrap();
    let ok = wait_event(&mut phone, within, "the detach", |e| match e {
        Event::EndpointDetached {
            request_id,
            success,
        } if *request_id == request => Some(*success),
        _ => None,
    })
    .await;
    assert!(ok);
    let by = wait_event(&mut lamp, within, "the detach notification", |e| match e {
        Event::DetachedByEndpoint { by_access_token } => Some(by_access_token.clone()),
        _ => None,
    })
    .await;
    assert_eq!(by, "phone-1");
    phone.send_event(PING.into(), payload(1000), None).unwrap();
    let late = tokio::time::timeout(
        Duration::from_secs(3),
        wait_event(&mut lamp, within, "a ping after the detach", received(PING)),
    )
    .await;
    assert!(late.is_err(), "a detached endpoint got an event: {late:?}");

    // A trustful verifier (the profile's default) takes anyone.
    lamp.attach_to_owner(None, "bob".into(), "anything".into())
        .unwrap();
    let bob = wait_event(&mut lamp, within, "bob's attach", |e| match e {
        Event::AttachedToOwner { user_external_id } => Some(user_external_id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(bob, "bob");
    let _ = app.trustful;

    phone.stop().await;
    lamp.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

/// The `interval` of a configuration body (Avro `{interval: int}`).
fn interval(event: &Event) -> Option<i64> {
    match event {
        Event::Configuration(body) => Some(read_avro_long(body)),
        _ => None,
    }
}

#[tokio::test]
async fn an_owners_configuration_overrides_the_groups_for_its_endpoints() {
    let node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.outbound_allow", ALLOW_LOOPBACK)
        .start()
        .await;
    let verifier = HttpStub::start().await;
    let app = home_application(&node, PASSWORD, &verifier.url("/verify")).await;
    let within = Duration::from_secs(20);
    let state = tempfile::tempdir().unwrap();
    let mut phone = endpoint(&[&node], &app.sdk_token, "phone-1", state.path());
    assert_eq!(
        wait_event(&mut phone, within, "the group configuration", interval).await,
        10
    );
    phone
        .attach_to_owner(None, "carol".into(), "t".into())
        .unwrap();
    wait_event(&mut phone, within, "the attach", |e| match e {
        Event::AttachedToOwner { .. } => Some(()),
        _ => None,
    })
    .await;

    let owner = format!("{}/owners/carol/configurations", app.path);
    let set = app
        .developer
        .send(
            reqwest::Method::PUT,
            &format!("{owner}/1"),
            Some(json!({"body": {"interval": 99}})),
        )
        .await;
    expect(&set, 200);
    assert_eq!(set.body["body"], json!({"interval": 99}));
    assert_eq!(
        wait_event(&mut phone, within, "the owner's configuration", interval).await,
        99,
        "pushed without the endpoint asking"
    );
    let listed = app.developer.get(&owner).await;
    expect(&listed, 200);
    assert_eq!(listed.body[0]["schema_version"], 1);

    // Bad input names the field and changes nothing.
    let bad = app
        .developer
        .send(
            reqwest::Method::PUT,
            &format!("{owner}/1"),
            Some(json!({"body": {"interval": "often"}})),
        )
        .await;
    assert!((400..500).contains(&bad.status), "{:#}", bad.body);
    assert_eq!(bad.body["field"], "body.interval", "{:#}", bad.body);
    let missing_version = app
        .developer
        .send(
            reqwest::Method::PUT,
            &format!("{owner}/7"),
            Some(json!({"body": {"interval": 1}})),
        )
        .await;
    assert!((400..500).contains(&missing_version.status));
    expect(&app.developer.get(&format!("{owner}/1")).await, 200);

    // Removed: back to the group's configuration.
    expect(&app.developer.delete(&format!("{owner}/1")).await, 204);
    assert_eq!(
        wait_event(
            &mut phone,
            within,
            "the group configuration again",
            interval
        )
        .await,
        10
    );
    expect(&app.developer.delete(&format!("{owner}/1")).await, 404);
    expect(&app.developer.get(&format!("{owner}/1")).await, 404);
    phone.stop().await;
}

/// URL-safe Base64 without padding, as the admin API names endpoints.
fn urlsafe(standard: &str) -> String {
    standard
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

#[tokio::test]
async fn events_flow_between_nodes_and_again_after_the_owners_route_node_is_killed() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("postgresql");
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let chroot = format!("/{}", unique("owners"));
    let member = |id: &str, control: bool, operations: bool| {
        NodeBuilder::cluster_member(&chroot, id, PASSWORD)
            .set("control.enabled", control)
            .set("operations.enabled", operations)
            .set("bootstrap.enabled", control)
            .set("sql.url", &database.url)
            .set("endpoint_store.backend", "sql")
            .set("endpoint_store.url", &database.url)
            .set("operations.outbound_allow", ALLOW_LOOPBACK)
    };
    // Control and Bootstrap on their own node; Operations nodes join one by one. The Bootstrap
    // orders servers by load with a random draw, so a newcomer usually, not always, lands on the
    // emptiest node: the lamp starts again with a fresh identity until it is on a node of its own.
    let seen = Duration::from_secs(20);
    let mut control = member("z-control", true, false).start().await;
    let node_b = member("b-ops", false, true).start().await;
    control.wait_operations(1, seen).await;
    let verifier = HttpStub::start().await;
    let app = home_application(&control, PASSWORD, &verifier.url("/verify")).await;
    let phone_state = tempfile::tempdir().unwrap();
    let mut phone = endpoint(&[&control], &app.sdk_token, "phone-1", phone_state.path());
    let phone_server = connected(&mut phone).await;
    assert_eq!(
        phone_server,
        format!("127.0.0.1:{}", node_b.port("operations.tcp_port"))
    );

    let mut node_a = member("a-ops", false, true).start().await;
    control.wait_operations(2, seen).await;
    let node_a_server = format!("127.0.0.1:{}", node_a.port("operations.tcp_port"));
    let (mut lamp, _lamp_state) = connected_on(&node_a_server, |state| {
        endpoint(&[&control], &app.sdk_token, "lamp-1", state)
    })
    .await;

    let mut node_c = member("c-ops", false, true).start().await;
    for node in [&control, &node_a, &node_b, &node_c] {
        node.wait_operations(3, seen).await;
    }
    // An owner whose route table lives on c, where neither endpoint is.
    let mut owner = None;
    for n in 0..200 {
        let external = format!("user-{n}");
        let key = format!("{}:{external}", app.tenant_id);
        let answer = control
            .get_json(&format!("/cluster/owner?key={}", urlencode(&key)))
            .await
            .unwrap_or_default();
        if answer["owner"] == "c-ops" {
            owner = Some(external);
            break;
        }
    }
    let owner = owner.expect("some owner id falls on c-ops");

    let within = Duration::from_secs(30);
    phone
        .attach_to_owner(Some(app.trustful.clone()), owner.clone(), "t".into())
        .unwrap();
    wait_event(&mut phone, within, "the phone's attach", |e| match e {
        Event::AttachedToOwner { .. } => Some(()),
        _ => None,
    })
    .await;
    lamp.attach_to_owner(Some(app.trustful.clone()), owner.clone(), "t".into())
        .unwrap();
    wait_event(&mut lamp, within, "the lamp's attach", |e| match e {
        Event::AttachedToOwner { .. } => Some(()),
        _ => None,
    })
    .await;

    // Both ways across nodes (b → c → a and a → c → b), in order.
    for n in 0..20 {
        phone.send_event(PING.into(), payload(n), None).unwrap();
    }
    for n in 0..20 {
        let (got, _) = wait_event(&mut lamp, within, "a ping across nodes", received(PING)).await;
        assert_eq!(got, n);
    }
    lamp.send_event(PONG.into(), payload(1), Some(key_of(&phone)))
        .unwrap();
    let (pong, _) = wait_event(&mut phone, within, "a pong across nodes", received(PONG)).await;
    assert_eq!(pong, 1);

    // The node holding the owner's routes dies; the others rebuild them on the new ring owner.
    node_c.kill9();
    let killed = Instant::now();
    let mut next = 10_000;
    let mut sent_after_kill = 0;
    let first = loop {
        phone.send_event(PING.into(), payload(next), None).unwrap();
        next += 1;
        sent_after_kill += 1;
        let got = tokio::time::timeout(
            Duration::from_millis(300),
            wait_event(&mut lamp, within, "a ping after the kill", received(PING)),
        )
        .await;
        if let Ok((n, _)) = got {
            break n;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "events did not flow again within 60 s of the kill"
        );
    };
    let healed = killed.elapsed();
    assert!(first >= 10_000);
    // Flowing again: the next events all arrive, in order.
    lamp.send_event(PONG.into(), payload(2), Some(key_of(&phone)))
        .unwrap();
    let (pong, _) = wait_event(&mut phone, within, "a pong after the heal", received(PONG)).await;
    assert_eq!(pong, 2);
    let start = next;
    for n in start..start + 20 {
        phone.send_event(PING.into(), payload(n), None).unwrap();
    }
    let mut after = Vec::new();
    let mut probes = std::collections::BTreeSet::from([first]);
    while after.last() != Some(&(start + 19)) {
        let (n, _) = wait_event(&mut lamp, within, "pings after the heal", received(PING)).await;
        if n >= start {
            after.push(n);
        } else {
            probes.insert(n);
        }
    }
    assert_eq!(after, (start..start + 20).collect::<Vec<_>>());
    let lost = sent_after_kill - probes.len();
    println!(
        "event routes healed {:.2}s after kill -9 of the owner's route node (first event through: probe #{} of {sent_after_kill} sent during the heal; {lost} probes lost)",
        healed.as_secs_f64(),
        first - 10_000,
    );

    phone.stop().await;
    lamp.stop().await;
    let mut node_b = node_b;
    for node in [&mut node_a, &mut node_b, &mut control] {
        node.signal(nix::sys::signal::Signal::SIGTERM);
        node.wait_exit(Duration::from_secs(20)).await.unwrap();
    }
    database.drop().await;
}

/// Percent-encodes a query value.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
