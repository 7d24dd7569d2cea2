//! Fault: the MongoDB behind a log appender stops for 30 s under log load. A MongoDB-wire server
//! of the test's own (FerretDB, [`PrivateMongo`]) takes an endpoint's records through a confirming
//! `mongodb` appender; it is stopped as an operator would stop it and started again. Checks: no
//! false acknowledgement (no batch gets SUCCESS while the server is down; every record the
//! endpoint saw acknowledged is in MongoDB afterwards), batches during the outage get FAILURE
//! `REMOTE_CONNECTION_ERROR` (counted), and uploads resume once the server is back.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use kaa_idl::endpoint::sync::LogDeliveryErrorCode;
use kaa_model::appender::log_namespace;
use kaa_tests::infra::PrivateMongo;
use kaa_tests::node::NodeBuilder;
use mongodb::bson::{Document, doc};
use serde_json::json;

use crate::log_collection::{
    Deliveries, PASSWORD, add_appender, check_complete, client, logging_application, owner_ids,
    produce, tally,
};
use crate::support::ALLOW_LOOPBACK;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_mongodb_is_stopped_no_batch_is_acknowledged_and_afterwards_every_record_is_stored() {
    const OUTAGE: Duration = Duration::from_secs(30);
    let mongo = PrivateMongo::start();
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
        json!({"name": "mongo", "type": "mongodb", "confirm_delivery": true,
               "settings": {"collection": "readings", "url": mongo.url()}}),
    )
    .await;
    let state = tempfile::tempdir().unwrap();
    let mut endpoint = client(&[&node], &sdk_token, state.path());
    let mut deliveries = Deliveries::default();
    let mut next_seq: i64 = 0;

    // 100 records/s throughout: before the outage, for 30 s with the server stopped, while it
    // starts again, and 5 s after.
    produce(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        deliveries.acked > 0,
        "records were stored before the outage"
    );
    let stopping = Instant::now();
    tokio::task::block_in_place(|| mongo.down());
    let stopped_in = stopping.elapsed();
    // Statuses of batches written just before the stop may still be on their way.
    produce(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(1),
    )
    .await;
    let acked_when_stopped = deliveries.acked;
    let refused_before: usize = deliveries.failures.values().sum();
    let acks_while_down = produce(&mut endpoint, &mut deliveries, &mut next_seq, OUTAGE).await;
    let refused_while_down = deliveries.failures.values().sum::<usize>() - refused_before;
    assert_eq!(acks_while_down, 0, "SUCCESS while MongoDB was stopped");
    assert_eq!(deliveries.acked, acked_when_stopped);
    assert!(
        refused_while_down > 0,
        "no FAILURE while MongoDB was stopped"
    );
    assert_eq!(
        deliveries.failures.keys().collect::<Vec<_>>(),
        [&format!(
            "{:?}",
            Some(LogDeliveryErrorCode::RemoteConnectionError)
        )],
        "the outage is reported as a connection error"
    );

    let restarting = Instant::now();
    tokio::task::block_in_place(|| mongo.up());
    let restarted_in = restarting.elapsed();
    let restarted = Instant::now();
    produce(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        deliveries.acked > acked_when_stopped,
        "uploads resumed within 5 s of the server's return"
    );
    let total = next_seq as u64;
    deliveries
        .until_acked(&mut endpoint, total, Duration::from_secs(60), |_| {})
        .await;
    let caught_up = restarted.elapsed();

    let documents: Vec<Document> = mongodb::Client::with_uri_str(mongo.url())
        .await
        .unwrap()
        .database(&namespace)
        .collection::<Document>("readings")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let seqs = documents
        .iter()
        .map(|d| d.get_document("event").unwrap().get_i64("seq").unwrap());
    let stored = documents.len();
    let duplicates = check_complete("mongodb", &tally(seqs), next_seq);
    println!(
        "MongoDB stopped for {:.1}s (stop took {:.1}s, restart {:.1}s): {total} records, \
         {acked_when_stopped} acknowledged before the stop, 0 while down, {refused_while_down} batches \
         answered FAILURE while down {:?}; all acknowledged {:.1}s after the server answered again \
         (5 s of them still producing); documents {stored}, duplicates {duplicates}, lost 0",
        (OUTAGE + restarted_in).as_secs_f64(),
        stopped_in.as_secs_f64(),
        restarted_in.as_secs_f64(),
        deliveries.failures,
        caught_up.as_secs_f64(),
    );
    endpoint.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}
