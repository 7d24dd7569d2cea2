//! Shutdown drains the log appender queues, against a real `kaa-node`: an endpoint's records
//! are acknowledged as soon as an appender that does not confirm delivery has queued them, so a
//! node that stopped with a full queue would lose acknowledged records. Here the appender's
//! storage (a REST target) takes 150 ms per batch, the endpoint uploads 40 batches, the node gets
//! SIGTERM while most are still queued, and every acknowledged record must reach the storage
//! before the node exits, though the queue takes longer to write than `shutdown.phase_timeout`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kaa_sdk::client::{ClientConfig, KaaClient};
use kaa_sdk::logs::LogSettings;
use kaa_tests::node::NodeBuilder;
use kaa_tests::stubs::HttpStub;
use nix::sys::signal::Signal;
use serde_json::json;

use crate::log_collection::{Deliveries, PASSWORD, add_appender, logging_application, reading};
use crate::support::{ALLOW_LOOPBACK, endpoint_config};

/// The `seq` of every record the storage received.
fn stored(stub: &HttpStub) -> BTreeSet<i64> {
    stub.received()
        .iter()
        .filter_map(|request| request.body.as_array().cloned())
        .flatten()
        .filter_map(|document| document["event"]["seq"].as_i64())
        .collect()
}

#[tokio::test]
async fn every_acknowledged_record_reaches_a_slow_appender_before_the_node_exits() {
    let rest = HttpStub::start().await;
    rest.delay(Duration::from_millis(150));
    let mut node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.outbound_allow", ALLOW_LOOPBACK)
        .set("shutdown.phase_timeout", "2s")
        .set("log_collection.drain_timeout", "30s")
        // One batch at a time, so the queue takes longer to write than the phase timeout.
        .set("log_collection.writers_per_appender", "1")
        .start()
        .await;
    let (developer, app, sdk_token) = logging_application(&node).await;
    add_appender(
        &developer,
        &app,
        json!({"name": "rest", "type": "rest", "confirm_delivery": false,
               "settings": {"url": rest.url("/ingest"), "retries": 0}}),
    )
    .await;

    const RECORDS: i64 = 400;
    let state = tempfile::tempdir().unwrap();
    let mut endpoint = KaaClient::start(ClientConfig {
        timeout: Duration::from_secs(5),
        logs: LogSettings {
            batch_records: 10,
            buffer_records: 10_000,
            ..LogSettings::default()
        },
        ..endpoint_config(&[&node], &sdk_token, "meter", state.path())
    })
    .unwrap();
    for seq in 0..RECORDS {
        endpoint.log(reading(seq, "INFO")).unwrap();
    }
    let mut deliveries = Deliveries::default();
    deliveries
        .until_acked(
            &mut endpoint,
            RECORDS as u64,
            Duration::from_secs(30),
            |_| {},
        )
        .await;
    let before = stored(&rest).len();
    let queued = node.get_text("/metrics").await;
    let queued_batches = queued
        .lines()
        .find_map(|line| line.strip_prefix("kaa_log_appender_queued_batches "))
        .unwrap_or("?")
        .to_owned();
    endpoint.stop().await;

    let signalled = Instant::now();
    node.signal(Signal::SIGTERM);
    let status = node.wait_exit(Duration::from_secs(60)).await.unwrap();
    let drained_in = signalled.elapsed();
    let after = stored(&rest);
    println!(
        "{RECORDS} records acknowledged in batches of 10; at SIGTERM the storage had {before} \
         and {queued_batches} batches were queued; the node exited ({status}) after {:.1} s \
         with {} stored (phase timeout 2 s, 150 ms per batch)",
        drained_in.as_secs_f64(),
        after.len()
    );
    assert!(
        before < RECORDS as usize / 2,
        "the queue was still full at SIGTERM ({before} stored)"
    );
    assert!(status.success(), "clean exit: {status}");
    let missing: Vec<i64> = (0..RECORDS).filter(|seq| !after.contains(seq)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged records lost at shutdown: {} (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        drained_in > Duration::from_secs(2),
        "the drain outlasted the phase timeout"
    );
}
