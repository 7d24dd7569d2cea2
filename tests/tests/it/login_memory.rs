//! Logins must not bloat a node's memory: Argon2 needs ~19 MiB per hash, and a node that hashed on
//! ever new threads kept that memory per thread. A standalone node takes 1,000 logins (right and
//! wrong passwords, sequential and concurrent, with idle pauses between) and its resident memory
//! must stay within a few tens of MB of what it was fresh.

use std::time::{Duration, Instant};

use futures::future::join_all;
use kaa_tests::api::ApiClient;
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::json;

const PASSWORD: &str = "admin-secret-1";

/// How far above the fresh node's resident memory the node may end, in MiB: the hashing threads'
/// reused memory (two blocks of 19 MiB, one already in use at start for the first admin) and
/// some allocator slack.
const ALLOWED_GROWTH_MIB: u64 = 48;

/// A standalone node whose first admin is `admin` with [`PASSWORD`], with login throttling out of
/// the way: these tests send hundreds of wrong passwords from one address on purpose (throttling
/// has tests of its own in `admin_audit`).
async fn unthrottled_node() -> Node {
    NodeBuilder::standalone_with_admin(PASSWORD)
        .set("control.login_max_failures_per_user", 1_000_000)
        .set("control.login_max_failures_per_address", 1_000_000)
        .start()
        .await
}

/// The node's resident memory (`VmRSS`), in KiB.
fn rss_kib(node: &Node) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.pid()))
        .expect("/proc/<pid>/status of the node");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Answers seen, by kind.
#[derive(Debug, Default)]
struct Tally {
    accepted: u32,
    refused: u32,
    busy: u32,
}

impl Tally {
    fn total(&self) -> u32 {
        self.accepted + self.refused + self.busy
    }
}

/// One login, right or wrong; returns the status.
async fn login(client: &ApiClient, right: bool) -> u16 {
    let password = if right { PASSWORD } else { "wrong-password" };
    client
        .post(
            "/api/v1/auth/login",
            json!({ "username": "admin", "password": password }),
        )
        .await
        .status
}

fn count(tally: &mut Tally, right: bool, status: u16) {
    match (right, status) {
        (true, 200) => tally.accepted += 1,
        (false, 401) => tally.refused += 1,
        (_, 503) => tally.busy += 1,
        _ => panic!("a login with the {right} password answered {status}"),
    }
}

async fn sequential(client: &ApiClient, tally: &mut Tally, logins: u32) {
    for i in 0..logins {
        // Every third login uses a wrong password.
        let right = i % 3 != 0;
        count(tally, right, login(client, right).await);
    }
}

async fn concurrent(client: &ApiClient, tally: &mut Tally, logins: u32, at_once: u32) {
    for batch in 0..logins / at_once {
        let answers = join_all((0..at_once).map(|i| {
            let right = (batch + i) % 2 == 0;
            async move { (right, login(client, right).await) }
        }))
        .await;
        for (right, status) in answers {
            count(tally, right, status);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_logins_leave_memory_within_a_few_tens_of_mb_of_a_fresh_node() {
    let node = unthrottled_node().await;
    let client = ApiClient::anonymous(format!("http://{}", node.admin));
    let pause = || tokio::time::sleep(Duration::from_millis(1500));

    let fresh = rss_kib(&node);
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut figures = vec![("fresh", fresh)];

    sequential(&client, &mut tally, 200).await;
    figures.push(("200 sequential", rss_kib(&node)));
    pause().await;
    concurrent(&client, &mut tally, 400, 8).await;
    figures.push(("+400 concurrent (8 at once)", rss_kib(&node)));
    pause().await;
    sequential(&client, &mut tally, 200).await;
    figures.push(("+200 sequential", rss_kib(&node)));
    pause().await;
    concurrent(&client, &mut tally, 192, 16).await;
    pause().await;
    sequential(&client, &mut tally, 8).await;
    let after = rss_kib(&node);
    figures.push(("+200 more after pauses", after));

    for (stage, kib) in &figures {
        println!(
            "login memory: {stage:<30} VmRSS {:>6.1} MiB",
            *kib as f64 / 1024.0
        );
    }
    println!(
        "login memory: {} logins ({} accepted, {} refused, {} busy) in {:.1} s",
        tally.total(),
        tally.accepted,
        tally.refused,
        tally.busy,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(tally.total(), 1000);
    assert!(
        tally.busy <= tally.total() / 10,
        "too many logins answered busy: {tally:?}"
    );
    let growth_mib = after.saturating_sub(fresh) / 1024;
    assert!(
        growth_mib <= ALLOWED_GROWTH_MIB,
        "resident memory grew by {growth_mib} MiB over 1,000 logins (fresh {} MiB, after {} MiB)",
        fresh / 1024,
        after / 1024
    );
}

#[tokio::test]
async fn a_login_naming_no_user_answers_like_a_wrong_password_and_takes_as_long() {
    let node = unthrottled_node().await;
    let client = ApiClient::anonymous(format!("http://{}", node.admin));
    let attempt = |username: &'static str| {
        let client = &client;
        async move {
            let started = Instant::now();
            let reply = client
                .post(
                    "/api/v1/auth/login",
                    json!({ "username": username, "password": "wrong-password" }),
                )
                .await;
            (reply.status, reply.body, started.elapsed())
        }
    };
    // The first unknown-user login also makes the stand-in hash; leave it out of the timing.
    attempt("nobody").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let (status, known_body, took) = attempt("admin").await;
        assert_eq!(status, 401);
        known.push(took);
        let (status, unknown_body, took) = attempt("nobody").await;
        assert_eq!(status, 401);
        assert_eq!(unknown_body, known_body, "the two refusals differ");
        unknown.push(took);
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[7], unknown[7]);
    println!("login timing: median wrong password {known:?}, median unknown user {unknown:?}");
    // Without a hash for unknown names they answer in about a millisecond against ~30 ms.
    assert!(
        unknown.as_secs_f64() >= known.as_secs_f64() * 0.5,
        "an unknown user name answers faster ({unknown:?}) than a wrong password ({known:?})"
    );
}
