//! Fault: a network partition. Two nodes share ZooKeeper and PostgreSQL (metadata and endpoint
//! store); node B (Operations and Bootstrap) runs in its own network namespace and serves an SDK
//! endpoint uploading logs to a confirm-delivery file appender, until the test cuts B's link
//! (packets dropped both ways, no errors) for longer than its ZooKeeper session. Checked: node A
//! and its Bootstrap drop B within a bounded time; the endpoint fails over to A and every record
//! is acknowledged there; a change made while B is cut off (a second appender) reaches B as soon
//! as the link heals, without waiting for the periodic change check; B registers again, A lists
//! and offers it, and a new endpoint is served by B with the new appender; every acknowledged
//! record is in one of the nodes' files (at least once). The times are printed.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kaa_sdk::bootstrap::fetch_servers;
use kaa_sdk::channel::Security;
use kaa_sdk::client::{BootstrapServer, ClientConfig, Event, KaaClient};
use kaa_sdk::logs::LogSettings;
use kaa_tests::api::expect;
use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::netns::Netns;
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::{Value, json};

use crate::log_collection::{
    Deliveries, PASSWORD, add_appender, logging_application, owner_ids, reading,
};
use crate::support::connected_on;
use crate::unique;

/// Records the first endpoint has acknowledged by B before the cut.
const BEFORE: i64 = 2_000;
/// Records it logs just before the cut: some are in flight when the link goes.
const DURING: i64 = 2_000;
/// Records each endpoint logs after the link is back.
const AFTER: i64 = 1_000;
/// The file of the appender added while B is cut off.
const COPY: &str = "copy.log";
/// The least the link stays down, however quickly the rest of the cluster reacts.
const MIN_PARTITION: Duration = Duration::from_secs(10);
/// The endpoints' Kaatcp keepalive: a client pings every half of it and takes a server silent for
/// its network timeout (5 s) after a ping for dead, so a cut is noticed within 10 s.
const KEEP_ALIVE: u16 = 10;
/// The most any step may take before the test fails.
const BOUND: Duration = Duration::from_secs(30);

fn bootstrap_at(ip: Ipv4Addr, node: &Node) -> BootstrapServer {
    BootstrapServer {
        address: format!("{ip}:{}", node.port("bootstrap.tcp_port")),
        http_address: None,
        public_key: None,
    }
}

fn endpoint(
    bootstraps: &[BootstrapServer],
    sdk_token: &str,
    access_token: &str,
    state: &Path,
) -> KaaClient {
    KaaClient::start(ClientConfig {
        access_token: access_token.into(),
        timeout: Duration::from_secs(5),
        retry_delay: Duration::from_millis(200),
        keep_alive: KEEP_ALIVE,
        logs: LogSettings {
            buffer_records: 100_000,
            ..LogSettings::default()
        },
        ..ClientConfig::new(bootstraps.to_vec(), sdk_token, state)
    })
    .unwrap()
}

/// Whether the `/cluster` view lists `id` among its Operations nodes.
fn lists_operations(view: &Value, id: &str) -> bool {
    view["operations"]
        .as_array()
        .is_some_and(|nodes| nodes.iter().any(|node| node["id"] == id))
}

/// Whether the Bootstrap at `address` offers an Operations server on `ip`; `None` if it does
/// not answer.
async fn offers(address: &str, sdk_token: &str, ip: Ipv4Addr) -> Option<bool> {
    let servers = fetch_servers(address, Security::Plain, sdk_token, Duration::from_secs(3))
        .await
        .ok()?;
    Some(servers.iter().any(|server| server.host == ip.to_string()))
}

/// Polls until A's view and A's Bootstrap both list B (`present`) or both no longer do; returns
/// how long each took.
async fn until_listed(
    admin: &Node,
    bootstrap: &str,
    sdk_token: &str,
    b_ip: Ipv4Addr,
    present: bool,
) -> (Duration, Duration) {
    let started = Instant::now();
    let (mut view, mut offered) = (None, None);
    while view.is_none() || offered.is_none() {
        assert!(
            started.elapsed() < BOUND,
            "node A's view (after {view:?}) and Bootstrap (after {offered:?}) do not show B {} within {BOUND:?}",
            if present { "again" } else { "gone" }
        );
        if view.is_none()
            && let Some(cluster) = admin.get_json("/cluster").await
            && lists_operations(&cluster, "node-b") == present
        {
            view = Some(started.elapsed());
        }
        if offered.is_none() && offers(bootstrap, sdk_token, b_ip).await == Some(present) {
            offered = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (view.unwrap(), offered.unwrap())
}

/// The `seq`s of every record in file appender file `file` under `roots`, per endpoint key hash
/// (base64) and node root, with how often each was stored.
fn stored(
    roots: &[&Path],
    tenant: &str,
    app: &str,
    file: &str,
) -> BTreeMap<String, Vec<BTreeMap<i64, usize>>> {
    let mut by_endpoint: BTreeMap<String, Vec<BTreeMap<i64, usize>>> = BTreeMap::new();
    for (index, root) in roots.iter().enumerate() {
        let file = root.join(tenant).join(app).join(file);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).expect("a JSON line");
            let key = record["header"]["endpointKeyHash"]
                .as_str()
                .expect("the endpoint's key hash")
                .to_owned();
            let seq = record["event"]["seq"].as_i64().expect("a seq");
            let per_root = by_endpoint
                .entry(key)
                .or_insert_with(|| vec![BTreeMap::new(); roots.len()]);
            *per_root[index].entry(seq).or_default() += 1;
        }
    }
    by_endpoint
}

/// Checks that `0..expected` were all stored for `endpoint` and nothing else; returns the records
/// stored per node root and the duplicates.
#[track_caller]
fn complete(
    stored: &BTreeMap<String, Vec<BTreeMap<i64, usize>>>,
    endpoint: &KaaClient,
    expected: i64,
) -> (Vec<usize>, usize) {
    let key = STANDARD.encode(endpoint.key_hash());
    let per_root = stored.get(&key).expect("records of the endpoint stored");
    let mut all: BTreeMap<i64, usize> = BTreeMap::new();
    for counts in per_root {
        for (seq, n) in counts {
            *all.entry(*seq).or_default() += n;
        }
    }
    let lost: Vec<i64> = (0..expected).filter(|s| !all.contains_key(s)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        all.keys().all(|seq| (0..expected).contains(seq)),
        "records never logged were stored"
    );
    (
        per_root.iter().map(|c| c.values().sum()).collect(),
        all.values().map(|n| n - 1).sum(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_by_a_partition_leaves_the_cluster_and_rejoins_when_the_link_heals() {
    let started = Instant::now();
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("zookeeper");
    infra::ensure_up("postgresql");
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let chroot = format!("/{}", unique("partition"));
    let net = Netns::create().expect("a network namespace (the test runs as root)");
    // B reaches ZooKeeper and PostgreSQL through relays on the host's side of its link.
    let zookeeper = net.relay(&infra::zookeeper()).await.unwrap();
    let sql_server = database
        .url
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(server, _)| server.to_owned())
        .expect("host:port in the database URL");
    let sql = net.relay(&sql_server).await.unwrap();
    let inside_url = database.url.replace(&sql_server, &sql.addr.to_string());
    let (files_a, files_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let member = |id: &str, control: bool, url: &str, files: &Path| {
        NodeBuilder::cluster_member(&chroot, id, PASSWORD)
            .set("control.enabled", control)
            .set("sql.url", url)
            .set("endpoint_store.backend", "sql")
            .set("endpoint_store.url", url)
            .set("operations.file_appender_root", files.display())
    };
    let mut a = net
        .outside(member("node-a", true, &database.url, files_a.path()))
        .spawn()
        .unwrap();
    let mut b = net
        .spawn_inside(
            member("node-b", false, &inside_url, files_b.path())
                .set("zookeeper.connect", zookeeper.addr)
                // Only a catch-up on rejoining, not the periodic check, can bring B up to date
                // within the test.
                .set("metadata_cache.change_check_interval", "10m"),
        )
        .unwrap();
    for node in [&mut a, &mut b] {
        node.wait_for("/ready", 200, Duration::from_secs(60))
            .await
            .unwrap();
    }
    for node in [&a, &b] {
        node.wait_operations(2, BOUND).await;
    }
    let ready = started.elapsed();

    let (developer, app, sdk_token) = logging_application(&a).await;
    let (tenant_id, app_id) = owner_ids(&developer, &app).await;
    add_appender(
        &developer,
        &app,
        json!({"name": "file", "type": "file", "confirm_delivery": true,
               "settings": {"path": "readings.log", "max_file_bytes": 100_000_000}}),
    )
    .await;
    let bootstraps = [
        bootstrap_at(net.host_ip, &a),
        bootstrap_at(net.inside_ip, &b),
    ];
    let a_bootstrap = bootstraps[0].address.clone();
    let on_a = format!("{}:{}", net.host_ip, a.port("operations.tcp_port"));
    let on_b = format!("{}:{}", net.inside_ip, b.port("operations.tcp_port"));

    // The first endpoint uploads to B.
    let (mut first, _first_state) = connected_on(&on_b, |state| {
        endpoint(&bootstraps, &sdk_token, "meter-1", state)
    })
    .await;
    for seq in 0..BEFORE {
        first.log(reading(seq, "INFO")).unwrap();
    }
    let mut deliveries = Deliveries::default();
    deliveries
        .until_acked(&mut first, BEFORE as u64, BOUND, |_| {})
        .await;
    for seq in BEFORE..BEFORE + DURING {
        first.log(reading(seq, "INFO")).unwrap();
    }

    // The cut.
    net.cut().unwrap();
    let cut = Instant::now();
    let dropped = tokio::join!(
        until_listed(&a, &a_bootstrap, &sdk_token, net.inside_ip, false),
        async {
            // The endpoint moves to A and everything it logged is acknowledged there.
            let mut moved = None;
            while moved.is_none() || deliveries.acked < (BEFORE + DURING) as u64 {
                let event = tokio::time::timeout(BOUND, first.next_event())
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "after the cut: on {moved:?}, {} of {} acknowledged, failures {:?}",
                            deliveries.acked,
                            BEFORE + DURING,
                            deliveries.failures
                        )
                    })
                    .expect("client stopped");
                deliveries.see(&event);
                if let Event::Connected(server) = &event {
                    moved = Some((server.clone(), cut.elapsed()));
                }
            }
            (moved.unwrap(), cut.elapsed())
        }
    );
    let ((view_dropped, bootstrap_dropped), ((server, reconnected), all_acked)) = dropped;
    assert_eq!(server, on_a, "the endpoint's session after the cut");
    let key = URL_SAFE_NO_PAD.encode(first.key_hash());
    let record = developer.get(&format!("{app}/endpoints/{key}")).await;
    expect(&record, 200);
    assert_eq!(record.body["node_id"], "node-a");
    let failures_during = deliveries.failures.clone();
    // A change B cannot hear of: a second appender, writing to another file.
    add_appender(
        &developer,
        &app,
        json!({"name": "copy", "type": "file", "confirm_delivery": true,
               "settings": {"path": COPY, "max_file_bytes": 100_000_000}}),
    )
    .await;
    if let Some(rest) = MIN_PARTITION.checked_sub(cut.elapsed()) {
        tokio::time::sleep(rest).await;
    }

    // The heal: B registers again, A lists and offers it, and B's own view has both nodes.
    net.heal().unwrap();
    let partition = cut.elapsed();
    let (view_back, bootstrap_back) =
        until_listed(&a, &a_bootstrap, &sdk_token, net.inside_ip, true).await;
    b.wait_operations(2, BOUND).await;

    // B serves a new endpoint; the first one goes on uploading to A.
    let (mut second, _second_state) = connected_on(&on_b, |state| {
        endpoint(&bootstraps, &sdk_token, "meter-2", state)
    })
    .await;
    for seq in 0..AFTER {
        second.log(reading(seq, "INFO")).unwrap();
    }
    let mut second_deliveries = Deliveries::default();
    second_deliveries
        .until_acked(&mut second, AFTER as u64, BOUND, |_| {})
        .await;
    let key = URL_SAFE_NO_PAD.encode(second.key_hash());
    let record = developer.get(&format!("{app}/endpoints/{key}")).await;
    expect(&record, 200);
    assert_eq!(record.body["node_id"], "node-b");
    let total = BEFORE + DURING + AFTER;
    for seq in BEFORE + DURING..total {
        first.log(reading(seq, "INFO")).unwrap();
    }
    deliveries
        .until_acked(&mut first, total as u64, BOUND, |_| {})
        .await;

    // Every acknowledged record is in A's or B's file.
    let roots = [files_a.path(), files_b.path()];
    let files = stored(&roots, &tenant_id, &app_id, "readings.log");
    let (first_per_node, first_duplicates) = complete(&files, &first, total);
    let (second_per_node, second_duplicates) = complete(&files, &second, AFTER);
    // B applied the change made while it was cut off before it served the new endpoint.
    let copies = stored(&roots, &tenant_id, &app_id, COPY);
    let (copied_per_node, _) = complete(&copies, &second, AFTER);
    let caught_up = b
        .get_text("/metrics")
        .await
        .lines()
        .find_map(|line| line.strip_prefix(r#"kaa_catalog_reloads_total{cause="periodic_check"} "#))
        .map(str::to_owned)
        .unwrap_or_default();
    assert_eq!(
        copied_per_node[1] as i64, AFTER,
        "copies of the second endpoint's records by B"
    );
    assert_eq!(
        second_per_node[0], 0,
        "none of the second endpoint's records is in A's file"
    );

    println!(
        "partition of node B ({on_b}) for {:.1}s: A's view dropped B after {:.1}s, A's Bootstrap \
         after {:.1}s; B's endpoint reconnected to A after {:.1}s and had all {} records \
         acknowledged {:.1}s after the cut (refusals and timeouts meanwhile {failures_during:?}); \
         healed: A's view listed B again after {:.1}s, its Bootstrap after {:.1}s; B caught up on \
         the appender added meanwhile (catch-up reloads {caught_up}) and served a new endpoint \
         ({AFTER} of {AFTER} acknowledged, {AFTER} copied by the new appender); stored: first endpoint {total} of {total} \
         (A {}, B {}, duplicates {first_duplicates}), second {AFTER} of {AFTER} (B {}, duplicates \
         {second_duplicates}), lost 0; nodes ready after {:.0}s, test wall time {:.0}s",
        partition.as_secs_f64(),
        view_dropped.as_secs_f64(),
        bootstrap_dropped.as_secs_f64(),
        reconnected.as_secs_f64(),
        BEFORE + DURING,
        all_acked.as_secs_f64(),
        view_back.as_secs_f64(),
        bootstrap_back.as_secs_f64(),
        first_per_node[0],
        first_per_node[1],
        second_per_node[1],
        ready.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );

    first.stop().await;
    second.stop().await;
    for node in [&mut b, &mut a] {
        node.signal(nix::sys::signal::Signal::SIGTERM);
        node.wait_exit(Duration::from_secs(20)).await.unwrap();
    }
    database.drop().await;
}
