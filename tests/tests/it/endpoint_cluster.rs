//! The endpoint path across a real cluster: two `kaa-node` processes in ZooKeeper sharing
//! PostgreSQL metadata and a Cassandra endpoint store. An SDK endpoint bootstraps from both,
//! gets configuration pushes and a unicast notification routed through the ring to the node that
//! holds its session, survives a `kill -9` of that node by failing over to the other, and keeps
//! receiving pushes there.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kaa_sdk::client::{BootstrapServer, ClientConfig, Event, KaaClient};
use kaa_tests::api::{ApiClient, expect, id};
use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::{Value, json};

use crate::support::{activate_interval, connected_on, read_avro_long, wait_event};
use crate::unique;

const PASSWORD: &str = "cluster-endpoints-1";

fn node(chroot: &str, id: &str, control: bool, sql: &str, keyspace: &str) -> NodeBuilder {
    NodeBuilder::cluster_member(chroot, id, PASSWORD)
        .set("control.enabled", control)
        .set("sql.url", sql)
        .set("endpoint_store.backend", "cassandra")
        .set("endpoint_store.keyspace", keyspace)
}

fn interval_of(body: &[u8]) -> i32 {
    read_avro_long(body) as i32
}

#[tokio::test]
async fn endpoints_fail_over_between_operations_nodes_and_messages_follow_them() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("postgresql");
    infra::ensure_up("cassandra");
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let keyspace = infra::fresh_keyspace().await;
    let chroot = format!("/{}", unique("endpoints"));
    // The endpoint's first session must be on the Operations-only node (started again until it is).
    let mut worker = node(&chroot, "node-a-ops", false, &database.url, &keyspace.name)
        .spawn()
        .unwrap();
    let mut control = node(
        &chroot,
        "node-b-control",
        true,
        &database.url,
        &keyspace.name,
    )
    .spawn()
    .unwrap();
    for node in [&mut worker, &mut control] {
        node.wait_for("/ready", 200, Duration::from_secs(60))
            .await
            .unwrap();
    }
    // Both see both Operations nodes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let views: Vec<Option<Value>> = vec![
            worker.get_json("/cluster").await,
            control.get_json("/cluster").await,
        ];
        if views.iter().all(|v| {
            v.as_ref()
                .and_then(|v| v["operations"].as_array().map(Vec::len))
                == Some(2)
        }) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "views: {views:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let base = format!("http://{}", control.admin);
    let admin = ApiClient::login(&base, "admin", PASSWORD).await;
    let tenant = admin
        .post("/api/v1/tenants", json!({ "name": "fleet" }))
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
        .post("/api/v1/applications", json!({ "name": "trackers" }))
        .await;
    expect(&app, 201);
    let developer = ApiClient::login(&base, "dev", PASSWORD).await;
    let app = format!("/api/v1/applications/{}", id(&app));
    for (kind, schema) in [
        (
            "configuration",
            json!({"type": "record", "name": "TrackerConfig", "fields": [{"name": "interval", "type": "int"}]}),
        ),
        (
            "notification",
            json!({"type": "record", "name": "Note", "fields": [{"name": "text", "type": "string"}]}),
        ),
    ] {
        expect(
            &developer
                .post(
                    &format!("{app}/schemas/{kind}"),
                    json!({ "name": kind, "schema": schema }),
                )
                .await,
            201,
        );
    }
    let groups = developer.get(&format!("{app}/groups")).await;
    let all = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
    activate_interval(&developer, &app, &all, 1).await;
    let sdk = developer
        .post(
            &format!("{app}/sdk-profiles"),
            json!({ "name": "v1", "configuration_version": 1, "notification_version": 1 }),
        )
        .await;
    expect(&sdk, 201);
    let topic = developer
        .post(
            &format!("{app}/topics"),
            json!({ "name": "direct", "kind": "optional" }),
        )
        .await;
    expect(&topic, 201);

    let bootstrap = |node: &Node| BootstrapServer {
        address: format!("127.0.0.1:{}", node.port("bootstrap.tcp_port")),
        http_address: None,
        public_key: None,
    };
    let sdk_token = sdk.body["sdk_token"].as_str().unwrap().to_owned();
    let on_worker = format!("127.0.0.1:{}", worker.port("operations.tcp_port"));
    let (mut client, _state) = connected_on(&on_worker, |state| {
        KaaClient::start(ClientConfig {
            access_token: "tracker-1".into(),
            timeout: Duration::from_secs(5),
            retry_delay: Duration::from_millis(200),
            keep_alive: 30,
            ..ClientConfig::new(
                vec![bootstrap(&worker), bootstrap(&control)],
                sdk_token.clone(),
                state.to_owned(),
            )
        })
        .unwrap()
    })
    .await;
    let within = Duration::from_secs(30);
    let config = wait_event(&mut client, within, "the configuration", |e| match e {
        Event::Configuration(body) => Some(interval_of(body)),
        _ => None,
    })
    .await;
    assert_eq!(config, 1);

    // Control (on the other node) announces a change; the worker pushes it.
    activate_interval(&developer, &app, &all, 2).await;
    let pushed = wait_event(&mut client, within, "a pushed configuration", |e| match e {
        Event::Configuration(body) => Some(interval_of(body)),
        _ => None,
    })
    .await;
    assert_eq!(pushed, 2);

    // A unicast travels Control → ring owner → the worker holding the session.
    let key = URL_SAFE_NO_PAD.encode(client.key_hash());
    let endpoint = developer.get(&format!("{app}/endpoints/{key}")).await;
    expect(&endpoint, 200);
    assert_eq!(endpoint.body["node_id"], "node-a-ops");
    let unicast = |text: &'static str| {
        let developer = &developer;
        let path = format!("{app}/endpoints/{key}/notifications");
        let topic = id(&topic);
        async move {
            let sent = developer
                .post(&path, json!({ "topic_id": topic, "body": {"text": text} }))
                .await;
            expect(&sent, 201);
            sent.body["id"].as_str().unwrap().to_owned()
        }
    };
    let uid = unicast("on the worker").await;
    let got = wait_event(
        &mut client,
        within,
        "a unicast on the worker",
        |e| match e {
            Event::Notification { uid: Some(uid), .. } => Some(uid.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(got, uid);

    // The worker dies; the endpoint fails over to the other node and messages follow it.
    worker.kill9();
    let second = wait_event(
        &mut client,
        within,
        "a session on the other node",
        |e| match e {
            Event::Connected(server) => Some(server.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(
        second,
        format!("127.0.0.1:{}", control.port("operations.tcp_port"))
    );
    activate_interval(&developer, &app, &all, 3).await;
    let after = wait_event(&mut client, within, "a push after failover", |e| match e {
        Event::Configuration(body) if interval_of(body) == 3 => Some(3),
        _ => None,
    })
    .await;
    assert_eq!(after, 3);
    let endpoint = developer.get(&format!("{app}/endpoints/{key}")).await;
    assert_eq!(endpoint.body["node_id"], "node-b-control");
    let uid = unicast("after failover").await;
    let got = wait_event(
        &mut client,
        within,
        "a unicast after failover",
        |e| match e {
            Event::Notification { uid: Some(got), .. } if *got == uid => Some(got.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(got, uid);

    client.stop().await;
    control.signal(nix::sys::signal::Signal::SIGTERM);
    control.wait_exit(Duration::from_secs(20)).await.unwrap();
    keyspace.drop().await;
    database.drop().await;
}
