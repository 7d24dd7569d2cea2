//! Fault: the Control leader. Control-only `kaa-node` processes in ZooKeeper share a PostgreSQL
//! metadata database; one of them leads and serves the admin API.
//!
//! Checked: a standby answers admin requests with 503 `not_leader` and the leader's admin URL in
//! `X-Kaa-Leader` (and in its body), creating nothing; and with admins writing continuously
//! (several tasks, following `X-Kaa-Leader`) while the leader is killed with SIGKILL, a standby
//! takes over, no request hangs or gets anything but 2xx, 503 `not_leader` or no answer from the
//! dead node, and every write that got a 2xx is there afterwards, read through the new leader.
//! The gap (the longest time without an acknowledged write) is printed.

use std::time::{Duration, Instant};

use kaa_tests::api::ApiClient;
use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::faults_metadata_outage::{AdminWriter, Outcome, listed_ids, missing, quantile, tally};
use crate::unique;

const PASSWORD: &str = "control-leader-1";

/// How long an admin request may take.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// Control-only nodes `ids` under `chroot` sharing the metadata database `sql`; returns them once
/// all are ready and agree on a leader, with the leader's index.
async fn control_cluster(chroot: &str, ids: &[&str], sql: &str) -> (Vec<Node>, usize) {
    let mut nodes: Vec<Node> = ids
        .iter()
        .map(|id| {
            NodeBuilder::cluster_member(chroot, id, PASSWORD)
                .set("operations.enabled", false)
                .set("bootstrap.enabled", false)
                .set("sql.url", sql)
                .set("endpoint_store.backend", "sql")
                .set("endpoint_store.url", "sqlite://{data_dir}/endpoints.db")
                .spawn()
                .unwrap()
        })
        .collect();
    for node in &mut nodes {
        node.wait_for("/ready", 200, Duration::from_secs(60))
            .await
            .unwrap();
    }
    let leader = wait_leader(&nodes, Duration::from_secs(20)).await;
    let index = ids.iter().position(|id| *id == leader).unwrap();
    (nodes, index)
}

/// Waits until every node of `nodes` names the same leader, and that node says it leads.
async fn wait_leader(nodes: &[Node], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let mut views = Vec::new();
        for node in nodes {
            views.push(node.get_json("/cluster").await.unwrap_or(Value::Null));
        }
        let leader = views[0]["leader"].as_str().map(str::to_owned);
        let agreed = views
            .iter()
            .all(|v| v["leader"].as_str() == leader.as_deref());
        let leads = views
            .iter()
            .any(|v| v["this_node_leads"] == true && v["node"].as_str() == leader.as_deref());
        if let Some(leader) = leader
            && agreed
            && leads
        {
            return leader;
        }
        assert!(Instant::now() < deadline, "no agreed leader: {views:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn base(node: &Node) -> String {
    format!("http://{}", node.admin)
}

fn tenant_body(name: &str) -> Value {
    json!({ "name": name })
}

#[tokio::test]
async fn a_standby_control_answers_503_not_leader_naming_the_leader() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("postgresql");
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let chroot = format!("/{}", unique("standby"));
    let (nodes, leader) = control_cluster(&chroot, &["lead-a", "lead-b"], &database.url).await;
    let standby = &nodes[1 - leader];
    let leader_url = base(&nodes[leader]);
    let admin = ApiClient::login(&leader_url, "admin", PASSWORD).await;

    let http = reqwest::Client::new();
    let started = Instant::now();
    let read = http
        .get(format!("{}/api/v1/tenants", base(standby)))
        .bearer_auth(admin.token().unwrap())
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let header = read
        .headers()
        .get("X-Kaa-Leader")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = read.status().as_u16();
    let body: Value = read.json().await.unwrap();
    println!(
        "standby {} answered GET /api/v1/tenants with {status} {} in {} ms, X-Kaa-Leader: {header:?} \
         (leader {leader_url})",
        standby.admin,
        body["error"],
        took.as_millis()
    );
    assert_eq!((status, body["error"].as_str()), (503, Some("not_leader")));
    assert_eq!(header.as_deref(), Some(leader_url.as_str()));
    assert_eq!(body["leader"]["admin_url"], json!(leader_url));

    // A write sent to the standby is refused the same way, and creates nothing.
    let write = http
        .post(format!("{}/api/v1/tenants", base(standby)))
        .bearer_auth(admin.token().unwrap())
        .json(&tenant_body("sent-to-the-standby"))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status().as_u16(), 503);
    assert_eq!(
        write
            .headers()
            .get("X-Kaa-Leader")
            .map(|v| v.to_str().unwrap()),
        Some(leader_url.as_str())
    );
    let tenants = admin.get("/api/v1/tenants?limit=500").await;
    assert!(
        !tenants.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "sent-to-the-standby"),
        "the standby wrote: {:#}",
        tenants.body
    );
    drop(nodes);
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_writes_through_a_leader_kill_lose_nothing_acknowledged() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("postgresql");
    let began = Instant::now();
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let chroot = format!("/{}", unique("leader_kill"));
    let ids = ["kill-a", "kill-b", "kill-c"];
    let (mut nodes, leader) = control_cluster(&chroot, &ids, &database.url).await;
    let bases: Vec<String> = nodes.iter().map(base).collect();
    let admin = ApiClient::login(&bases[leader], "admin", PASSWORD).await;
    println!(
        "three Control nodes ready, {} leads, after {:.1} s",
        ids[leader],
        began.elapsed().as_secs_f64()
    );

    // Writers start at the leader; after a refusal they follow X-Kaa-Leader or try the next node.
    let stop = CancellationToken::new();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let mut order = bases.clone();
            order.rotate_left(leader);
            tokio::spawn(
                AdminWriter {
                    bases: order,
                    token: admin.token().unwrap().to_owned(),
                    path: "/api/v1/tenants".into(),
                    prefix: format!("tenant-{i}"),
                    body: tenant_body,
                    limit: ANSWER_LIMIT,
                }
                .run(stop.clone()),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    nodes[leader].kill9();
    let killed = Instant::now();
    let survivors: Vec<Node> = {
        let dead = nodes.remove(leader);
        drop(dead);
        nodes
    };
    let new_leader = wait_leader(&survivors, Duration::from_secs(20)).await;
    let elected = killed.elapsed();
    // Writes go on at the new leader for a while.
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.cancel();
    let mut outcomes: Vec<Vec<Outcome>> = Vec::new();
    for writer in writers {
        outcomes.push(writer.await.expect("writer"));
    }

    let all: Vec<&Outcome> = outcomes.iter().flatten().collect();
    let mut acknowledged: Vec<Instant> = all
        .iter()
        .filter(|o| o.acknowledged())
        .map(|o| o.answered())
        .collect();
    acknowledged.sort();
    let gap = acknowledged
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let first_after = acknowledged
        .iter()
        .find(|at| **at > killed)
        .map(|at| *at - killed);
    let mut took: Vec<Duration> = all.iter().map(|o| o.took).collect();
    println!(
        "leader {} killed (SIGKILL); {new_leader} led within {} ms (as its peers see it); first \
         acknowledged write {} ms after the kill; longest time without an acknowledged write \
         {} ms",
        ids[leader],
        elected.as_millis(),
        first_after.map_or("(none)".into(), |d| d.as_millis().to_string()),
        gap.as_millis()
    );
    println!(
        "admin writes: {:?}; answer times p50 {} ms, max {} ms",
        tally(all.iter().copied()),
        quantile(&mut took, 0.5).as_millis(),
        quantile(&mut took, 1.0).as_millis()
    );
    for outcome in &all {
        let fine = outcome.acknowledged()
            || (outcome.status == Some(503) && outcome.error.as_deref() == Some("not_leader"))
            || (outcome.status.is_none() && !outcome.hung);
        assert!(fine, "an admin write got {outcome:?}");
    }
    assert!(
        first_after.is_some(),
        "no write acknowledged after the kill"
    );

    let new_leader_node = &survivors[ids
        .iter()
        .filter(|id| **id != ids[leader])
        .position(|id| *id == new_leader)
        .unwrap()];
    let reader = ApiClient::login(&base(new_leader_node), "admin", PASSWORD).await;
    let tenants = listed_ids(&reader, "/api/v1/tenants").await;
    let lost: Vec<&Outcome> = outcomes
        .iter()
        .flat_map(|writer| missing(writer, &tenants))
        .collect();
    let total = acknowledged.len();
    println!(
        "after: {} of {total} acknowledged writes present through the new leader; {:.1} s in all",
        total - lost.len(),
        began.elapsed().as_secs_f64()
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    drop(survivors);
    database.drop().await;
}
