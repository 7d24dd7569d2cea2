//! The device fleet (`kaa-fleet`, the three-host test's devices) against a real standalone
//! node whose endpoint store is Cassandra: 20 endpoints bootstrap with the node's public key,
//! log `kaa.fleet.Reading` records that a Cassandra appender stores with confirm delivery, stop
//! through the stop file after draining, and `kaa-fleet count --acked` finds every record the
//! fleet saw acknowledged in the table (and fails on a summary claiming records never sent); a
//! second run reuses the cached keys and stops on SIGTERM.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kaa_model::appender::log_namespace;
use kaa_tests::api::{expect, new_application};
use kaa_tests::fleet::record::READING_SCHEMA;
use kaa_tests::infra;
use kaa_tests::node::{Node, NodeBuilder};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const PASSWORD: &str = "fleet-devices-1";
const ENDPOINTS: usize = 20;

/// The events of a fleet's event file so far.
fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an event line is JSON"))
        .collect()
}

/// The endpoints that had an event of `kind`.
fn endpoints_with(events: &[Value], kind: &str) -> BTreeSet<u64> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .filter_map(|e| e["endpoint"].as_u64())
        .collect()
}

/// Starts `kaa-fleet run` of [`ENDPOINTS`] endpoints bootstrapping from `node`, state under
/// `work/state`, events to `work/<name>.jsonl`, summary to `work/<name>-summary.json`, stop
/// file `work/stop`.
fn start_fleet(node: &Node, sdk_token: &str, work: &Path, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kaa-fleet"))
        .arg("run")
        .args([
            "--bootstrap",
            &format!("127.0.0.1:{}", node.port("bootstrap.tcp_port")),
        ])
        .arg("--bootstrap-key")
        .arg(node.data_dir().join("keys/node.public"))
        .args(["--sdk-token", sdk_token])
        .args(["--endpoints", &ENDPOINTS.to_string()])
        .args(["--log-interval", "200ms", "--drain", "30s"])
        .arg("--state-dir")
        .arg(work.join("state"))
        .arg("--events")
        .arg(work.join(format!("{name}.jsonl")))
        .arg("--stop-file")
        .arg(work.join("stop"))
        .arg("--summary")
        .arg(work.join(format!("{name}-summary.json")))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits until every endpoint of the fleet writing `events_file` connected and had records
/// acknowledged.
async fn until_all_delivered(events_file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let seen = events(events_file);
        if endpoints_with(&seen, "connected").len() == ENDPOINTS
            && endpoints_with(&seen, "delivered").len() == ENDPOINTS
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not every endpoint connected and delivered: {:?}",
            seen.iter().rev().take(10).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for the fleet to drain and exit; returns its summary (checked against the summary
/// file `work/<name>-summary.json`) and its stderr.
async fn finished(fleet: Child, work: &Path, name: &str) -> (Value, String) {
    let output = tokio::time::timeout(Duration::from_secs(45), fleet.wait_with_output())
        .await
        .expect("the fleet stops after draining")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "kaa-fleet run: {:?}: {stderr}",
        output.status
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
    let file = std::fs::read(work.join(format!("{name}-summary.json"))).unwrap();
    let written: Value = serde_json::from_slice(&file).unwrap();
    assert_eq!(
        summary, written,
        "the summary file holds the printed summary"
    );
    assert_eq!(summary["endpoints"], ENDPOINTS);
    assert_eq!(summary["drained"], true, "{summary}");
    assert_eq!(summary["appended"], summary["acknowledged"], "{summary}");
    for (endpoint, ranges) in summary["acked_ranges"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(
            ranges[0][0], 0,
            "endpoint {endpoint} starts at seq 0: {ranges}"
        );
    }
    (summary, stderr)
}

#[tokio::test]
async fn every_record_the_fleet_saw_acknowledged_is_stored_in_cassandra() {
    let test_started = Instant::now();
    infra::ensure_up("cassandra");
    let keyspace = infra::fresh_keyspace().await;
    let node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("endpoint_store.backend", "cassandra")
        .set("endpoint_store.keyspace", &keyspace.name)
        .start()
        .await;
    let (developer, app) = new_application(
        &format!("http://{}", node.admin),
        PASSWORD,
        "fleet",
        "meters",
    )
    .await;
    let schema: Value = serde_json::from_str(READING_SCHEMA).unwrap();
    expect(
        &developer
            .post(
                &format!("{app}/schemas/log"),
                json!({"name": "reading", "schema": schema}),
            )
            .await,
        201,
    );
    let sdk = developer
        .post(
            &format!("{app}/sdk-profiles"),
            json!({"name": "fleet", "log_version": 1}),
        )
        .await;
    expect(&sdk, 201);
    let sdk_token = sdk.body["sdk_token"].as_str().unwrap().to_owned();
    // No contact points: the table goes to the tenant's keyspace on the node's own Cassandra.
    expect(
        &developer
            .post(
                &format!("{app}/log-appenders"),
                json!({"name": "readings", "type": "cassandra", "confirm_delivery": true,
                       "settings": {"table": "readings", "columns": [
                           {"name": "endpoint", "source": "record.endpoint"},
                           {"name": "seq", "source": "record.seq"}]}}),
            )
            .await,
        201,
    );
    let tenant_id = developer.get(&app).await.body["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let log_keyspace = log_namespace(&tenant_id);
    let work = tempfile::tempdir().unwrap();
    let file = |name: &str| work.path().join(name);

    let setup = test_started.elapsed();
    let started = Instant::now();
    let fleet = start_fleet(&node, &sdk_token, work.path(), "first");
    // Every endpoint connects and has records acknowledged; then a few more seconds of logs.
    until_all_delivered(&file("first.jsonl")).await;
    let all_delivering = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    std::fs::write(file("stop"), b"").unwrap();
    let (summary, stderr) = finished(fleet, work.path(), "first").await;
    assert!(stderr.contains("(20 made)"), "{stderr}");
    assert_eq!(summary["stopped_by"], "stop file");
    let acknowledged = summary["acknowledged"].as_u64().unwrap();
    assert!(acknowledged > 0, "{summary}");
    let operations = format!("127.0.0.1:{}", node.port("operations.tcp_port"));
    assert_eq!(
        summary["connected"],
        json!({ operations.clone(): ENDPOINTS })
    );

    let count = Command::new(env!("CARGO_BIN_EXE_kaa-fleet"))
        .arg("count")
        .args(["--cassandra", &infra::cassandra()])
        .args(["--keyspace", &log_keyspace, "--table", "readings"])
        .args(["--consistency", "quorum"])
        .arg("--acked")
        .arg(file("first-summary.json"))
        .output()
        .await
        .unwrap();
    let counted: Value = serde_json::from_slice(&count.stdout).unwrap_or_else(|e| {
        panic!(
            "kaa-fleet count printed no JSON ({e}): {}",
            String::from_utf8_lossy(&count.stderr)
        )
    });
    assert!(count.status.success(), "kaa-fleet count: {counted}");
    assert_eq!(counted["lost"], 0, "{counted}");
    assert_eq!(counted["acknowledged"], acknowledged);
    assert_eq!(counted["unreadable"], 0);
    assert!(counted["distinct"].as_u64().unwrap() >= acknowledged);
    // A summary claiming records that were never sent: they are lost, and the count fails.
    let appended = summary["appended"].as_i64().unwrap();
    std::fs::write(
        file("forged-summary.json"),
        json!({"acked_ranges": [[[0, appended + 99]]]}).to_string(),
    )
    .unwrap();
    let forged = Command::new(env!("CARGO_BIN_EXE_kaa-fleet"))
        .arg("count")
        .args(["--cassandra", &infra::cassandra()])
        .args(["--keyspace", &log_keyspace, "--table", "readings"])
        .arg("--acked")
        .arg(file("forged-summary.json"))
        .output()
        .await
        .unwrap();
    let lost: Value = serde_json::from_slice(&forged.stdout).unwrap();
    assert_eq!(forged.status.code(), Some(1), "{lost}");
    assert!(lost["lost"].as_u64().unwrap() >= 100, "{lost}");
    assert_eq!(lost["lost_examples"].as_array().unwrap().len(), 20);
    println!(
        "node and application ready in {:.1}s; fleet of {ENDPOINTS}: all delivering {:.1}s after start; {acknowledged} records acknowledged \
         in {} ms of appending (drain {} ms, {} failed then retried); table rows {}, distinct {}, \
         duplicates {}, lost 0",
        setup.as_secs_f64(),
        all_delivering.as_secs_f64(),
        summary["appending_ms"],
        summary["drain_ms"],
        summary["failed_then_retried"],
        counted["rows"],
        counted["distinct"],
        counted["duplicates"],
    );

    // Again with the cached keys (none made), fresh state (seqs from 0), stopped by SIGTERM.
    std::fs::remove_file(file("stop")).unwrap();
    let fleet = start_fleet(&node, &sdk_token, work.path(), "second");
    until_all_delivered(&file("second.jsonl")).await;
    kill(Pid::from_raw(fleet.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let (summary, stderr) = finished(fleet, work.path(), "second").await;
    assert!(stderr.contains("(0 made)"), "{stderr}");
    assert_eq!(summary["stopped_by"], "SIGTERM");
    assert_eq!(summary["connected"], json!({ operations: ENDPOINTS }));
    println!(
        "second run (cached keys, SIGTERM): {} records acknowledged; whole test {:.1}s",
        summary["acknowledged"],
        test_started.elapsed().as_secs_f64()
    );

    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(infra::cassandra())
        .build()
        .await
        .unwrap();
    let _ = session
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {log_keyspace}"), &[])
        .await;
    node.signal(Signal::SIGTERM);
    keyspace.drop().await;
}
