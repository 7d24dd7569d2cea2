//! The CI smoke of `kaa-loadgen` (issue 16: benchmarks are not timed tests; CI only keeps the
//! load generator working). The binary runs as an operator runs it, each mode with 200
//! endpoints, against one real standalone node whose endpoint store is Cassandra and whose
//! application has the benchmark's shape (configuration, notification and log schemas, a
//! mandatory topic on the `all` group, a confirm-delivery Cassandra appender, one SDK profile);
//! every test asserts on the mode's result JSON: all sessions connected, none refused or lost,
//! and the mode's own figure there and consistent. `cassandra-baseline` writes to a fresh
//! keyspace of the infra Cassandra. Hold durations keep the run short; nothing here asserts a
//! speed. `mqtt-idle` is left out: it needs mosquitto, which only the benchmark's dependencies
//! install.
//!
//! The key pool lives under the workspace's target dir (`target/loadgen-smoke/keys.pool`) so
//! later runs reuse it: generating its 400 keys took 17 s on two cores (debug build, 2026-12-07).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kaa_model::appender::log_namespace;
use kaa_tests::api::{ApiClient, expect, id, mandatory_topic, new_application};
use kaa_tests::infra;
use kaa_tests::loadgen::logs::READING_SCHEMA;
use kaa_tests::node::{Node, NodeBuilder};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const PASSWORD: &str = "loadgen-smoke-1";
/// Endpoints of every run.
const ENDPOINTS: usize = 200;
/// Keys `0..ENDPOINTS` are the Kaatcp endpoints, the next [`ENDPOINTS`] the HTTP ones, so each
/// transport's `register` registers new endpoints.
const HTTP_FIRST: usize = ENDPOINTS;
/// How long one run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(120);

const CONFIGURATION_SCHEMA: &str = r#"{"type":"record","name":"Settings","fields":[{"name":"interval","type":"int"},{"name":"label","type":"string"}]}"#;
const NOTIFICATION_SCHEMA: &str =
    r#"{"type":"record","name":"Alert","fields":[{"name":"text","type":"string"}]}"#;

/// The key pool every run of this module shares, under the workspace's target dir.
fn pool() -> PathBuf {
    // target/<profile>/kaa-loadgen -> target/loadgen-smoke/keys.pool
    Path::new(env!("CARGO_BIN_EXE_kaa-loadgen"))
        .parent()
        .and_then(Path::parent)
        .expect("the target dir")
        .join("loadgen-smoke")
        .join("keys.pool")
}

/// Wall-clock milliseconds since the Unix epoch (the clock `listen` stamps arrivals with).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `kaa-loadgen` with `args`, its output captured.
fn loadgen<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kaa-loadgen"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Waits for a run to end; fails unless it exited 0. Returns the result JSON it printed.
async fn finished(run: Child, what: &str) -> Value {
    let output: Output = tokio::time::timeout(RUN_LIMIT, run.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kaa-loadgen {what} still running after {RUN_LIMIT:?}"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kaa-loadgen {what}: {}\nstderr: {stderr}\nstdout: {stdout}",
        output.status
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("kaa-loadgen {what} printed no JSON result ({e}): {stdout}"))
}

/// Asserts what every session mode reports: all [`ENDPOINTS`] connected, none refused, no
/// error (a session lost while held counts as one).
#[track_caller]
fn assert_all_connected(result: &Value, mode: &str) {
    assert_eq!(result["mode"], mode, "{result:#}");
    assert_eq!(result["endpoints"], ENDPOINTS, "{result:#}");
    assert_eq!(result["connected"], ENDPOINTS, "{result:#}");
    assert_eq!(result["refused"], json!({}), "{result:#}");
    assert_eq!(result["errors"], json!({}), "{result:#}");
}

/// Asserts a latency summary of `count` measurements (at least one): p50 ≤ p99 ≤ max, all there.
#[track_caller]
fn assert_latency(summary: &Value, count: Option<u64>) {
    let measured = summary["count"].as_u64().expect("a count");
    assert!(measured > 0, "{summary}");
    if let Some(count) = count {
        assert_eq!(measured, count, "{summary}");
    }
    let at = |key: &str| {
        summary[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key}: {summary}"))
    };
    assert!(
        at("p50_ms") <= at("p99_ms") && at("p99_ms") <= at("max_ms"),
        "{summary}"
    );
}

/// A positive number at `key` of `result`.
#[track_caller]
fn positive(result: &Value, key: &str) -> f64 {
    let value = result[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}: {result:#}"));
    assert!(value > 0.0, "{key} is {value}: {result:#}");
    value
}

/// Rows of `table` (`keyspace.table`).
async fn count_rows(session: &scylla::client::session::Session, table: &str) -> u64 {
    let rows = session
        .query_unpaged(format!("SELECT COUNT(*) FROM {table}"), &[])
        .await
        .unwrap_or_else(|e| panic!("counting {table}: {e}"))
        .into_rows_result()
        .expect("rows");
    let (count,): (i64,) = rows.single_row().expect("one count");
    count as u64
}

async fn cassandra_session() -> scylla::client::session::Session {
    scylla::client::session_builder::SessionBuilder::new()
        .known_node(infra::cassandra())
        .build()
        .await
        .unwrap_or_else(|e| panic!("{}", infra::unreachable("cassandra", e)))
}

/// The application the benchmark makes, on `node`: schemas, an active configuration, a mandatory
/// topic on `all`, a confirm-delivery Cassandra appender, an SDK profile.
struct Application {
    developer: ApiClient,
    path: String,
    configurations: String,
    topic: String,
    sdk_token: String,
    log_keyspace: String,
}

impl Application {
    async fn create(node: &Node) -> Self {
        let (developer, path) = new_application(
            &format!("http://{}", node.admin),
            PASSWORD,
            "smoke",
            "fleet",
        )
        .await;
        for (kind, name, schema) in [
            ("configuration", "settings", CONFIGURATION_SCHEMA),
            ("notification", "alert", NOTIFICATION_SCHEMA),
            ("log", "reading", READING_SCHEMA),
        ] {
            let schema: Value = serde_json::from_str(schema).unwrap();
            expect(
                &developer
                    .post(
                        &format!("{path}/schemas/{kind}"),
                        json!({"name": name, "schema": schema}),
                    )
                    .await,
                201,
            );
        }
        let groups = developer.get(&format!("{path}/groups")).await;
        expect(&groups, 200);
        let all = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
        let configurations = format!("{path}/groups/{all}/configurations");
        let topic = mandatory_topic(&developer, &path, &all, "alerts").await;
        // No contact points: the table goes to the tenant's keyspace on the node's own Cassandra.
        expect(
            &developer
                .post(
                    &format!("{path}/log-appenders"),
                    json!({"name": "readings", "type": "cassandra", "confirm_delivery": true,
                           "settings": {"table": "readings", "columns": [
                               {"name": "seq", "source": "record.seq"},
                               {"name": "endpoint", "source": "record.endpoint"},
                               {"name": "payload", "source": "record.payload"}]}}),
                )
                .await,
            201,
        );
        let profile = developer
            .post(
                &format!("{path}/sdk-profiles"),
                json!({"name": "smoke-v1", "configuration_version": 1,
                       "notification_version": 1, "log_version": 1}),
            )
            .await;
        expect(&profile, 201);
        let tenant = developer.get(&path).await.body["tenant_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let application = Self {
            sdk_token: profile.body["sdk_token"].as_str().unwrap().to_owned(),
            log_keyspace: log_namespace(&tenant),
            developer,
            path,
            configurations,
            topic,
        };
        application.activate_configuration(1).await;
        application
    }

    /// Activates a new configuration of the `all` group.
    async fn activate_configuration(&self, interval: i32) {
        let draft = self
            .developer
            .post(
                &self.configurations,
                json!({"schema_version": 1, "body": {"interval": interval, "label": "smoke"}}),
            )
            .await;
        expect(&draft, 201);
        let activate = format!("{}/{}/activate", self.configurations, id(&draft));
        expect(&self.developer.post(&activate, json!({})).await, 200);
    }

    /// Sends one notification on the mandatory topic.
    async fn notify(&self) {
        expect(
            &self
                .developer
                .post(
                    &format!("{}/topics/{}/notifications", self.path, self.topic),
                    json!({"body": {"text": "smoke"}, "ttl_seconds": 600}),
                )
                .await,
            201,
        );
    }
}

/// The arguments every session mode of a run against `node` takes: `--endpoints` [`ENDPOINTS`]
/// from key `first` of the pool, over `transport`.
fn session_args(node: &Node, app: &Application, first: usize, transport: &str) -> Vec<String> {
    [
        "--bootstrap",
        &format!("127.0.0.1:{}", node.port("bootstrap.tcp_port")),
        "--sdk-token",
        &app.sdk_token,
        "--pool",
        &pool().display().to_string(),
        "--first",
        &first.to_string(),
        "--endpoints",
        &ENDPOINTS.to_string(),
        "--transport",
        transport,
        "--quiet",
    ]
    .map(str::to_owned)
    .into()
}

/// Runs `mode` with the session arguments and `extra`; returns its result.
async fn run_mode(
    node: &Node,
    app: &Application,
    (mode, first, transport): (&str, usize, &str),
    extra: &[&str],
) -> Value {
    let started = Instant::now();
    let run = loadgen(
        [mode.to_owned()]
            .into_iter()
            .chain(session_args(node, app, first, transport))
            .chain(extra.iter().map(|&arg| arg.to_owned())),
    )
    .spawn()
    .unwrap();
    let result = finished(run, &format!("{mode} --transport {transport}")).await;
    println!(
        "{mode} ({transport}): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    result
}

/// Makes the pool hold the keys of both transports (the command only adds what the file lacks).
async fn ensure_pool() {
    let pool = pool();
    std::fs::create_dir_all(pool.parent().unwrap()).unwrap();
    let wanted = HTTP_FIRST + ENDPOINTS;
    let keys = finished(
        loadgen(["keys", "--pool", &pool.display().to_string()])
            .args(["--count", &wanted.to_string()])
            .spawn()
            .unwrap(),
        "keys",
    )
    .await;
    assert!(keys["after"].as_u64().unwrap() >= wanted as u64, "{keys}");
    println!(
        "key pool {}: {} keys generated in {} s",
        pool.display(),
        keys["generated"],
        keys["seconds"]
    );
}

/// A standalone node whose endpoint store is a fresh Cassandra keyspace, with the benchmark's
/// application, and the pool ready.
async fn node_with_application() -> (Node, Application, infra::FreshKeyspace) {
    infra::ensure_up("cassandra");
    ensure_pool().await;
    let keyspace = infra::fresh_keyspace().await;
    let started = Instant::now();
    // Built first (a no-op when up to date), so the line below tells building from starting.
    kaa_tests::node::binary();
    let built = started.elapsed();
    let node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("endpoint_store.backend", "cassandra")
        .set("endpoint_store.keyspace", &keyspace.name)
        .start()
        .await;
    let ready = started.elapsed();
    let app = Application::create(&node).await;
    println!(
        "kaa-node built in {:.1} s, ready {:.1} s later, application made in {:.1} s",
        built.as_secs_f64(),
        (ready - built).as_secs_f64(),
        (started.elapsed() - ready).as_secs_f64()
    );
    (node, app, keyspace)
}

/// Stops `node` and drops what it and its application wrote to Cassandra.
async fn clean_up(node: Node, app: Application, keyspace: infra::FreshKeyspace) {
    let _ = cassandra_session()
        .await
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", app.log_keyspace), &[])
        .await;
    node.signal(Signal::SIGTERM);
    keyspace.drop().await;
}

#[tokio::test]
async fn every_loadgen_mode_drives_200_endpoints_against_a_node_without_refusals_or_losses() {
    let test_started = Instant::now();
    let (node, app, keyspace) = node_with_application().await;
    println!(
        "key pool, node and application ready in {:.1} s",
        test_started.elapsed().as_secs_f64()
    );

    // Registration storms of new endpoints, over each transport.
    for (transport, first) in [("tcp", 0), ("http", HTTP_FIRST)] {
        let result = run_mode(&node, &app, ("register", first, transport), &[]).await;
        assert_all_connected(&result, "register");
        positive(&result, "completion_s");
        positive(&result, "registrations_per_s");
        assert_latency(&result["register"], Some(ENDPOINTS as u64));
    }

    // Idle sessions pinging every 2 s (keepalive 4 s) for 3 s: every one still open, and at least
    // as many pings as sessions (each pings within its first 2 s).
    let idle = run_mode(
        &node,
        &app,
        ("idle", 0, "tcp"),
        &["--keepalive", "4", "--duration", "3s"],
    )
    .await;
    assert_all_connected(&idle, "idle");
    assert_eq!(idle["open_at_end"], ENDPOINTS, "{idle:#}");
    assert_eq!(idle["lost"], 0, "{idle:#}");
    assert!(
        idle["pings"].as_u64().unwrap() >= ENDPOINTS as u64,
        "{idle:#}"
    );

    // Pings then configuration syncs, back to back, 2 s each; the endpoints hold the current
    // configuration, so every answer is NO_DELTA.
    let sync = run_mode(&node, &app, ("sync", 0, "tcp"), &["--duration", "2s"]).await;
    assert_all_connected(&sync, "sync");
    for phase in ["pings", "syncs"] {
        assert_latency(&sync[phase], None);
        positive(&sync[phase], "per_s");
    }
    assert_eq!(sync["syncs"]["deltas"], 0, "{sync:#}");
    positive(&sync, "ratio_syncs_to_pings");

    // The HTTP endpoints sync too: HTTP has no PINGREQ, so no ping phase and no ratio.
    let sync = run_mode(
        &node,
        &app,
        ("sync", HTTP_FIRST, "http"),
        &["--duration", "2s"],
    )
    .await;
    assert_all_connected(&sync, "sync");
    assert_latency(&sync["syncs"], None);
    positive(&sync["syncs"], "per_s");
    assert_eq!(sync["syncs"]["deltas"], 0, "{sync:#}");
    assert_eq!(sync["pings"], Value::Null, "{sync:#}");
    assert_eq!(sync["ratio_syncs_to_pings"], Value::Null, "{sync:#}");

    // Log batches of 10, one in flight per endpoint, for 3 s through the confirm-delivery
    // appender: every batch acknowledged, and every acknowledged record in the table.
    let logs = run_mode(
        &node,
        &app,
        ("logs", 0, "tcp"),
        &[
            "--batch",
            "10",
            "--rate",
            "0",
            "--confirm",
            "--duration",
            "3s",
        ],
    )
    .await;
    assert_all_connected(&logs, "logs");
    let acked = positive(&logs, "records_acked") as u64;
    positive(&logs, "acked_records_per_s");
    let batches = logs["batches_sent"].as_u64().unwrap();
    assert_eq!(logs["records_sent"], batches * 10, "{logs:#}");
    assert_eq!(logs["records_sent"], acked, "{logs:#}");
    assert_eq!(logs["failed_batches"], json!({}), "{logs:#}");
    assert_eq!(logs["records_failed"], 0, "{logs:#}");
    assert_eq!(logs["unanswered_batches"], 0, "{logs:#}");
    assert_eq!(logs["unexpected_statuses"], 0, "{logs:#}");
    assert_latency(&logs["ack_latency"], Some(batches));
    let cassandra = cassandra_session().await;
    let stored = count_rows(&cassandra, &format!("{}.readings", app.log_keyspace)).await;
    assert!(
        stored >= acked,
        "{stored} rows stored, {acked} acknowledged"
    );

    // Listening sessions: once all are open, one configuration activation and one notification
    // over REST reach every endpoint.
    let work = tempfile::tempdir().unwrap();
    let ready = work.path().join("listen.ready");
    let started = Instant::now();
    let mut listen = loadgen(
        ["listen".to_owned()]
            .into_iter()
            .chain(session_args(&node, &app, 0, "tcp")),
    )
    .args(["--duration", "8s", "--ready"])
    .arg(&ready)
    .spawn()
    .unwrap();
    while !ready.exists() {
        if let Some(status) = listen.try_wait().unwrap() {
            let output = listen.wait_with_output().await.unwrap();
            panic!(
                "kaa-loadgen listen exited ({status}) before its sessions were open: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(
            started.elapsed() < RUN_LIMIT,
            "kaa-loadgen listen: no sessions open after {RUN_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let configuration_sent = now_ms();
    app.activate_configuration(2).await;
    let notification_sent = now_ms();
    app.notify().await;
    let listened = finished(listen, "listen").await;
    println!("listen (tcp): {:.1} s", started.elapsed().as_secs_f64());
    assert_all_connected(&listened, "listen");
    assert_eq!(listened["open_at_end"], ENDPOINTS, "{listened:#}");
    assert_eq!(listened["lost"], 0, "{listened:#}");
    let counts = &listened["counts"];
    assert_eq!(
        counts["endpoints_with_configuration"], ENDPOINTS,
        "{counts}"
    );
    assert_eq!(counts["endpoints_with_notification"], ENDPOINTS, "{counts}");
    assert_eq!(counts["configuration"], ENDPOINTS, "{counts}");
    assert_eq!(counts["notification"], ENDPOINTS, "{counts}");
    for (kind, sent) in [
        ("configuration", configuration_sent),
        ("notification", notification_sent),
    ] {
        let mut last = sent;
        for push in listened["pushes"][kind].as_array().unwrap() {
            let arrived = push[1].as_u64().unwrap();
            assert!(
                arrived >= sent,
                "a {kind} push before the request that caused it ({sent}): {push}"
            );
            last = last.max(arrived);
        }
        println!(
            "the {kind} reached every endpoint {:.2} s after its request",
            (last - sent) as f64 / 1e3
        );
    }

    println!(
        "every mode against one node: whole test {:.1} s",
        test_started.elapsed().as_secs_f64()
    );
    clean_up(node, app, keyspace).await;
}

#[tokio::test]
async fn cassandra_baseline_writes_every_row_it_reports_into_a_fresh_keyspace() {
    infra::ensure_up("cassandra");
    let keyspace = infra::fresh_keyspace().await;
    let (rows, batch) = (640_u64, 32_u64);
    let started = Instant::now();
    let run = loadgen(["cassandra-baseline", "--contact", &infra::cassandra()])
        .args(["--keyspace", &keyspace.name, "--table", "readings"])
        .args(["--rows", &rows.to_string(), "--batch", &batch.to_string()])
        .args(["--concurrency", "2", "--endpoints", "20"])
        .spawn()
        .unwrap();
    let result = finished(run, "cassandra-baseline").await;
    let cassandra = cassandra_session().await;
    let stored = count_rows(&cassandra, &format!("{}.readings", keyspace.name)).await;
    keyspace.drop().await;
    println!(
        "cassandra-baseline: {rows} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(result["mode"], "cassandra-baseline", "{result:#}");
    assert_eq!(result["rows"], rows, "{result:#}");
    assert_eq!(result["errors"], json!({}), "{result:#}");
    positive(&result, "rows_per_s");
    assert_latency(&result["batch_latency"], Some(rows / batch));
    assert_eq!(stored, rows, "rows in the table: {result:#}");
}
