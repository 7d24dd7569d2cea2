//! Fault: the metadata database fails. A standalone `kaa-node` keeps its metadata on a PostgreSQL
//! of the test's own ([`PrivatePostgres`]) and its endpoint data in SQLite; the PostgreSQL is
//! stopped (`pg_ctl stop -m fast`) for 30 s, or in the second test frozen (SIGSTOP to each of its
//! processes: connections stay open and nothing answers) for 20 s, while admins write (tenants,
//! and endpoint groups of the application the endpoints use, each announced to Operations) and
//! SDK endpoints keep starting sessions and uploading log records to a file appender that
//! confirms delivery.
//!
//! Checked: every admin request gets an answer within the pool's wait for a connection (stopped)
//! or the node's call limit (frozen) and a margin, 2xx or 503 `storage_unavailable` (never a
//! 500, a 401 or a hang); every endpoint session and upload during the outage is served from
//! the Operations node's cache, which stops asking the database once it found it silent
//! (`kaa_metadata_store_unanswered`); once the server is back, admin writes succeed again, every
//! write that got a 2xx is listed, and every record an endpoint saw acknowledged is in the
//! appender's file.
//!
//! The admin writer ([`AdminWriter`]) is shared with `faults_control_leader`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaa_sdk::client::{Event, KaaClient};
use kaa_tests::api::{ApiClient, expect};
use kaa_tests::infra::{Frozen, PrivatePostgres};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::log_collection::{self, add_appender, logging_application, owner_ids, reading};
use crate::support::endpoint_config;

/// How long the metadata database stays down.
const OUTAGE: Duration = Duration::from_secs(30);

/// The longest an admin request may take while the database is down: the wait for a pooled
/// connection (`sql.connect_timeout`, 5 s by default, connecting included), or while it is
/// frozen the node's call limit ([`FROZEN_SQL_LIMITS`], 5 s), and a margin.
const ANSWER_LIMIT: Duration = Duration::from_secs(8);

/// How long one endpoint session may take to start and have its records acknowledged: the
/// syncs reading metadata as the database goes down wait for the pool (`sql.connect_timeout`,
/// 5 s) or the call limit (frozen, 5 s) before the node serves what it loaded last; from then on
/// the node does not ask the database until it answers a probe. A session caught in that first
/// wait may still reach the SDK's network timeout (10 s), when the SDK drops the connection and
/// starts again after its back-off (counted and printed as a reconnection); the margin is for a
/// loaded machine.
const SESSION_LIMIT: Duration = Duration::from_secs(20);

/// Records an endpoint logs in each session.
const RECORDS_PER_SESSION: i64 = 2;

/// What one admin write got.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// When it was sent.
    pub(crate) sent: Instant,
    /// How long the answer took (or the attempt, when none came).
    pub(crate) took: Duration,
    /// The HTTP status; `None` when no answer came (connection refused or cut, or no answer
    /// within the limit: see `hung`).
    pub(crate) status: Option<u16>,
    /// Whether the request was given up at the limit.
    pub(crate) hung: bool,
    /// The `error` code of an error answer.
    pub(crate) error: Option<String>,
    /// The created entity's id (2xx answers).
    pub(crate) id: Option<String>,
    /// The `X-Kaa-Leader` header of the answer.
    pub(crate) leader: Option<String>,
}

impl Outcome {
    /// Whether the write was acknowledged.
    pub(crate) fn acknowledged(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// When the answer came.
    pub(crate) fn answered(&self) -> Instant {
        self.sent + self.took
    }

    /// The status and error code, for tallies: `201`, `503 storage_unavailable`, `no answer`.
    pub(crate) fn kind(&self) -> String {
        match (self.status, &self.error) {
            (Some(status), Some(error)) => format!("{status} {error}"),
            (Some(status), None) => status.to_string(),
            (None, _) if self.hung => "hung".into(),
            (None, _) => "no answer".into(),
        }
    }
}

/// Creates entities one after another (`POST <path>` with `body(name)`, a new name each time)
/// as the user of `token`, until stopped. Writes go to the first of `bases` (admin URLs); after
/// a write that got no 2xx, the next goes to the node its answer named in `X-Kaa-Leader`, else
/// to the next base, after a short pause. Each request is given up after `limit`.
pub(crate) struct AdminWriter {
    /// Admin base URLs (`http://host:port`).
    pub(crate) bases: Vec<String>,
    /// The caller's bearer token.
    pub(crate) token: String,
    /// The collection written to, e.g. `/api/v1/tenants`.
    pub(crate) path: String,
    /// Names are `<prefix>-<n>`.
    pub(crate) prefix: String,
    /// The JSON body for a name.
    pub(crate) body: fn(&str) -> Value,
    /// How long a request may take.
    pub(crate) limit: Duration,
}

impl AdminWriter {
    /// Writes until `stop` is cancelled; every attempt's outcome, in order.
    pub(crate) async fn run(self, stop: CancellationToken) -> Vec<Outcome> {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        let mut outcomes = Vec::new();
        let mut current = 0;
        for n in 0.. {
            if stop.is_cancelled() {
                break;
            }
            let name = format!("{}-{n}", self.prefix);
            let outcome = self.write(&http, &self.bases[current], &name).await;
            if !outcome.acknowledged() {
                current = outcome
                    .leader
                    .as_ref()
                    .and_then(|leader| self.bases.iter().position(|b| b == leader))
                    .unwrap_or((current + 1) % self.bases.len());
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn write(&self, http: &reqwest::Client, base: &str, name: &str) -> Outcome {
        let sent = Instant::now();
        let request = http
            .post(format!("{base}{}", self.path))
            .bearer_auth(&self.token)
            .json(&(self.body)(name))
            .send();
        let mut outcome = Outcome {
            sent,
            took: Duration::ZERO,
            status: None,
            hung: false,
            error: None,
            id: None,
            leader: None,
        };
        let answer = tokio::time::timeout(self.limit, async {
            let response = request.await.ok()?;
            let status = response.status().as_u16();
            let leader = response
                .headers()
                .get("X-Kaa-Leader")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body: Value = response.json().await.unwrap_or(Value::Null);
            Some((status, leader, body))
        })
        .await;
        outcome.took = sent.elapsed();
        match answer {
            Err(_) => outcome.hung = true,
            Ok(None) => {}
            Ok(Some((status, leader, body))) => {
                outcome.status = Some(status);
                outcome.leader = leader;
                outcome.error = body["error"].as_str().map(str::to_owned);
                outcome.id = body["id"].as_str().map(str::to_owned);
            }
        }
        outcome
    }
}

/// The ids of every item of the paged list at `path`.
pub(crate) async fn listed_ids(client: &ApiClient, path: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut offset = 0;
    loop {
        let page = client
            .get(&format!("{path}?offset={offset}&limit=500"))
            .await;
        expect(&page, 200);
        for item in page.body["items"].as_array().expect("items") {
            ids.insert(item["id"].as_str().expect("id").to_owned());
        }
        match page.body["next_offset"].as_i64() {
            Some(next) => offset = next,
            None => return ids,
        }
    }
}

/// The 2xx writes among `outcomes` whose ids `listed` lacks.
pub(crate) fn missing<'a>(outcomes: &'a [Outcome], listed: &HashSet<String>) -> Vec<&'a Outcome> {
    outcomes
        .iter()
        .filter(|o| o.acknowledged())
        .filter(|o| o.id.as_ref().is_none_or(|id| !listed.contains(id)))
        .collect()
}

/// The `q`-quantile of `values` (sorted here), zero when empty.
pub(crate) fn quantile(values: &mut [Duration], q: f64) -> Duration {
    values.sort();
    if values.is_empty() {
        return Duration::ZERO;
    }
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// Outcomes by [`Outcome::kind`].
pub(crate) fn tally<'a>(
    outcomes: impl IntoIterator<Item = &'a Outcome>,
) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for outcome in outcomes {
        *kinds.entry(outcome.kind()).or_default() += 1;
    }
    kinds
}

/// One endpoint session: started, and its records acknowledged within [`SESSION_LIMIT`].
#[derive(Debug)]
struct Session {
    started: Instant,
    ended: Instant,
    /// Why it failed, if it did: records not acknowledged in time, or refused.
    failure: Option<String>,
    /// A connection the SDK lost or gave up on meanwhile (it connects again by itself), if any.
    interruption: Option<String>,
}

/// What an endpoint saw through the test.
#[derive(Debug, Default)]
struct EndpointRun {
    sessions: Vec<Session>,
    /// The `seq` of every record acknowledged.
    acknowledged: Vec<i64>,
}

/// An endpoint that starts a session, logs [`RECORDS_PER_SESSION`] records, waits for them to be
/// acknowledged and stops, again and again until `stop` is cancelled. A returning endpoint keeps
/// its state (keys, log buffer) in `state`; without one, each session is a new endpoint's,
/// registering. Records are numbered from `first_seq`.
async fn endpoint_sessions(
    node: Arc<Node>,
    sdk_token: String,
    state: Option<PathBuf>,
    first_seq: i64,
    stop: CancellationToken,
) -> EndpointRun {
    let mut run = EndpointRun::default();
    let mut seq_of_id: BTreeMap<u64, i64> = BTreeMap::new();
    let mut next_seq = first_seq;
    while !stop.is_cancelled() {
        let fresh = tempfile::tempdir().unwrap();
        let dir = state.clone().unwrap_or_else(|| fresh.path().to_owned());
        // The SDK's default network timeout (10 s), not the shorter one of log_collection.
        let mut client = KaaClient::start(endpoint_config(&[&node], &sdk_token, "meter", &dir))
            .expect("client starts");
        if state.is_none() {
            seq_of_id.clear();
        }
        let started = Instant::now();
        let mut last_id = 0;
        for _ in 0..RECORDS_PER_SESSION {
            last_id = client.log(reading(next_seq, "INFO")).unwrap();
            seq_of_id.insert(last_id, next_seq);
            next_seq += 1;
        }
        let mut failure = None;
        let mut interruption = None;
        let deadline = tokio::time::Instant::now() + SESSION_LIMIT;
        let mut acked = 0;
        while acked < last_id {
            match tokio::time::timeout_at(deadline, client.next_event()).await {
                Err(_) => {
                    failure.get_or_insert_with(|| {
                        format!("records not acknowledged within {SESSION_LIMIT:?}")
                    });
                    break;
                }
                Ok(None) => {
                    failure.get_or_insert_with(|| "client stopped".into());
                    break;
                }
                Ok(Some(Event::LogsDelivered { first, last })) => {
                    acked = acked.max(last);
                    run.acknowledged
                        .extend(seq_of_id.range(first..=last).map(|(_, seq)| *seq));
                }
                Ok(Some(Event::LogsFailed { code, .. })) => {
                    failure.get_or_insert_with(|| format!("upload refused: {code:?}"));
                }
                // The SDK connects again by itself; the session fails only if its records are
                // not acknowledged in time.
                Ok(Some(Event::Disconnected(why))) | Ok(Some(Event::Error(why))) => {
                    interruption.get_or_insert(why);
                }
                Ok(Some(_)) => {}
            }
        }
        client.stop().await;
        run.sessions.push(Session {
            started,
            ended: Instant::now(),
            failure,
            interruption,
        });
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
    run
}

fn tenant_body(name: &str) -> Value {
    json!({ "name": name })
}

/// A group named `group-<n>`, of weight n + 1 (weights are unique in an application).
fn group_body(name: &str) -> Value {
    let n: i64 = name.rsplit('-').next().unwrap().parse().unwrap();
    json!({ "name": name, "weight": n + 1 })
}

/// How the metadata database fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetadataFault {
    /// Stopped as an operator would (`pg_ctl stop -m fast`) for [`OUTAGE`]: connections are
    /// refused, so each call fails once the pool's connect timeout has passed.
    Stopped,
    /// Every process of it frozen (SIGSTOP) for [`FREEZE`]: connections stay open and nothing
    /// answers, so only the node's own bounds end a call.
    Frozen,
}

/// How long the metadata database stays frozen.
const FREEZE: Duration = Duration::from_secs(20);

/// The node's SQL limits when the database freezes: each call it makes is bounded by their sum
/// (5 s), within [`ANSWER_LIMIT`].
const FROZEN_SQL_LIMITS: [(&str, &str); 2] =
    [("sql.connect_timeout", "2s"), ("sql.request_timeout", "3s")];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_metadata_database_stopped_admins_get_503_and_endpoints_are_served_from_cache() {
    metadata_outage(MetadataFault::Stopped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_metadata_database_frozen_calls_end_at_their_limit_and_endpoints_are_served_from_cache()
 {
    metadata_outage(MetadataFault::Frozen).await;
}

/// The scenario of the module's doc, with the database failing as `fault` says.
async fn metadata_outage(fault: MetadataFault) {
    let began = Instant::now();
    let postgres = PrivatePostgres::start();
    let files = tempfile::tempdir().unwrap();
    let mut builder = NodeBuilder::standalone_with_admin(log_collection::PASSWORD)
        .set("sql.url", postgres.url())
        .set("operations.file_appender_root", files.path().display());
    if fault == MetadataFault::Frozen {
        for (key, value) in FROZEN_SQL_LIMITS {
            builder = builder.set(key, value);
        }
    }
    let node = Arc::new(builder.start().await);
    let base = format!("http://{}", node.admin);
    let (developer, app, sdk_token) = logging_application(&node).await;
    add_appender(
        &developer,
        &app,
        json!({"name": "file", "type": "file", "confirm_delivery": true,
               "settings": {"path": "readings.log", "max_file_bytes": 10_000_000}}),
    )
    .await;
    let (tenant_id, app_id) = owner_ids(&developer, &app).await;
    let admin = ApiClient::login(&base, "admin", log_collection::PASSWORD).await;
    println!(
        "private PostgreSQL, node and application ready after {:.1} s",
        began.elapsed().as_secs_f64()
    );

    let stop_writes = CancellationToken::new();
    let writer = |client: &ApiClient, path: String, prefix: &str, body: fn(&str) -> Value| {
        let writer = AdminWriter {
            bases: vec![base.clone()],
            token: client.token().expect("logged in").to_owned(),
            path,
            prefix: prefix.to_owned(),
            body,
            limit: ANSWER_LIMIT,
        };
        tokio::spawn(writer.run(stop_writes.clone()))
    };
    let writers = vec![
        writer(&admin, "/api/v1/tenants".into(), "tenant-a", tenant_body),
        writer(&admin, "/api/v1/tenants".into(), "tenant-b", tenant_body),
        writer(&developer, format!("{app}/groups"), "group", group_body),
    ];
    let stop_endpoints = CancellationToken::new();
    let returning_states: Vec<tempfile::TempDir> =
        (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut endpoints: Vec<_> = returning_states
        .iter()
        .enumerate()
        .map(|(i, state)| {
            tokio::spawn(endpoint_sessions(
                node.clone(),
                sdk_token.clone(),
                Some(state.path().to_owned()),
                i as i64 * 1_000_000,
                stop_endpoints.clone(),
            ))
        })
        .collect();
    endpoints.push(tokio::spawn(endpoint_sessions(
        node.clone(),
        sdk_token.clone(),
        None,
        9_000_000,
        stop_endpoints.clone(),
    )));

    // A few seconds of normal work, then the outage.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stopping = Instant::now();
    let frozen = match fault {
        MetadataFault::Stopped => {
            postgres.down();
            None
        }
        MetadataFault::Frozen => Some(Frozen::freeze(&postgres.pids())),
    };
    let down = Instant::now();
    println!(
        "PostgreSQL {} in {:.2} s",
        match fault {
            MetadataFault::Stopped => "stopped (pg_ctl stop -m fast)",
            MetadataFault::Frozen => "frozen (SIGSTOP to every process of it)",
        },
        (down - stopping).as_secs_f64()
    );
    let asked = Instant::now();
    let ready = reqwest::get(node.url("/ready"))
        .await
        .expect("/ready answers");
    let ready_during = format!(
        "{} in {} ms",
        ready.status().as_u16(),
        asked.elapsed().as_millis()
    );
    tokio::time::sleep(match fault {
        MetadataFault::Stopped => OUTAGE,
        MetadataFault::Frozen => FREEZE,
    })
    .await;
    let unanswered_during = node.metric("kaa_metadata_store_unanswered").await;
    let held_back = node.metric("kaa_metadata_reads_held_back_total").await;
    let restarting = Instant::now();
    match frozen {
        Some(frozen) => frozen.thaw(),
        None => postgres.up(),
    }
    let up = Instant::now();
    println!(
        "PostgreSQL down for {:.1} s, back in {:.2} s; /ready during the outage: {}; \
         Operations held back {held_back} metadata reads while it did not answer",
        (restarting - stopping).as_secs_f64(),
        (up - restarting).as_secs_f64(),
        ready_during
    );
    assert_eq!(
        unanswered_during, 1.0,
        "kaa_metadata_store_unanswered during the outage"
    );

    // Work on until every writer and endpoint has succeeded again, and a little more.
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop_writes.cancel();
    stop_endpoints.cancel();
    let mut outcomes: Vec<Vec<Outcome>> = Vec::new();
    for writer in writers {
        outcomes.push(writer.await.expect("writer"));
    }
    let mut runs: Vec<EndpointRun> = Vec::new();
    for endpoint in endpoints {
        runs.push(endpoint.await.expect("endpoint"));
    }

    // Admin writes: 2xx or 503 storage_unavailable, always within the limit.
    let all: Vec<&Outcome> = outcomes.iter().flatten().collect();
    let within_outage = |o: &&Outcome| o.sent >= down && o.answered() <= restarting;
    let during: Vec<&Outcome> = all.iter().copied().filter(within_outage).collect();
    let mut refusal_times: Vec<Duration> = during.iter().map(|o| o.took).collect();
    let p50 = quantile(&mut refusal_times, 0.5);
    let max = quantile(&mut refusal_times, 1.0);
    let first_after = all
        .iter()
        .filter(|o| o.acknowledged() && o.sent >= up)
        .map(|o| o.answered() - up)
        .min();
    println!(
        "admin writes during the outage: {} answered {:?} in p50 {} ms, max {} ms; all writes: {:?}",
        during.len(),
        tally(during.iter().copied()),
        p50.as_millis(),
        max.as_millis(),
        tally(all.iter().copied())
    );
    println!(
        "first acknowledged admin write {} ms after PostgreSQL answered again",
        first_after.map_or("(none)".into(), |d| d.as_millis().to_string())
    );
    for outcome in &all {
        let fine = outcome.acknowledged()
            || (outcome.status == Some(503)
                && outcome.error.as_deref() == Some("storage_unavailable"));
        assert!(fine, "an admin write got {outcome:?}");
    }
    assert!(
        !during.is_empty() && during.iter().all(|o| o.status == Some(503)),
        "writes during the outage: {:?}",
        tally(during.iter().copied())
    );
    for (i, writer) in outcomes.iter().enumerate() {
        assert!(
            writer.iter().any(|o| o.acknowledged() && o.sent >= up),
            "writer {i} never succeeded after the outage: {:?}",
            tally(writer)
        );
    }

    // Endpoints: every session, before, during and after the outage, served.
    let mut returning_during = 0;
    let mut newcomers_during = 0;
    let mut session_times = Vec::new();
    let mut interrupted = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let failed: Vec<&Session> = run
            .sessions
            .iter()
            .filter(|s| s.failure.is_some())
            .collect();
        assert!(
            failed.is_empty(),
            "endpoint {i}: {} of {} sessions failed, e.g. {:?}, started at +{:.1} s (outage from +{:.1} s to +{:.1} s)",
            failed.len(),
            run.sessions.len(),
            failed[0].failure,
            (failed[0].started - began).as_secs_f64(),
            (down - began).as_secs_f64(),
            (restarting - began).as_secs_f64(),
        );
        let within: Vec<&Session> = run
            .sessions
            .iter()
            .filter(|s| s.started >= down && s.ended <= restarting)
            .collect();
        session_times.extend(within.iter().map(|s| s.ended - s.started));
        interrupted.extend(run.sessions.iter().filter_map(|s| {
            let why = s.interruption.as_ref()?;
            Some(format!(
                "+{:.1} s: {why}",
                (s.started - began).as_secs_f64()
            ))
        }));
        let within = within.len();
        if i < returning_states.len() {
            returning_during += within;
        } else {
            newcomers_during += within;
        }
    }
    println!(
        "endpoint sessions with an acknowledged log upload during the outage: \
         {returning_during} of {returning_during} by returning endpoints, \
         {newcomers_during} of {newcomers_during} by new endpoints registering; \
         session start to acknowledgement p50 {} ms, max {} ms; sessions whose SDK lost its \
         connection once and connected again (all acknowledged in time): {} {:?}",
        quantile(&mut session_times, 0.5).as_millis(),
        quantile(&mut session_times, 1.0).as_millis(),
        interrupted.len(),
        interrupted
    );
    assert!(
        returning_during >= 3 && newcomers_during >= 1,
        "endpoints kept being served during the outage"
    );

    // Afterwards: every acknowledged write listed, every acknowledged record in the file.
    let tenants = listed_ids(&admin, "/api/v1/tenants").await;
    let groups = listed_ids(&developer, &format!("{app}/groups")).await;
    let mut lost = missing(&outcomes[0], &tenants);
    lost.extend(missing(&outcomes[1], &tenants));
    lost.extend(missing(&outcomes[2], &groups));
    let acknowledged = all.iter().filter(|o| o.acknowledged()).count();
    let stored: HashSet<i64> = std::fs::read_to_string(
        files
            .path()
            .join(&tenant_id)
            .join(&app_id)
            .join("readings.log"),
    )
    .expect("the appender's file")
    .lines()
    .map(|line| {
        let record: Value = serde_json::from_str(line).expect("a JSON line");
        record["event"]["seq"].as_i64().expect("seq")
    })
    .collect();
    let records: Vec<i64> = runs.iter().flat_map(|r| r.acknowledged.clone()).collect();
    let records_lost: Vec<&i64> = records.iter().filter(|s| !stored.contains(s)).collect();
    println!(
        "after: {} of {acknowledged} 2xx admin writes present; {} of {} acknowledged log \
         records in the file; {:.1} s in all",
        acknowledged - lost.len(),
        records.len() - records_lost.len(),
        records.len(),
        began.elapsed().as_secs_f64()
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert_eq!(
        node.metric("kaa_metadata_store_unanswered").await,
        0.0,
        "reads resumed once the database answered"
    );
    assert!(
        records_lost.is_empty(),
        "acknowledged records lost: {records_lost:?}"
    );
}
