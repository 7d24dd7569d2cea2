//! Memory bounds on decoded log records, against a real `kaa-node`: an endpoint whose log schema
//! is an array of nulls sends batches of a few bytes per record that would decode to hundreds of
//! megabytes (a null costs nothing on the wire and a JSON value in memory). The node refuses
//! each such batch (FAILURE, `APPENDER_INTERNAL_ERROR`, counted in `/metrics`) without growing,
//! the endpoint's session stays up, and another endpoint's ordinary records are still stored.

use std::time::Duration;

use kaa_idl::endpoint::sync::LogDeliveryErrorCode;
use kaa_sdk::client::Event;
use kaa_tests::api::{expect, new_application};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::json;

use crate::log_collection::{Deliveries, add_appender, client, owner_ids};
use crate::support::avro_long;

const PASSWORD: &str = "bounds-log-1";

/// A record of the `Nulls` schema: one block of `n` (> 0) nulls (each zero bytes), then the end.
fn nulls(n: i64) -> Vec<u8> {
    let mut out = avro_long(n);
    out.extend(avro_long(0));
    out
}

/// Resident memory of the node's process, bytes.
fn rss(node: &Node) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.pid())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        * 1024
}

/// The value of counter `name{reason="…"}` on the node's `/metrics` (0 when absent).
async fn refused(node: &Node, reason: &str) -> u64 {
    let text = node.get_text("/metrics").await;
    let prefix = format!("kaa_log_batches_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn records_that_decode_too_large_are_refused_and_the_node_stays_small() {
    let started = std::time::Instant::now();
    let files = tempfile::tempdir().unwrap();
    let node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.file_appender_root", files.path().display())
        .start()
        .await;
    let base = format!("http://{}", node.admin);
    let (developer, app) = new_application(&base, PASSWORD, "hostile", "nulls").await;
    expect(
        &developer
            .post(
                &format!("{app}/schemas/log"),
                json!({"name": "nulls", "schema": {"type": "record", "name": "Nulls", "fields": [
                    {"name": "nulls", "type": {"type": "array", "items": "null"}}]}}),
            )
            .await,
        201,
    );
    let sdk = developer
        .post(
            &format!("{app}/sdk-profiles"),
            json!({"name": "v1", "log_version": 1}),
        )
        .await;
    expect(&sdk, 201);
    let sdk_token = sdk.body["sdk_token"].as_str().unwrap().to_owned();
    add_appender(
        &developer,
        &app,
        json!({"name": "file", "type": "file", "confirm_delivery": true,
               "settings": {"path": "nulls.log", "max_file_bytes": 10_000_000}}),
    )
    .await;
    let (tenant_id, app_id) = owner_ids(&developer, &app).await;
    let rss_before = rss(&node);
    println!(
        "node and application ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 256 records of 10,000 nulls: 4 bytes each on the wire; ~720 KB each decoded, under the
    // record limit (1 MiB), so the batch limit (16 MiB) is what refuses them.
    let hostile_state = tempfile::tempdir().unwrap();
    let mut hostile = client(&[&node], &sdk_token, hostile_state.path());
    let record = nulls(10_000);
    for _ in 0..256 {
        hostile.log(record.clone()).unwrap();
    }
    let mut failures = 0;
    let mut disconnected = Vec::new();
    let watch = tokio::time::Instant::now() + Duration::from_secs(8);
    while let Ok(event) = tokio::time::timeout_at(watch, hostile.next_event()).await {
        match event.expect("client stopped") {
            Event::LogsFailed { code, .. } => {
                assert_eq!(code, Some(LogDeliveryErrorCode::AppenderInternalError));
                failures += 1;
            }
            Event::LogsDelivered { .. } => panic!("a batch decoding to ~180 MB was stored"),
            Event::Disconnected(reason) => disconnected.push(reason),
            _ => {}
        }
        if failures >= 3 {
            break;
        }
    }
    let rss_after = rss(&node);
    let count = refused(&node, "decoded_too_large").await;
    println!(
        "batch of 256 records x {} bytes on the wire (~180 MB decoded): {failures} refusals seen \
         by the endpoint, {count} counted by the node; node RSS {} MB before, {} MB after",
        record.len(),
        rss_before / 1_000_000,
        rss_after / 1_000_000
    );
    assert!(
        failures >= 3,
        "the endpoint retries and is refused each time"
    );
    assert!(count >= 3, "refusals counted: {count}");
    assert!(
        disconnected.is_empty(),
        "the session stays up: {disconnected:?}"
    );
    assert!(
        rss_after < rss_before + 100_000_000,
        "the node grew by {} MB",
        (rss_after.saturating_sub(rss_before)) / 1_000_000
    );
    hostile.stop().await;

    // Ordinary records of the same schema are still stored, by another endpoint of the app.
    let plain_state = tempfile::tempdir().unwrap();
    let mut plain = client(&[&node], &sdk_token, plain_state.path());
    for n in 1..=10 {
        plain.log(nulls(n)).unwrap();
    }
    let mut deliveries = Deliveries::default();
    deliveries
        .until_acked(&mut plain, 10, Duration::from_secs(20), |_| {})
        .await;
    let stored = std::fs::read_to_string(
        files
            .path()
            .join(&tenant_id)
            .join(&app_id)
            .join("nulls.log"),
    )
    .unwrap();
    assert_eq!(stored.lines().count(), 10, "only the ordinary records");
    println!(
        "ordinary records stored; {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    plain.stop().await;
}
