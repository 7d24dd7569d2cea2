//! Cluster coordination with real `kaa-node` processes and a real ZooKeeper: registration and
//! views, leader failover after `kill -9`, a dead Operations node leaving every view and the ring,
//! a ZooKeeper outage, and a duplicate node id.
//!
//! Each test runs its nodes under a chroot of its own, so tests do not see each other's nodes.
//! Nodes use SQLite storage: here only coordination is under test.

use std::time::{Duration, Instant};

use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::Value;

use crate::unique;

fn cluster_node(chroot: &str, id: &str, services: &[&str]) -> NodeBuilder {
    let mut builder = NodeBuilder::with_config("")
        .set("node.id", id)
        .set("zookeeper.connect", infra::zookeeper())
        .set("zookeeper.chroot", chroot)
        .set("zookeeper.session_timeout", "2s")
        .set("zookeeper.load_report_interval", "500ms")
        .set("sql.url", "sqlite://{data_dir}/metadata.db")
        .set("endpoint_store.backend", "sql")
        .set("endpoint_store.url", "sqlite://{data_dir}/endpoints.db");
    for service in ["control", "operations", "bootstrap"] {
        builder = builder.set(&format!("{service}.enabled"), services.contains(&service));
    }
    builder
}

/// Starts `ids.len()` nodes with all three services.
async fn start_cluster(chroot: &str, ids: &[&str]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for id in ids {
        let mut node = cluster_node(chroot, id, &["control", "operations", "bootstrap"])
            .spawn()
            .unwrap();
        node.wait_for("/health", 200, Duration::from_secs(20))
            .await
            .unwrap();
        nodes.push(node);
    }
    nodes
}

fn ids(view: &Value, section: &str) -> Vec<String> {
    let mut ids: Vec<String> = view[section]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Polls every live node's `/cluster` until `check` holds for all of them.
async fn wait_views(
    nodes: &[&Node],
    timeout: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = true;
        let mut last = Value::Null;
        for node in nodes {
            match node.get_json("/cluster").await {
                Some(view) if check(&view) => {}
                Some(view) => {
                    all = false;
                    last = view;
                }
                None => all = false,
            }
        }
        if all {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "{what}: not reached within {timeout:?}; last view: {last:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn three_nodes_register_see_each_other_and_agree_on_one_leader_and_the_ring() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("three"));
    let nodes = start_cluster(&chroot, &["a", "b", "c"]).await;
    let all = strings(&["a", "b", "c"]);
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_views(
        &refs,
        Duration::from_secs(15),
        "every node sees a, b, c with a leader",
        |v| {
            ids(v, "nodes") == all
                && ids(v, "operations") == all
                && ids(v, "bootstrap") == all
                && v["leader"].is_string()
        },
    )
    .await;

    let mut leaders = Vec::new();
    for node in &nodes {
        let view = node.get_json("/cluster").await.unwrap();
        assert_eq!(view["ring"], serde_json::json!(["a", "b", "c"]));
        if view["this_node_leads"] == true {
            leaders.push(view["node"].clone());
        }
        assert_eq!(
            view["leader"],
            nodes[0].get_json("/cluster").await.unwrap()["leader"],
            "all agree on the leader"
        );
    }
    assert_eq!(
        leaders.len(),
        1,
        "exactly one node acts as leader: {leaders:?}"
    );

    // Every node maps keys to the same owner.
    for key in ["endpoint-1", "endpoint-2", "user-42"] {
        let mut owners = Vec::new();
        for node in &nodes {
            owners.push(
                node.get_json(&format!("/cluster/owner?key={key}"))
                    .await
                    .unwrap()["owner"]
                    .clone(),
            );
        }
        assert!(
            owners.windows(2).all(|w| w[0] == w[1]),
            "owners of {key} differ: {owners:?}"
        );
    }
}

#[tokio::test]
async fn a_standby_leads_soon_after_the_leader_is_killed() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("failover"));
    let mut nodes = start_cluster(&chroot, &["a", "b", "c"]).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_views(&refs, Duration::from_secs(15), "a leader is elected", |v| {
        v["leader"].is_string()
    })
    .await;
    let leader = nodes[0].get_json("/cluster").await.unwrap()["leader"]
        .as_str()
        .unwrap()
        .to_owned();
    let index = ["a", "b", "c"].iter().position(|id| *id == leader).unwrap();

    nodes[index].kill9();
    let killed = Instant::now();
    let survivors: Vec<&Node> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, n)| n)
        .collect();
    let mut new_leader = None;
    while new_leader.is_none() {
        let mut acting = Vec::new();
        for node in &survivors {
            if let Some(view) = node.get_json("/cluster").await
                && view["this_node_leads"] == true
            {
                acting.push(view["node"].as_str().unwrap().to_owned());
            }
        }
        assert!(
            acting.len() <= 1,
            "two nodes act as leader at once: {acting:?}"
        );
        new_leader = acting.pop();
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "no new leader 15 s after kill -9"
        );
        if new_leader.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let failover = killed.elapsed();
    println!(
        "leader failover: {leader} killed, {} leads after {failover:?}",
        new_leader.as_deref().unwrap()
    );
    assert_ne!(new_leader.as_deref(), Some(leader.as_str()));
    wait_views(
        &survivors,
        Duration::from_secs(10),
        "survivors agree on the new leader",
        |v| v["leader"].as_str() == new_leader.as_deref(),
    )
    .await;
}

#[tokio::test]
async fn a_killed_operations_node_leaves_every_view_and_the_ring() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("opsgone"));
    let mut nodes = start_cluster(&chroot, &["a", "b", "c"]).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_views(&refs, Duration::from_secs(15), "ring of three", |v| {
        v["ring"].as_array().map(Vec::len) == Some(3)
    })
    .await;

    nodes[2].kill9();
    let survivors: Vec<&Node> = nodes[..2].iter().collect();
    let took = wait_views(&survivors, Duration::from_secs(15), "c is gone", |v| {
        ids(v, "nodes") == strings(&["a", "b"])
            && ids(v, "operations") == strings(&["a", "b"])
            && v["ring"] == serde_json::json!(["a", "b"])
    })
    .await;
    println!("dead operations node left every view after {took:?}");
    for i in 0..50 {
        let owner = survivors[0]
            .get_json(&format!("/cluster/owner?key=endpoint-{i}"))
            .await
            .unwrap();
        assert_ne!(owner["owner"], "c", "keys must not map to the dead node");
    }
}

#[tokio::test]
async fn nodes_survive_a_zookeeper_outage_and_register_again() {
    let _zk = ZOOKEEPER_LOCK.write().await;
    let chroot = format!("/{}", unique("outage"));
    let mut nodes = start_cluster(&chroot, &["a", "b", "c"]).await;
    let all = strings(&["a", "b", "c"]);
    {
        let refs: Vec<&Node> = nodes.iter().collect();
        wait_views(&refs, Duration::from_secs(15), "registered", |v| {
            ids(v, "nodes") == all
        })
        .await;
    }

    infra::infra("down", "zookeeper");
    let outage = Instant::now();
    let probe = std::process::Command::new("bash")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/infra.sh"),
            "status",
            "zookeeper",
        ])
        .output()
        .unwrap();
    assert!(
        !probe.status.success(),
        "zookeeper must really be down for this test"
    );
    // Alive but not ready while ZooKeeper is away.
    for node in &mut nodes {
        node.wait_for("/ready", 503, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(node.get_json("/health").await.is_some());
    }
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed())).await;
    infra::infra("up", "zookeeper");
    let restarted = Instant::now();

    for node in &mut nodes {
        assert!(
            node.is_running(),
            "a node crashed during the outage:\n{}",
            node.log()
        );
        node.wait_for("/ready", 200, Duration::from_secs(30))
            .await
            .unwrap();
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_views(
        &refs,
        Duration::from_secs(30),
        "registered again with a leader",
        |v| ids(v, "nodes") == all && ids(v, "operations") == all && v["leader"].is_string(),
    )
    .await;
    println!(
        "after a 10 s zookeeper outage, every node was registered again {:?} after the restart",
        restarted.elapsed()
    );
    for node in &nodes {
        assert!(
            node.log().contains("zookeeper"),
            "the outage shows in the log"
        );
    }
}

#[tokio::test]
async fn a_second_node_with_the_same_id_is_refused() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("dup"));
    let nodes = start_cluster(&chroot, &["twin"]).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_views(&refs, Duration::from_secs(15), "twin registered", |v| {
        ids(v, "nodes") == strings(&["twin"])
    })
    .await;

    let mut second = cluster_node(&chroot, "twin", &["operations"])
        .spawn()
        .unwrap();
    let status = second.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(!status.success(), "the duplicate must exit with an error");
    let log = second.log();
    assert!(
        log.contains("already registered"),
        "the refusal names the cause:\n{log}"
    );

    let view = nodes[0].get_json("/cluster").await.unwrap();
    assert_eq!(
        ids(&view, "nodes"),
        strings(&["twin"]),
        "the first node keeps its registration"
    );
}

/// Runs a console command on `node` over Thrift (`KaaNodeService.executeCommand`).
async fn console(node: &Node, line: &str) -> (bool, String) {
    use kaa_cluster::rpc::{ClientPool, ClientSettings, KaaNode, PeerAddr, fan_out};
    use kaa_idl::thrift::kaa_node::{CommandStatus, TKaaNodeServiceSyncClient};
    let security = kaa_tests::internode_tls::test_ca().security();
    let pool = ClientPool::<KaaNode>::new(ClientSettings::default(), security);
    let peer = PeerAddr {
        host: "127.0.0.1".into(),
        port: node.thrift.port(),
    };
    let line = line.to_owned();
    let (_, result) = fan_out(&pool, &[peer], move |client| client.execute_command(line))
        .await
        .remove(0);
    let result = result.expect("console call");
    (
        result.status == Some(CommandStatus::OK),
        result.message.unwrap_or_default(),
    )
}

#[tokio::test]
async fn the_leader_announces_changes_to_every_operations_node_and_standbys_refuse() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("announce"));
    let nodes = start_cluster(&chroot, &["a", "b", "c"]).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_views(
        &refs,
        Duration::from_secs(15),
        "three operations nodes and a leader",
        |v| ids(v, "operations").len() == 3 && v["leader"].is_string(),
    )
    .await;
    let leader_id = nodes[0].get_json("/cluster").await.unwrap()["leader"]
        .as_str()
        .unwrap()
        .to_owned();
    let leader = &nodes[["a", "b", "c"]
        .iter()
        .position(|id| *id == leader_id)
        .unwrap()];
    let standby = nodes.iter().find(|n| n.admin != leader.admin).unwrap();

    let (ok, message) = console(standby, "resync").await;
    assert!(!ok, "a standby must not announce: {message}");
    assert!(
        message.contains(&format!("the leader is {leader_id}")),
        "{message}"
    );

    let (ok, message) = console(leader, "resync").await;
    assert!(ok, "{message}");
    assert!(message.contains("3 operations node(s)"), "{message}");
    for node in &nodes {
        let started = Instant::now();
        loop {
            let (_, stats) = console(node, "stats").await;
            if stats.contains("notifications_received: 1\n") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no notification on {}: {stats}",
                node.admin
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
