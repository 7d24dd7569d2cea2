//! Log collection end to end: SDK endpoints upload log records to real `kaa-node` processes,
//! whose log appenders write them to real Cassandra, MongoDB, a file and an HTTP endpoint.
//! Every record the endpoint saw acknowledged is stored; records the server refused are kept by
//! the endpoint and stored once the storage is back (at least once: duplicates are counted and
//! printed, losses fail the test). Appenders write in their tenant's keyspace and database
//! (`kaa_logs_<tenant>`) and under the node's file appender root; the test servers are on
//! loopback, which the nodes allow explicitly.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::TryStreamExt;
use kaa_idl::endpoint::sync::LogDeliveryErrorCode;
use kaa_model::appender::log_namespace;
use kaa_sdk::client::{ClientConfig, Event, KaaClient};
use kaa_sdk::logs::LogSettings;
use kaa_tests::api::{ApiClient, expect, new_application};
use kaa_tests::infra::{self, PrivateCassandra, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use kaa_tests::stubs::HttpStub;
use serde_json::{Value, json};

use crate::support::{ALLOW_LOOPBACK, avro_long, connected_on, endpoint_config};
use crate::unique;

pub(crate) const PASSWORD: &str = "log-collection-1";

/// The log schema of the tests' endpoints.
fn reading_schema() -> Value {
    json!({"type": "record", "name": "Reading", "fields": [
        {"name": "seq", "type": "long"},
        {"name": "level", "type": "string"}]})
}

/// Avro binary of a `Reading`: a long, then a length-prefixed string.
pub(crate) fn reading(seq: i64, level: &str) -> Vec<u8> {
    let mut out = avro_long(seq);
    out.extend(avro_long(level.len() as i64));
    out.extend_from_slice(level.as_bytes());
    out
}

/// An application with log schema v1 and an SDK profile pinning it; returns the developer, the
/// application path and the SDK token.
pub(crate) async fn logging_application(node: &Node) -> (ApiClient, String, String) {
    let base = format!("http://{}", node.admin);
    let (developer, app) = new_application(&base, PASSWORD, "plant", "meters").await;
    expect(
        &developer
            .post(
                &format!("{app}/schemas/log"),
                json!({ "name": "reading", "schema": reading_schema() }),
            )
            .await,
        201,
    );
    let sdk = developer
        .post(
            &format!("{app}/sdk-profiles"),
            json!({ "name": "v1", "log_version": 1 }),
        )
        .await;
    expect(&sdk, 201);
    let token = sdk.body["sdk_token"].as_str().unwrap().to_owned();
    (developer, app, token)
}

/// The tenant id and application id of application `app` (its API path).
pub(crate) async fn owner_ids(developer: &ApiClient, app: &str) -> (String, String) {
    let view = developer.get(app).await;
    expect(&view, 200);
    let id = |key: &str| view.body[key].as_str().unwrap().to_owned();
    (id("tenant_id"), id("id"))
}

/// Drops a tenant's log keyspace.
async fn drop_keyspace(contact_point: &str, keyspace: &str) {
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(contact_point)
        .build()
        .await
        .unwrap();
    let statement = format!("DROP KEYSPACE IF EXISTS {keyspace}");
    if let Err(error) = session.query_unpaged(statement, &[]).await {
        eprintln!("could not drop test keyspace {keyspace}: {error}");
    }
}

pub(crate) async fn add_appender(developer: &ApiClient, app: &str, body: Value) {
    expect(
        &developer.post(&format!("{app}/log-appenders"), body).await,
        201,
    );
}

pub(crate) fn client(servers: &[&Node], sdk_token: &str, state: &std::path::Path) -> KaaClient {
    KaaClient::start(ClientConfig {
        timeout: Duration::from_secs(5),
        logs: LogSettings {
            buffer_records: 100_000,
            ..LogSettings::default()
        },
        ..endpoint_config(servers, sdk_token, "meter", state)
    })
    .unwrap()
}

/// What an endpoint saw of its log uploads.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    /// Highest record id acknowledged (batches are acknowledged in order).
    pub(crate) acked: u64,
    /// Refused batches by error code.
    pub(crate) failures: BTreeMap<String, usize>,
    /// Sessions that ended or could not start (`Error` and `Disconnected` events).
    pub(crate) interruptions: usize,
    /// When the first and the last refusal arrived.
    first_failure: Option<Instant>,
    last_failure: Option<Instant>,
}

impl Deliveries {
    /// Takes one event into account.
    pub(crate) fn see(&mut self, event: &Event) {
        match event {
            Event::LogsDelivered { last, .. } => self.acked = self.acked.max(*last),
            Event::LogsFailed { code, .. } => {
                *self.failures.entry(format!("{code:?}")).or_default() += 1;
                self.first_failure.get_or_insert_with(Instant::now);
                self.last_failure = Some(Instant::now());
            }
            Event::Error(_) | Event::Disconnected(_) => self.interruptions += 1,
            _ => {}
        }
    }

    /// Follows the client's events until `acked` reaches `target` or `within` passes; calls
    /// `progress` after each acknowledgement.
    pub(crate) async fn until_acked(
        &mut self,
        client: &mut KaaClient,
        target: u64,
        within: Duration,
        mut progress: impl FnMut(u64),
    ) {
        let deadline = tokio::time::Instant::now() + within;
        while self.acked < target {
            let event = tokio::time::timeout_at(deadline, client.next_event())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "only {} of {target} records acknowledged in {within:?}; failures {:?}",
                        self.acked, self.failures
                    )
                })
                .expect("client stopped");
            let before = self.acked;
            self.see(&event);
            if self.acked > before {
                progress(self.acked);
            }
        }
    }
}

/// Logs ten records (`seq` counting on from `next_seq`) every 100 ms for `span`, following the
/// client's events into `deliveries`; returns the SUCCESS statuses heard meanwhile.
pub(crate) async fn produce(
    endpoint: &mut KaaClient,
    deliveries: &mut Deliveries,
    next_seq: &mut i64,
    span: Duration,
) -> usize {
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let until = Instant::now() + span;
    let mut acks = 0;
    while Instant::now() < until {
        tokio::select! {
            _ = ticks.tick() => {
                for _ in 0..10 {
                    endpoint.log(reading(*next_seq, "INFO")).unwrap();
                    *next_seq += 1;
                }
            }
            event = endpoint.next_event() => {
                let event = event.expect("client stopped");
                if matches!(event, Event::LogsDelivered { .. }) {
                    acks += 1;
                }
                deliveries.see(&event);
            }
        }
    }
    acks
}

/// What an endpoint's steady upload through an outage of its appender's storage showed.
pub(crate) struct Outage {
    /// How long stopping and starting the storage took.
    pub(crate) stopped_in: Duration,
    pub(crate) restarted_in: Duration,
    /// Records acknowledged when the storage was stopped (none more while it was down).
    pub(crate) acked_when_stopped: u64,
    /// Batches answered FAILURE from the stop until the storage was back.
    pub(crate) refused_while_down: usize,
    /// Records acknowledged 5 s after the storage was back.
    pub(crate) acked_after_return: u64,
    /// From the storage's return until every record was acknowledged.
    pub(crate) caught_up: Duration,
}

/// Uploads 100 records/s (`produce`) through an outage of the appender's storage: 5 s, then
/// `stop`, `outage` with it down, `start`, 5 s more, then until every record is acknowledged (at
/// most `catch_up`). Asserts that no batch got SUCCESS while the storage was down and that the
/// outage was reported as a connection error.
pub(crate) async fn upload_through_outage(
    endpoint: &mut KaaClient,
    deliveries: &mut Deliveries,
    next_seq: &mut i64,
    outage: Duration,
    (stop, start): (impl FnOnce(), impl FnOnce()),
    catch_up: Duration,
) -> Outage {
    produce(endpoint, deliveries, next_seq, Duration::from_secs(5)).await;
    assert!(
        deliveries.acked > 0,
        "records were stored before the outage"
    );
    let stopping = Instant::now();
    tokio::task::block_in_place(stop);
    let stopped_in = stopping.elapsed();
    // Statuses of batches written just before the stop may still be on their way.
    produce(endpoint, deliveries, next_seq, Duration::from_secs(1)).await;
    let acked_when_stopped = deliveries.acked;
    let refused_before: usize = deliveries.failures.values().sum();
    let acks_while_down = produce(endpoint, deliveries, next_seq, outage).await;
    assert_eq!(acks_while_down, 0, "SUCCESS while the storage was stopped");
    assert_eq!(deliveries.acked, acked_when_stopped);
    assert!(
        deliveries.failures.contains_key(&format!(
            "{:?}",
            Some(LogDeliveryErrorCode::RemoteConnectionError)
        )),
        "the outage was reported as a connection error: {:?}",
        deliveries.failures
    );
    let refused_while_down = deliveries.failures.values().sum::<usize>() - refused_before;
    let restarting = Instant::now();
    tokio::task::block_in_place(start);
    let restarted_in = restarting.elapsed();
    let restarted = Instant::now();
    produce(endpoint, deliveries, next_seq, Duration::from_secs(5)).await;
    let acked_after_return = deliveries.acked;
    deliveries
        .until_acked(endpoint, *next_seq as u64, catch_up, |_| {})
        .await;
    Outage {
        stopped_in,
        restarted_in,
        acked_when_stopped,
        refused_while_down,
        acked_after_return,
        caught_up: restarted.elapsed(),
    }
}

/// Every `seq` in a list of stored records, with how often each was stored.
pub(crate) fn tally(seqs: impl IntoIterator<Item = i64>) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for seq in seqs {
        *counts.entry(seq).or_default() += 1;
    }
    counts
}

/// Asserts that every seq in `0..expected` was stored and none other; returns the duplicates.
#[track_caller]
pub(crate) fn check_complete(what: &str, counts: &BTreeMap<i64, usize>, expected: i64) -> usize {
    let stored: BTreeSet<i64> = counts.keys().copied().collect();
    let wanted: BTreeSet<i64> = (0..expected).collect();
    let lost: Vec<&i64> = wanted.difference(&stored).take(10).collect();
    assert!(
        lost.is_empty(),
        "{what}: {} records lost, e.g. {lost:?}",
        wanted.difference(&stored).count()
    );
    assert_eq!(stored, wanted, "{what}: unexpected records");
    counts.values().map(|n| n - 1).sum()
}

pub(crate) async fn cassandra_seqs(contact_point: &str, table: &str) -> Vec<i64> {
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(contact_point)
        .build()
        .await
        .unwrap();
    let mut pager = session
        .query_iter(format!("SELECT seq FROM {table}"), &[])
        .await
        .unwrap()
        .rows_stream::<(Option<String>,)>()
        .unwrap();
    let mut seqs = Vec::new();
    while let Some((seq,)) = pager.try_next().await.unwrap() {
        seqs.push(
            seq.expect("seq column set")
                .parse()
                .expect("seq is a number"),
        );
    }
    seqs
}

#[tokio::test]
async fn each_appender_type_stores_every_acknowledged_record() {
    infra::ensure_up("cassandra");
    infra::ensure_up("mongodb");
    let files = tempfile::tempdir().unwrap();
    let rest = HttpStub::start().await;
    // The REST target refuses at first: nothing may be acknowledged until it takes the records.
    rest.answer(503);

    let mut node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.outbound_allow", ALLOW_LOOPBACK)
        .set("operations.file_appender_root", files.path().display())
        .start()
        .await;
    let (developer, app, sdk_token) = logging_application(&node).await;
    let (tenant_id, app_id) = owner_ids(&developer, &app).await;
    let namespace = log_namespace(&tenant_id);
    let log_file = files
        .path()
        .join(&tenant_id)
        .join(&app_id)
        .join("readings.log");
    add_appender(
        &developer,
        &app,
        json!({"name": "cassandra", "type": "cassandra", "confirm_delivery": true,
               "settings": {"table": "readings",
                            "contact_points": [infra::cassandra()],
                            "columns": [{"name": "seq", "source": "record.seq"},
                                        {"name": "level", "source": "record.level"},
                                        {"name": "endpoint", "source": "header.KEYHASH"},
                                        {"name": "received_ms", "source": "header.TIMESTAMP"}]}}),
    )
    .await;
    add_appender(
        &developer,
        &app,
        json!({"name": "mongo", "type": "mongodb", "confirm_delivery": true,
               "header_fields": ["KEYHASH", "LSVERSION"],
               "settings": {"collection": "readings", "url": infra::mongodb()}}),
    )
    .await;
    add_appender(
        &developer,
        &app,
        json!({"name": "file", "type": "file", "confirm_delivery": true,
               "settings": {"path": "readings.log", "max_file_bytes": 1_000_000}}),
    )
    .await;
    add_appender(
        &developer,
        &app,
        json!({"name": "rest", "type": "rest", "confirm_delivery": true,
               "settings": {"url": rest.url("/ingest"), "retries": 0}}),
    )
    .await;

    let state = tempfile::tempdir().unwrap();
    let mut endpoint = client(&[&node], &sdk_token, state.path());
    const RECORDS: i64 = 1000;
    for seq in 0..RECORDS {
        let level = if seq % 10 == 0 { "WARN" } else { "INFO" };
        endpoint.log(reading(seq, level)).unwrap();
    }
    let mut deliveries = Deliveries::default();
    let refused = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), endpoint.next_event())
            .await
            .expect("a delivery status")
            .expect("client stopped");
        deliveries.see(&event);
        assert_eq!(
            deliveries.acked, 0,
            "acknowledged while an appender refuses"
        );
        if let Event::LogsFailed { code, .. } = event {
            break code;
        }
    };
    assert_eq!(refused, Some(LogDeliveryErrorCode::RemoteInternalError));
    rest.answer(200);
    deliveries
        .until_acked(
            &mut endpoint,
            RECORDS as u64,
            Duration::from_secs(60),
            |_| {},
        )
        .await;
    let key_hash = STANDARD.encode(endpoint.key_hash());

    // Cassandra: typed header columns, record fields as text.
    let rows = cassandra_seqs(&infra::cassandra(), &format!("{namespace}.readings")).await;
    let cassandra_duplicates = check_complete("cassandra", &tally(rows), RECORDS);

    // MongoDB: {header with the chosen fields, event}.
    let mongo = mongodb::Client::with_uri_str(infra::mongodb())
        .await
        .unwrap()
        .database(&namespace);
    let collection = mongo.collection::<mongodb::bson::Document>("readings");
    let documents: Vec<mongodb::bson::Document> = collection
        .find(mongodb::bson::doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let header = documents[0].get_document("header").unwrap();
    assert_eq!(header.get_str("endpointKeyHash").unwrap(), key_hash);
    assert_eq!(header.len(), 2, "only the chosen header fields: {header}");
    let mongo_seqs = documents
        .iter()
        .map(|d| d.get_document("event").unwrap().get_i64("seq").unwrap());
    let mongo_duplicates = check_complete("mongodb", &tally(mongo_seqs), RECORDS);

    // File: JSON lines with every header field by default.
    let lines: Vec<Value> = std::fs::read_to_string(&log_file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["header"]["endpointKeyHash"], key_hash);
    assert_eq!(lines[0]["header"]["logSchemaVersion"], 1);
    assert_eq!(lines[0]["header"]["headerVersion"], 1);
    assert!(lines[0]["header"]["applicationToken"].is_string());
    assert_eq!(lines[0]["event"], json!({"seq": 0, "level": "WARN"}));
    let file_seqs = lines.iter().map(|l| l["event"]["seq"].as_i64().unwrap());
    let file_duplicates = check_complete("file", &tally(file_seqs), RECORDS);

    // REST: only the batches it answered 2xx count as stored.
    let received = rest.received();
    let refused_posts = received.iter().filter(|r| r.status != 200).count();
    assert!(refused_posts >= 1);
    let rest_seqs: Vec<i64> = received
        .iter()
        .filter(|r| r.status == 200 && r.path == "/ingest")
        .flat_map(|r| r.body.as_array().cloned().unwrap_or_default())
        .map(|d| d["event"]["seq"].as_i64().unwrap())
        .collect();
    let rest_duplicates = check_complete("rest", &tally(rest_seqs), RECORDS);

    println!(
        "log appenders: {RECORDS} records acknowledged; duplicates from the refused batch: cassandra {cassandra_duplicates}, mongodb {mongo_duplicates}, file {file_duplicates}, rest {rest_duplicates}; REST posts refused {refused_posts}; failures {:?}",
        deliveries.failures
    );
    endpoint.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
    drop_keyspace(&infra::cassandra(), &namespace).await;
    mongo.drop().await.unwrap();
}

#[tokio::test]
async fn no_acknowledged_record_is_lost_when_the_operations_node_is_killed_mid_upload() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    infra::ensure_up("postgresql");
    infra::ensure_up("cassandra");
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    let keyspace = infra::fresh_keyspace().await;
    let chroot = format!("/{}", unique("logs"));
    let member = |id: &str, control: bool| {
        NodeBuilder::cluster_member(&chroot, id, PASSWORD)
            .set("control.enabled", control)
            .set("sql.url", &database.url)
            .set("endpoint_store.backend", "cassandra")
            .set("endpoint_store.keyspace", &keyspace.name)
            .set("endpoint_store.datacenter", "datacenter1")
            .set("endpoint_store.consistency", "quorum")
    };
    // The endpoint uploads to the Operations-only node until it is killed.
    let mut worker = member("node-a-ops", false).spawn().unwrap();
    let mut control = member("node-b-control", true).spawn().unwrap();
    for node in [&mut worker, &mut control] {
        node.wait_for("/ready", 200, Duration::from_secs(60))
            .await
            .unwrap();
    }
    for node in [&worker, &control] {
        node.wait_operations(2, Duration::from_secs(20)).await;
    }
    let (developer, app, sdk_token) = logging_application(&control).await;
    let namespace = log_namespace(&owner_ids(&developer, &app).await.0);
    // No contact points: the appender writes to the tenant's keyspace on the nodes' own
    // Cassandra (the operator's servers, which need no allow-list entry), replicated in the
    // store's datacenter at the store's consistency.
    add_appender(
        &developer,
        &app,
        json!({"name": "archive", "type": "cassandra", "confirm_delivery": true,
               "settings": {"table": "readings",
                            "columns": [{"name": "seq", "source": "record.seq"}]}}),
    )
    .await;

    const RECORDS: u64 = 100_000;
    const KILL_AT: u64 = 30_000;
    let to_worker = format!("127.0.0.1:{}", worker.port("operations.tcp_port"));
    let (mut endpoint, _state) = connected_on(&to_worker, |state| {
        client(&[&worker, &control], &sdk_token, state)
    })
    .await;
    let started = Instant::now();
    for seq in 0..RECORDS {
        endpoint.log(reading(seq as i64, "INFO")).unwrap();
    }
    let mut deliveries = Deliveries::default();
    deliveries
        .until_acked(&mut endpoint, KILL_AT, Duration::from_secs(120), |_| {})
        .await;
    let acked_before_kill = deliveries.acked;
    worker.kill9();
    let killed = Instant::now();
    deliveries
        .until_acked(&mut endpoint, RECORDS, Duration::from_secs(300), |_| {})
        .await;
    let elapsed = started.elapsed();
    let after_kill = killed.elapsed();

    let rows = cassandra_seqs(&infra::cassandra(), &format!("{namespace}.readings")).await;
    let stored = rows.len();
    let duplicates = check_complete("cassandra", &tally(rows), RECORDS as i64);
    // The appender wrote to the store's ring as the store does: in its datacenter.
    let replication = infra::keyspace_replication(&namespace).await;
    assert_eq!(
        replication.get("datacenter1").map(String::as_str),
        Some("1"),
        "{replication:?}"
    );
    println!(
        "kill -9 mid-upload: {RECORDS} records, {acked_before_kill} acknowledged by the killed node {to_worker}, \
         all {} acknowledged after {:.1}s ({:.1}s after the kill; {:.0} records/s overall); \
         rows stored {stored}, duplicates {duplicates}, lost 0; refusals {:?}",
        deliveries.acked,
        elapsed.as_secs_f64(),
        after_kill.as_secs_f64(),
        RECORDS as f64 / elapsed.as_secs_f64(),
        deliveries.failures,
    );
    endpoint.stop().await;
    control.signal(nix::sys::signal::Signal::SIGTERM);
    control.wait_exit(Duration::from_secs(20)).await.unwrap();
    keyspace.drop().await;
    drop_keyspace(&infra::cassandra(), &namespace).await;
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_cassandra_is_stopped_nothing_is_acknowledged_and_afterwards_everything_is_stored() {
    // A node of the test's own: stopping the shared one would fail other tests.
    let cassandra = PrivateCassandra::start();
    let mut node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("log_collection.delivery_wait", "3s")
        .set("operations.outbound_allow", ALLOW_LOOPBACK)
        .start()
        .await;
    let (developer, app, sdk_token) = logging_application(&node).await;
    let namespace = log_namespace(&owner_ids(&developer, &app).await.0);
    add_appender(
        &developer,
        &app,
        json!({"name": "archive", "type": "cassandra", "confirm_delivery": true,
               "settings": {"table": "readings",
                            "contact_points": [cassandra.contact_point()],
                            "columns": [{"name": "seq", "source": "record.seq"}]}}),
    )
    .await;
    let state = tempfile::tempdir().unwrap();
    let mut endpoint = client(&[&node], &sdk_token, state.path());

    // 100 records/s throughout: before the outage, for 30 s with Cassandra stopped, while it
    // starts again, and 5 s after.
    const OUTAGE: Duration = Duration::from_secs(30);
    let mut deliveries = Deliveries::default();
    let mut next_seq: i64 = 0;
    let outage = upload_through_outage(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        OUTAGE,
        (|| cassandra.down(), || cassandra.up()),
        Duration::from_secs(120),
    )
    .await;
    let total = next_seq as u64;
    let rows = cassandra_seqs(&cassandra.contact_point(), &format!("{namespace}.readings")).await;
    let stored = rows.len();
    let duplicates = check_complete("cassandra", &tally(rows), next_seq);
    println!(
        "Cassandra stopped for {:.1}s (stop took {:.1}s, restart {:.1}s): {total} records, \
         {} acknowledged before the stop, 0 while down, {} batches refused {:?}; \
         all acknowledged {:.1}s after Cassandra answered again (5 s of them still producing); rows {stored}, duplicates {duplicates}, lost 0",
        (OUTAGE + outage.restarted_in).as_secs_f64(),
        outage.stopped_in.as_secs_f64(),
        outage.restarted_in.as_secs_f64(),
        outage.acked_when_stopped,
        outage.refused_while_down,
        deliveries.failures,
        outage.caught_up.as_secs_f64(),
    );
    endpoint.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}
