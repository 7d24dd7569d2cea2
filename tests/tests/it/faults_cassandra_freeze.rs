//! Fault: the Cassandra under a node freezes (SIGSTOP) for 20 s: it keeps its connections open
//! and answers nothing, as a stalled JVM or a hung disk does. A Cassandra of the test's own
//! ([`PrivateCassandra`]) is the node's endpoint store and the ring of its log appender; an endpoint
//! uploads records steadily and a new endpoint registers during the freeze. Checks: calls end by
//! timeout, not hangs (the longest wait for a delivery status and the new endpoint's first error
//! are bounded and printed), no log batch is acknowledged while frozen, the node stays up and
//! answers `/health` throughout, and after SIGCONT everything works again: uploads resume, the new
//! endpoint registers and delivers, and every acknowledged record is in Cassandra.

use std::time::{Duration, Instant};

use kaa_model::appender::log_namespace;
use kaa_sdk::client::{Event, KaaClient};
use kaa_tests::infra::{Frozen, PrivateCassandra};
use kaa_tests::node::NodeBuilder;
use nix::sys::signal::Signal;
use serde_json::json;

use crate::log_collection::{
    Deliveries, PASSWORD, add_appender, cassandra_seqs, check_complete, client,
    logging_application, owner_ids, produce, reading, tally,
};

/// How `/health` answered while Cassandra was frozen.
#[derive(Debug, Default)]
struct HealthProbes {
    answered: usize,
    failed: usize,
    slowest: Duration,
}

/// GETs `url` every 500 ms for `span`, each with a 5 s timeout.
async fn probe_health(url: String, span: Duration) -> HealthProbes {
    let http = reqwest::Client::new();
    let mut probes = HealthProbes::default();
    let until = Instant::now() + span;
    while Instant::now() < until {
        let started = Instant::now();
        let answer = http.get(&url).timeout(Duration::from_secs(5)).send().await;
        probes.slowest = probes.slowest.max(started.elapsed());
        match answer {
            Ok(response) if response.status().is_success() => probes.answered += 1,
            _ => probes.failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    probes
}

/// What a new endpoint saw while Cassandra was frozen: when its first error came (from its
/// start), and whether any record of it was acknowledged.
struct Newcomer {
    client: KaaClient,
    first_error: Option<Duration>,
    errors: usize,
    acked: bool,
}

/// The `seq` of the new endpoint's one record (the steady endpoint's count from 0).
const NEWCOMER_SEQ: i64 = -1;

/// Starts an endpoint that logs one record, and follows its events for `span`.
async fn newcomer(client: KaaClient, span: Duration) -> Newcomer {
    client.log(reading(NEWCOMER_SEQ, "NEW")).unwrap();
    let started = Instant::now();
    let mut seen = Newcomer {
        client,
        first_error: None,
        errors: 0,
        acked: false,
    };
    while let Some(left) = span.checked_sub(started.elapsed()) {
        match tokio::time::timeout(left, seen.client.next_event()).await {
            Ok(Some(Event::Error(_))) => {
                seen.errors += 1;
                seen.first_error.get_or_insert(started.elapsed());
            }
            Ok(Some(Event::LogsDelivered { .. })) => seen.acked = true,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_cassandra_makes_calls_time_out_not_hang_and_everything_works_after_it_thaws() {
    const FREEZE: Duration = Duration::from_secs(20);
    let cassandra = PrivateCassandra::start();
    let mut node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("endpoint_store.backend", "cassandra")
        .set(
            "endpoint_store.contact_points",
            format!("[\"{}\"]", cassandra.contact_point()),
        )
        .set("endpoint_store.request_timeout", "3s")
        .set("log_collection.delivery_wait", "3s")
        .start()
        .await;
    let (developer, app, sdk_token) = logging_application(&node).await;
    let namespace = log_namespace(&owner_ids(&developer, &app).await.0);
    // No contact points: the appender writes to the node's own Cassandra, the frozen one.
    add_appender(
        &developer,
        &app,
        json!({"name": "archive", "type": "cassandra", "confirm_delivery": true,
               "settings": {"table": "readings",
                            "columns": [{"name": "seq", "source": "record.seq"}]}}),
    )
    .await;
    let state = tempfile::tempdir().unwrap();
    let mut endpoint = client(&[&node], &sdk_token, state.path());
    let mut deliveries = Deliveries::default();
    let mut next_seq: i64 = 0;
    produce(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        deliveries.acked > 0,
        "records were stored before the freeze"
    );

    let frozen = Frozen::freeze(&[cassandra.pid()]);
    let frozen_at = Instant::now();
    let health = tokio::spawn(probe_health(node.url("/health"), FREEZE));
    let newcomer_state = tempfile::tempdir().unwrap();
    let arrival = tokio::spawn(newcomer(
        client(&[&node], &sdk_token, newcomer_state.path()),
        FREEZE - Duration::from_secs(1),
    ));
    // Statuses of batches written just before the freeze may still be on their way.
    produce(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(1),
    )
    .await;
    let acked_when_frozen = deliveries.acked;
    // The steady endpoint's first failure: a log batch refused, or its session ended or refused.
    let failures = |d: &Deliveries| d.failures.values().sum::<usize>() + d.interruptions;
    let failures_before = failures(&deliveries);
    let mut acks_while_frozen = 0;
    let mut first_failure = None;
    while frozen_at.elapsed() < FREEZE {
        acks_while_frozen += produce(
            &mut endpoint,
            &mut deliveries,
            &mut next_seq,
            Duration::from_millis(100),
        )
        .await;
        if failures(&deliveries) > failures_before {
            first_failure.get_or_insert(frozen_at.elapsed());
        }
    }
    let refused_while_frozen: usize = deliveries.failures.values().sum();
    let health = health.await.unwrap();
    let arrival = arrival.await.unwrap();
    frozen.thaw();
    let thawed = Instant::now();

    assert_eq!(acks_while_frozen, 0, "SUCCESS while Cassandra was frozen");
    assert_eq!(deliveries.acked, acked_when_frozen);
    // Store calls end at request_timeout (3 s), log deliveries at delivery_wait (3 s).
    let first_failure = first_failure.expect("the endpoint heard of a failure while frozen");
    assert!(
        first_failure < Duration::from_secs(10),
        "the endpoint first heard of a failure {first_failure:?} into the freeze: a hang, not a timeout"
    );
    assert!(
        !arrival.acked,
        "a new endpoint's record acknowledged while frozen"
    );
    let first_error = arrival
        .first_error
        .expect("the new endpoint heard of its failure while Cassandra was frozen");
    assert!(
        first_error < Duration::from_secs(10),
        "the new endpoint first heard of a failure after {first_error:?}: a hang, not a timeout"
    );
    assert!(
        node.is_running(),
        "the node stays up while its Cassandra is frozen"
    );
    assert_eq!(
        health.failed, 0,
        "/health answered every probe while frozen: {health:?}"
    );
    assert!(health.slowest < Duration::from_secs(2), "{health:?}");

    produce(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(5),
    )
    .await;
    let total = next_seq as u64;
    deliveries
        .until_acked(&mut endpoint, total, Duration::from_secs(60), |_| {})
        .await;
    let caught_up = thawed.elapsed();
    let mut newcomer = arrival.client;
    crate::support::wait_event(
        &mut newcomer,
        Duration::from_secs(60),
        "the new endpoint's record acknowledged after the thaw",
        |e| matches!(e, Event::LogsDelivered { .. }).then_some(()),
    )
    .await;
    let newcomer_in = thawed.elapsed();

    let rows = cassandra_seqs(&cassandra.contact_point(), &format!("{namespace}.readings")).await;
    let stored = rows.len();
    let (newcomers, steady): (Vec<i64>, Vec<i64>) =
        rows.into_iter().partition(|seq| *seq == NEWCOMER_SEQ);
    assert!(
        !newcomers.is_empty(),
        "the new endpoint's acknowledged record is stored"
    );
    let duplicates = check_complete("cassandra", &tally(steady), next_seq);
    println!(
        "Cassandra frozen (SIGSTOP) for {:.0}s: {total} records, {acked_when_frozen} acknowledged before, \
         0 while frozen, {refused_while_frozen} batches refused {:?} and {} sessions ended or refused, \
         the first failure {:.1}s into the freeze; a new endpoint's first error after {:.1}s ({} errors, nothing acknowledged); \
         /health {} of {} answered, slowest {:.0} ms; after SIGCONT all acknowledged in {:.1}s (5 s of them \
         still producing), the new endpoint registered and delivered within {:.1}s; rows {stored}, duplicates {duplicates}, lost 0",
        FREEZE.as_secs_f64(),
        deliveries.failures,
        deliveries.interruptions,
        first_failure.as_secs_f64(),
        first_error.as_secs_f64(),
        arrival.errors,
        health.answered,
        health.answered + health.failed,
        health.slowest.as_secs_f64() * 1000.0,
        caught_up.as_secs_f64(),
        newcomer_in.as_secs_f64(),
    );
    newcomer.stop().await;
    endpoint.stop().await;
    node.signal(Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}
