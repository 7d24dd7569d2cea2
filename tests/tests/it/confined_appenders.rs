//! What a tenant's appenders and verifiers may reach on a real `kaa-node`: a file appender
//! writes only under `<file appender root>/<tenant>/<application>/<name>` (bad names are refused
//! by the admin API at `settings.path`, a link planted under the root by Operations when it
//! opens the file), and REST appenders and HTTP verifiers call loopback only when the operator's
//! `operations.outbound_allow` admits it, with one answer for "refused", "port closed" and
//! "timeout".

use std::path::Path;
use std::time::Duration;

use kaa_idl::endpoint::sync::{LogDeliveryErrorCode, UserAttachErrorCode};
use kaa_sdk::client::Event;
use kaa_tests::api::expect;
use kaa_tests::node::{NodeBuilder, free_port};
use kaa_tests::stubs::HttpStub;
use serde_json::{Value, json};

use crate::log_collection::{
    Deliveries, PASSWORD, add_appender, client, logging_application, owner_ids, reading,
};
use crate::support::ALLOW_LOOPBACK;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn file_appenders_write_only_under_the_tenants_folder_of_the_root() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("appenders");
    let outside = scratch.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let mut node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.file_appender_root", root.display())
        .start()
        .await;
    let (developer, app, sdk_token) = logging_application(&node).await;
    let (tenant_id, app_id) = owner_ids(&developer, &app).await;

    // Names that would leave the application's folder are refused at settings.path.
    let outside_file = outside.join("x.log").display().to_string();
    for path in [
        "../escape.log",
        "..",
        "/etc/passwd",
        outside_file.as_str(),
        "logs/readings.log",
        "readings.log.1",
    ] {
        let refused = developer
            .post(
                &format!("{app}/log-appenders"),
                json!({"name": "file", "type": "file", "settings": {"path": path}}),
            )
            .await;
        expect(&refused, 422);
        assert_eq!(refused.body["field"], "settings.path", "{path}");
    }

    // Someone with access to the host planted a link where the application's folder goes.
    std::fs::create_dir_all(root.join(&tenant_id)).unwrap();
    let planted = root.join(&tenant_id).join(&app_id);
    std::os::unix::fs::symlink(&outside, &planted).unwrap();
    add_appender(
        &developer,
        &app,
        json!({"name": "file", "type": "file", "confirm_delivery": true,
               "settings": {"path": "readings.log"}}),
    )
    .await;
    let state = tempfile::tempdir().unwrap();
    let mut endpoint = client(&[&node], &sdk_token, state.path());
    const RECORDS: i64 = 20;
    for seq in 0..RECORDS {
        endpoint.log(reading(seq, "INFO")).unwrap();
    }
    let refused = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), endpoint.next_event())
            .await
            .expect("a delivery status")
            .expect("client stopped");
        match event {
            Event::LogsFailed { code, .. } => break code,
            Event::LogsDelivered { .. } => panic!("logs written through a planted link"),
            _ => {}
        }
    };
    assert_eq!(refused, Some(LogDeliveryErrorCode::AppenderInternalError));
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing is written outside the root"
    );

    // Without the link the same appender writes under the root, and every record arrives.
    std::fs::remove_file(&planted).unwrap();
    let mut deliveries = Deliveries::default();
    deliveries
        .until_acked(
            &mut endpoint,
            RECORDS as u64,
            Duration::from_secs(60),
            |_| {},
        )
        .await;
    let file = root.join(&tenant_id).join(&app_id).join("readings.log");
    let mut seqs: Vec<i64> = lines(&file)
        .iter()
        .map(|line| line["event"]["seq"].as_i64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs, (0..RECORDS).collect::<Vec<_>>());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    println!(
        "file appender: 6 bad names refused at settings.path; a planted link refused at open ({refused:?}); {RECORDS} records under {}",
        file.strip_prefix(&root).unwrap().display()
    );
    endpoint.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}

/// What an endpoint saw of one log upload and one owner attach through an HTTP verifier.
#[derive(Debug, PartialEq)]
struct Outcome {
    log: Result<(), Option<LogDeliveryErrorCode>>,
    attach: Result<(), (Option<UserAttachErrorCode>, Option<String>)>,
}

/// Starts `node`, gives its application a REST appender posting to `ingest` and an HTTP verifier
/// calling `verify`, and reports what an endpoint gets for a log record and an owner attach.
async fn call_out(node: NodeBuilder, ingest: &str, verify: &str) -> Outcome {
    let mut node = node.start().await;
    let (developer, app, sdk_token) = logging_application(&node).await;
    add_appender(
        &developer,
        &app,
        json!({"name": "rest", "type": "rest", "confirm_delivery": true,
               "settings": {"url": ingest, "retries": 0, "timeout_ms": 2000}}),
    )
    .await;
    let verifier = developer
        .post(
            &format!("{app}/user-verifiers"),
            json!({"name": "gate", "type": "http", "settings": {"url": verify, "timeout_ms": 2000}}),
        )
        .await;
    expect(&verifier, 201);
    let verifier_token = verifier.body["verifier_token"].as_str().unwrap().to_owned();
    let state = tempfile::tempdir().unwrap();
    let mut endpoint = client(&[&node], &sdk_token, state.path());
    endpoint.log(reading(0, "INFO")).unwrap();
    endpoint
        .attach_to_owner(Some(verifier_token), "alice".into(), "token".into())
        .unwrap();
    let (mut log, mut attach) = (None, None);
    while log.is_none() || attach.is_none() {
        let event = tokio::time::timeout(Duration::from_secs(30), endpoint.next_event())
            .await
            .expect("a delivery status and an attach answer")
            .expect("client stopped");
        match event {
            Event::LogsDelivered { .. } => log = log.or(Some(Ok(()))),
            Event::LogsFailed { code, .. } => log = log.or(Some(Err(code))),
            Event::AttachedToOwner { .. } => attach = attach.or(Some(Ok(()))),
            Event::OwnerAttachFailed { code, reason } => {
                attach = attach.or(Some(Err((code, reason))));
            }
            _ => {}
        }
    }
    endpoint.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
    Outcome {
        log: log.unwrap(),
        attach: attach.unwrap(),
    }
}

#[tokio::test]
async fn loopback_targets_are_refused_without_the_allow_list_and_reached_with_it() {
    let stub = HttpStub::start().await;
    let (ingest, verify) = (stub.url("/ingest"), stub.url("/verify"));

    // The operator allowed nothing: the stub on 127.0.0.1 is never called.
    let refused = call_out(
        NodeBuilder::standalone_with_admin(PASSWORD),
        &ingest,
        &verify,
    )
    .await;
    assert_eq!(
        refused.log,
        Err(Some(LogDeliveryErrorCode::RemoteConnectionError))
    );
    assert!(matches!(
        refused.attach,
        Err((Some(UserAttachErrorCode::ConnectionError), _))
    ));
    assert!(stub.received().is_empty(), "a refused target was called");

    // Allowed, but nothing listens: the endpoint cannot tell this from the refusal.
    let closed = format!("http://127.0.0.1:{}/closed", free_port());
    let allowed = || {
        NodeBuilder::standalone_with_admin(PASSWORD)
            .set("operations.outbound_allow", ALLOW_LOOPBACK)
    };
    let port_closed = call_out(allowed(), &closed, &closed).await;
    assert_eq!(port_closed, refused, "a closed port answers as a refusal");

    // Allowed and listening: the record is stored and the owner attached.
    let reached = call_out(allowed(), &ingest, &verify).await;
    assert_eq!(
        reached,
        Outcome {
            log: Ok(()),
            attach: Ok(())
        }
    );
    let paths: Vec<String> = stub.received().iter().map(|r| r.path.clone()).collect();
    assert!(paths.contains(&"/ingest".to_owned()), "{paths:?}");
    assert!(paths.contains(&"/verify".to_owned()), "{paths:?}");
    println!(
        "outbound: loopback refused without operations.outbound_allow ({:?}, {:?}), a closed port answers the same, allowed loopback reached ({} calls)",
        refused.log,
        refused.attach,
        paths.len()
    );
}
