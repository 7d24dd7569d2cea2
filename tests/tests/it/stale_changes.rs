//! No silent staleness: an Operations node that never received a change notification still
//! brings the change to its endpoints, from the application's change-log number.
//!
//! Two `kaa-node` processes in ZooKeeper share one PostgreSQL database: a Control node and an
//! Operations node serving an SDK endpoint. The Operations node is frozen (SIGSTOP) until its
//! ZooKeeper session expires, so Control announces a configuration activation without it, as a
//! paused VM or a long stall would make it; then it resumes with its cached metadata one change
//! behind. Its periodic change-log check must notice and push the new configuration, within a
//! bound the test prints. The node's notification counter shows the activation never reached
//! it, and `kaa_catalog_reloads_total{cause="periodic_check"}` that the check caught it up.
//! Last, an SDK naming an unknown token is refused from the node's negative cache.

use std::time::{Duration, Instant};

use kaa_sdk::client::{Event, KaaClient};
use kaa_tests::api::{expect, new_application};
use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::node::NodeBuilder;
use nix::sys::signal::Signal;
use serde_json::json;

use crate::support::{activate_interval, endpoint_config, read_avro_long, wait_event};
use crate::unique;

const PASSWORD: &str = "stale-changes-1";

/// The Operations node's change-log check interval in this test (30 s by default).
const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// How long after it resumes the node may take to bring the missed change to its endpoint: one
/// check interval, plus the resync and the SDK's round trip, with room for a loaded machine.
const CATCH_UP_BOUND: Duration = Duration::from_secs(12);

fn interval_of(event: &Event) -> Option<i64> {
    match event {
        Event::Configuration(body) => Some(read_avro_long(body)),
        _ => None,
    }
}

#[tokio::test]
async fn a_change_whose_notification_a_node_missed_reaches_its_endpoints_within_the_check_interval()
{
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("postgresql");
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let chroot = format!("/{}", unique("stale"));
    let node = |id: &str| {
        NodeBuilder::cluster_member(&chroot, id, PASSWORD)
            .set("sql.url", &database.url)
            .set("endpoint_store.backend", "sql")
            .set("endpoint_store.url", &database.url)
    };
    let mut worker = node("stale-worker")
        .set("control.enabled", false)
        .set(
            "metadata_cache.change_check_interval",
            format!("{}s", CHECK_INTERVAL.as_secs()),
        )
        .spawn()
        .unwrap();
    let mut control = node("stale-control")
        .set("operations.enabled", false)
        .spawn()
        .unwrap();
    for node in [&mut worker, &mut control] {
        node.wait_for("/ready", 200, Duration::from_secs(60))
            .await
            .unwrap();
    }
    control.wait_operations(1, Duration::from_secs(20)).await;

    let base = format!("http://{}", control.admin);
    let (developer, app) = new_application(&base, PASSWORD, "fleet", "meters").await;
    expect(
        &developer
            .post(
                &format!("{app}/schemas/configuration"),
                json!({ "name": "config", "schema": {"type": "record", "name": "MeterConfig", "fields": [{"name": "interval", "type": "int"}]} }),
            )
            .await,
        201,
    );
    let groups = developer.get(&format!("{app}/groups")).await;
    let all = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
    activate_interval(&developer, &app, &all, 1).await;
    let sdk = developer
        .post(
            &format!("{app}/sdk-profiles"),
            json!({ "name": "v1", "configuration_version": 1 }),
        )
        .await;
    expect(&sdk, 201);
    let sdk_token = sdk.body["sdk_token"].as_str().unwrap().to_owned();

    // The endpoint's only Operations node is the worker.
    let state = tempfile::tempdir().unwrap();
    let mut client = KaaClient::start(endpoint_config(
        &[&worker],
        &sdk_token,
        "meter-1",
        state.path(),
    ))
    .unwrap();
    let first = wait_event(
        &mut client,
        Duration::from_secs(30),
        "the configuration",
        interval_of,
    )
    .await;
    assert_eq!(first, 1);
    let notifications_before = worker.metric("kaa_internode_notifications_total").await;

    // Frozen until ZooKeeper drops it: Control announces the activation without it.
    worker.signal(Signal::SIGSTOP);
    let paused = Instant::now();
    control.wait_operations(0, Duration::from_secs(30)).await;
    activate_interval(&developer, &app, &all, 2).await;
    let activated = Instant::now();
    println!(
        "worker frozen; out of Control's view after {:.1} s; configuration 2 activated without it",
        (activated - paused).as_secs_f64()
    );
    worker.signal(Signal::SIGCONT);
    let resumed = Instant::now();

    let got = wait_event(
        &mut client,
        CATCH_UP_BOUND,
        "the missed configuration",
        |e| interval_of(e).filter(|interval| *interval == 2),
    )
    .await;
    let reached = Instant::now();
    assert_eq!(got, 2);
    println!(
        "missed change reached the endpoint {:.2} s after the worker resumed ({:.2} s after the activation; bound {} s, check interval {} s)",
        (reached - resumed).as_secs_f64(),
        (reached - activated).as_secs_f64(),
        CATCH_UP_BOUND.as_secs(),
        CHECK_INTERVAL.as_secs()
    );
    assert_eq!(
        worker.metric("kaa_internode_notifications_total").await,
        notifications_before,
        "the activation's notification never reached the worker"
    );
    let caught_up = worker
        .metric(r#"kaa_catalog_reloads_total{cause="periodic_check"}"#)
        .await;
    assert!(caught_up >= 1.0, "periodic-check reloads: {caught_up}");

    // Caught up to the store's number: the next change arrives in order, no gap.
    activate_interval(&developer, &app, &all, 3).await;
    let next = wait_event(&mut client, CATCH_UP_BOUND, "the next configuration", |e| {
        interval_of(e).filter(|interval| *interval == 3)
    })
    .await;
    assert_eq!(next, 3);
    assert_eq!(
        worker
            .metric(r#"kaa_catalog_reloads_total{cause="gap"}"#)
            .await,
        0.0,
        "the change after the catch-up is the next number"
    );

    // A wrong SDK token, tried again and again, reads the metadata store once per TTL.
    let junk_state = tempfile::tempdir().unwrap();
    let junk = KaaClient::start(endpoint_config(
        &[&worker],
        "no-such-sdk-token",
        "meter-junk",
        junk_state.path(),
    ))
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let hits = loop {
        let hits = worker
            .metric("kaa_catalog_unknown_sdk_token_hits_total")
            .await;
        if hits >= 2.0 || Instant::now() > deadline {
            break hits;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("unknown SDK token refused from the negative cache {hits} times");
    assert!(hits >= 2.0, "negative-cache hits: {hits}");
    junk.stop().await;

    client.stop().await;
    for node in [&worker, &control] {
        node.signal(Signal::SIGTERM);
    }
    for node in [&mut worker, &mut control] {
        node.wait_exit(Duration::from_secs(20)).await.unwrap();
    }
    database.drop().await;
}
