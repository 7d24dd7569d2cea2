//! A deadline per sync, against a real `kaa-node`: an endpoint's owner attach waits on a user
//! verifier that answers only after 4 s; with `sync.deadline` at 2 s the node ends that session
//! at the deadline (counted in `kaa_sync_deadline_exceeded_total`) instead of holding it, and
//! once the verifier answers promptly the endpoint, reconnected, attaches.

use std::time::{Duration, Instant};

use kaa_sdk::client::{Event, KaaClient};
use kaa_tests::node::NodeBuilder;
use kaa_tests::stubs::HttpStub;

use crate::owners_events::home_application;
use crate::support::{ALLOW_LOOPBACK, endpoint_config, wait_event};

const PASSWORD: &str = "sync-deadline-1";

#[tokio::test]
async fn a_sync_held_past_its_deadline_ends_the_session_and_is_counted() {
    let verifier = HttpStub::start().await;
    verifier.delay(Duration::from_secs(4));
    let node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.outbound_allow", ALLOW_LOOPBACK)
        .set("sync.deadline", "2s")
        .set("log_collection.delivery_wait", "1s")
        .start()
        .await;
    let app = home_application(&node, PASSWORD, &verifier.url("/verify")).await;
    let state = tempfile::tempdir().unwrap();
    let mut phone = KaaClient::start(endpoint_config(
        &[&node],
        &app.sdk_token,
        "phone-1",
        state.path(),
    ))
    .unwrap();
    let within = Duration::from_secs(30);
    wait_event(&mut phone, within, "a session", |e| {
        matches!(e, Event::Connected(_)).then_some(())
    })
    .await;

    let asked = Instant::now();
    phone
        .attach_to_owner(Some(app.http.clone()), "alice".into(), "token".into())
        .unwrap();
    let ended = wait_event(&mut phone, within, "the session's end", |e| match e {
        Event::Disconnected(reason) => Some(reason.clone()),
        Event::AttachedToOwner { .. } => {
            panic!("attached through a verifier slower than the deadline")
        }
        _ => None,
    })
    .await;
    let ended_after = asked.elapsed();
    let metrics = node.get_text("/metrics").await;
    let exceeded: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("kaa_sync_deadline_exceeded_total "))
        .map_or(0, |value| value.trim().parse().unwrap());

    verifier.delay(Duration::ZERO);
    let attached = wait_event(&mut phone, within, "the owner attach", |e| match e {
        Event::AttachedToOwner { user_external_id } => Some(user_external_id.clone()),
        _ => None,
    })
    .await;
    println!(
        "session ended {:.1} s after the attach (deadline 2 s, verifier 4 s): {ended}; \
         kaa_sync_deadline_exceeded_total {exceeded}; attached as {attached} after {:.1} s",
        ended_after.as_secs_f64(),
        asked.elapsed().as_secs_f64()
    );
    assert!(
        ended_after >= Duration::from_millis(1900) && ended_after < Duration::from_millis(3900),
        "ended after {ended_after:?}, not at the deadline"
    );
    assert!(exceeded >= 1, "counted: {exceeded}");
    assert_eq!(attached, "alice");
    phone.stop().await;
}
