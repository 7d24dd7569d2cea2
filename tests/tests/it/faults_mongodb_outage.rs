//! Fault: the MongoDB behind a log appender stops for 30 s under log load. A MongoDB-wire server
//! of the test's own (FerretDB, [`PrivateMongo`]) takes an endpoint's records through a confirming
//! `mongodb` appender; it is stopped as an operator would stop it and started again. Checks: no
//! false acknowledgement (no batch gets SUCCESS while the server is down; every record the
//! endpoint saw acknowledged is in MongoDB afterwards), batches during the outage get FAILURE
//! `REMOTE_CONNECTION_ERROR` (counted), and uploads resume once the server is back.

use std::time::Duration;

use futures::TryStreamExt;
use kaa_idl::endpoint::sync::LogDeliveryErrorCode;
use kaa_model::appender::log_namespace;
use kaa_tests::infra::PrivateMongo;
use kaa_tests::node::NodeBuilder;
use mongodb::bson::{Document, doc};
use serde_json::json;

use crate::log_collection::{
    Deliveries, PASSWORD, add_appender, check_complete, client, logging_application, owner_ids,
    tally, upload_through_outage,
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
    let outage = upload_through_outage(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        OUTAGE,
        (|| mongo.down(), || mongo.up()),
        Duration::from_secs(60),
    )
    .await;
    assert!(
        outage.refused_while_down > 0,
        "no FAILURE while MongoDB was stopped"
    );
    assert_eq!(
        deliveries.failures.keys().collect::<Vec<_>>(),
        [&format!(
            "{:?}",
            Some(LogDeliveryErrorCode::RemoteConnectionError)
        )],
        "the outage is reported as a connection error only"
    );
    assert!(
        outage.acked_after_return > outage.acked_when_stopped,
        "uploads resumed within 5 s of the server's return"
    );
    let total = next_seq as u64;

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
         {} acknowledged before the stop, 0 while down, {} batches answered FAILURE while \
         down {:?}; all acknowledged {:.1}s after the server answered again (5 s of them still \
         producing); documents {stored}, duplicates {duplicates}, lost 0",
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
