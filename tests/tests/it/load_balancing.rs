//! Load balancing across a real cluster: three `kaa-node` processes in ZooKeeper (one with
//! Control, Operations and Bootstrap, two Operations-only) sharing PostgreSQL. Endpoints that
//! connected while the first node was alone stay there; once the Control leader sees the uneven
//! endpoint counts it sends that node redirection rules, and new endpoints, which all try the first
//! node first, are spread to the other two by REDIRECT answers the SDK follows.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kaa_sdk::client::{BootstrapServer, ClientConfig, Event, KaaClient};
use kaa_tests::api::{ApiClient, expect, id};
use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::json;

use crate::unique;

const PASSWORD: &str = "balance-load-1";
/// Endpoints connected while the first node is alone.
const SETTLED: usize = 20;
/// Endpoints connected once the rules are in force.
const NEWCOMERS: usize = 30;

fn node(chroot: &str, id: &str, control: bool, sql: &str) -> NodeBuilder {
    NodeBuilder::cluster_member(chroot, id, PASSWORD)
        .set("zookeeper.load_report_interval", "300ms")
        .set("control.enabled", control)
        .set("control.rebalance_interval", "1s")
        .set("control.rebalance_min_difference", 10)
        .set("bootstrap.enabled", control)
        .set("sql.url", sql)
        .set("endpoint_store.backend", "sql")
        .set("endpoint_store.url", sql)
}

/// Starts endpoint `n`, bootstrapping from `first`, whose list names every Operations node with
/// the first node first.
fn endpoint(first: &Node, sdk_token: &str, states: &tempfile::TempDir, n: usize) -> KaaClient {
    let mut config = ClientConfig::new(
        vec![BootstrapServer {
            address: format!("127.0.0.1:{}", first.port("bootstrap.tcp_port")),
            http_address: None,
            public_key: None,
        }],
        sdk_token,
        states.path().join(format!("endpoint-{n}")),
    );
    config.timeout = Duration::from_secs(5);
    config.retry_delay = Duration::from_millis(200);
    config.keep_alive = 60;
    KaaClient::start(config).unwrap()
}

/// Waits until every endpoint is registered and returns how many each node serves.
async fn placement(
    developer: &ApiClient,
    app: &str,
    clients: &[KaaClient],
) -> BTreeMap<String, usize> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    'retry: loop {
        let mut nodes = BTreeMap::new();
        for client in clients {
            let key = URL_SAFE_NO_PAD.encode(client.key_hash());
            let endpoint = developer.get(&format!("{app}/endpoints/{key}")).await;
            match endpoint.body["node_id"].as_str() {
                Some(node) if endpoint.status == 200 => {
                    *nodes.entry(node.to_owned()).or_default() += 1
                }
                _ => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "endpoint {key} never registered: {:#}",
                        endpoint.body
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue 'retry;
                }
            }
        }
        return nodes;
    }
}

#[tokio::test]
async fn new_sessions_move_from_an_overloaded_node_to_the_others() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("postgresql");
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let chroot = format!("/{}", unique("balance"));
    let mut main = node(&chroot, "node-a-main", true, &database.url)
        .spawn()
        .unwrap();
    main.wait_for("/ready", 200, Duration::from_secs(60))
        .await
        .unwrap();

    let base = format!("http://{}", main.admin);
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
        .post("/api/v1/applications", json!({ "name": "meters" }))
        .await;
    expect(&app, 201);
    let developer = ApiClient::login(&base, "dev", PASSWORD).await;
    let app = format!("/api/v1/applications/{}", id(&app));
    let sdk = developer
        .post(&format!("{app}/sdk-profiles"), json!({ "name": "v1" }))
        .await;
    expect(&sdk, 201);
    let sdk_token = sdk.body["sdk_token"].as_str().unwrap().to_owned();
    let states = tempfile::tempdir().unwrap();

    // Alone, the first node takes everyone.
    let mut settled = Vec::new();
    for n in 0..SETTLED {
        settled.push(endpoint(&main, &sdk_token, &states, n));
    }
    let before = placement(&developer, &app, &settled).await;
    assert_eq!(
        before,
        BTreeMap::from([("node-a-main".to_owned(), SETTLED)])
    );

    // Two empty Operations nodes join; the leader sees 20 / 0 / 0 and sends the first node rules.
    let mut workers = Vec::new();
    for id in ["node-b-ops", "node-c-ops"] {
        workers.push(node(&chroot, id, false, &database.url).spawn().unwrap());
    }
    for worker in &mut workers {
        worker
            .wait_for("/ready", 200, Duration::from_secs(60))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = main.get_text("/metrics").await;
        let rules = metrics
            .lines()
            .find_map(|line| line.strip_prefix("kaa_internode_redirection_rules_total "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if rules >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no redirection rules reached the overloaded node:\n{}",
            main.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Newcomers bootstrap through the first node. The Bootstrap service lists the Operations
    // nodes weighted by their endpoint counts, so most try an empty node first; those that try
    // the overloaded one are sent on (each with probability 0.75 while the rules stand), and the
    // SDK follows the REDIRECT to the named node.
    let mut newcomers = Vec::new();
    for n in 0..NEWCOMERS {
        newcomers.push(endpoint(&main, &sdk_token, &states, SETTLED + n));
    }
    let after = placement(&developer, &app, &newcomers).await;
    println!("newcomers by node: {after:?}");
    let moved: usize = ["node-b-ops", "node-c-ops"]
        .iter()
        .map(|node| after.get(*node).copied().unwrap_or(0))
        .sum();
    assert!(
        moved >= NEWCOMERS / 3,
        "too few new sessions were redirected: {after:?}"
    );
    for worker in ["node-b-ops", "node-c-ops"] {
        assert!(
            after.get(worker).is_some_and(|&n| n > 0),
            "{worker} got no redirected endpoint: {after:?}"
        );
    }
    // Every REDIRECT ended on an empty node; running sessions were left alone (no session rule).
    let mut redirected = 0;
    for client in &mut newcomers {
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(10), client.next_event()).await
        {
            if matches!(event, Event::Redirected(_)) {
                redirected += 1;
            }
        }
    }
    assert!(
        redirected <= moved,
        "{redirected} redirect events, but only {moved} endpoints moved"
    );
    assert_eq!(
        placement(&developer, &app, &settled).await,
        before,
        "settled sessions stay where they are"
    );

    for client in settled.into_iter().chain(newcomers) {
        client.stop().await;
    }
    for mut node in workers.into_iter().chain([main]) {
        node.signal(nix::sys::signal::Signal::SIGTERM);
        node.wait_exit(Duration::from_secs(20)).await.unwrap();
    }
    database.drop().await;
}
