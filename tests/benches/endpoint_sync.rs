//! Sync throughput of one Operations node against its own transport: a release `kaa-node`
//! standalone, `SESSIONS` encrypted Kaatcp sessions of registered endpoints, each sending
//! `ROUNDS` configuration syncs (the endpoint holds the current configuration: NO_DELTA) as fast
//! as answers come back. The baseline, in the same run over the same sessions, is PINGREQ →
//! PINGRESP round trips: the transport without any sync work. The figure to watch is the ratio
//! syncs/s ÷ pings/s (noisy machines move both alike).
//!
//! `cargo bench -p kaa-tests --bench endpoint_sync` (builds `kaa-node` in release first).

use std::time::{Duration, Instant};

use kaa_idl::endpoint::sync::{
    ConfigurationSyncRequest, ProfileSyncRequest, SyncRequest, SyncRequestMetaData,
    SyncResponseStatus,
};
use kaa_sdk::bootstrap::{Transport, fetch_servers};
use kaa_sdk::channel::{Channel, Security};
use kaa_sdk::keys::EndpointKeys;
use kaa_tests::api::ApiClient;
use kaa_tests::node::NodeBuilder;
use serde_json::json;
use sha1::{Digest, Sha1};

const SESSIONS: usize = 64;
const ROUNDS: usize = 300;
const PASSWORD: &str = "bench-password-1";

fn release_node() -> std::path::PathBuf {
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "kaa-node",
            "--bin",
            "kaa-node",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo build --release");
    assert!(status.success());
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/kaa-node")
}

async fn sdk_token(base: &str) -> String {
    let admin = ApiClient::login(base, "admin", PASSWORD).await;
    let tenant = admin
        .post("/api/v1/tenants", json!({ "name": "bench" }))
        .await;
    let tenant_id = tenant.body["id"].as_str().unwrap().to_owned();
    admin
        .post(
            "/api/v1/users",
            json!({ "username": "boss", "password": PASSWORD, "role": "TENANT_ADMIN", "tenant_id": tenant_id }),
        )
        .await;
    let boss = ApiClient::login(base, "boss", PASSWORD).await;
    boss.post(
        "/api/v1/users",
        json!({ "username": "dev", "password": PASSWORD, "role": "TENANT_DEVELOPER" }),
    )
    .await;
    let app = boss
        .post("/api/v1/applications", json!({ "name": "bench" }))
        .await;
    let app = format!("/api/v1/applications/{}", app.body["id"].as_str().unwrap());
    let dev = ApiClient::login(base, "dev", PASSWORD).await;
    dev.post(
        &format!("{app}/schemas/configuration"),
        json!({ "name": "c", "schema": {"type": "record", "name": "C", "fields": [{"name": "interval", "type": "int"}, {"name": "label", "type": "string"}]} }),
    )
    .await;
    let groups = dev.get(&format!("{app}/groups")).await;
    let all = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
    let configurations = format!("{app}/groups/{all}/configurations");
    let draft = dev
        .post(
            &configurations,
            json!({ "schema_version": 1, "body": {"interval": 30, "label": "a typical configuration body of some length"} }),
        )
        .await;
    dev.post(
        &format!(
            "{configurations}/{}/activate",
            draft.body["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    let sdk = dev
        .post(
            &format!("{app}/sdk-profiles"),
            json!({ "name": "v1", "configuration_version": 1 }),
        )
        .await;
    sdk.body["sdk_token"].as_str().unwrap().to_owned()
}

/// Rates and latencies of one phase.
struct Phase {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn phase(total: Duration, mut latencies: Vec<Duration>) -> Phase {
    latencies.sort();
    Phase {
        per_second: latencies.len() as f64 / total.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    }
}

#[tokio::main]
async fn main() {
    let program = release_node();
    let mut node = NodeBuilder::standalone()
        .program(program)
        .env("KAA_ADMIN_USER", "admin")
        .env("KAA_ADMIN_PASSWORD", PASSWORD)
        .set("node.thrift_host", "127.0.0.1")
        .spawn()
        .unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(60))
        .await
        .unwrap();
    let token = sdk_token(&format!("http://{}", node.admin)).await;
    let timeout = Duration::from_secs(30);
    let servers = fetch_servers(
        &format!("127.0.0.1:{}", node.port("bootstrap.tcp_port")),
        Security::Plain,
        &token,
        timeout,
    )
    .await
    .unwrap();
    let server = servers
        .into_iter()
        .find(|s| s.transport == Transport::Tcp)
        .unwrap();

    // Register every endpoint and learn the configuration hash it will hold.
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let keys = EndpointKeys::generate().unwrap();
        let meta = SyncRequestMetaData {
            sdk_token: token.clone(),
            endpoint_public_key_hash: Some(keys.key_hash().to_vec()),
            profile_hash: Some(Sha1::digest([]).to_vec()),
            timeout: None,
        };
        let register = SyncRequest {
            request_id: 1,
            sync_request_meta_data: Some(meta.clone()),
            profile_sync_request: Some(ProfileSyncRequest {
                endpoint_public_key: Some(keys.public_der().to_vec()),
                profile_body: Vec::new(),
                endpoint_access_token: None,
            }),
            configuration_sync_request: Some(ConfigurationSyncRequest {
                configuration_hash: Vec::new(),
                resync_only: Some(true),
            }),
            ..SyncRequest::default()
        };
        let (channel, answer) = Channel::connect(
            &server.address(),
            None,
            Security::Encrypted {
                server_key: &server.public_key,
                endpoint: &keys,
            },
            600,
            &register,
            timeout,
        )
        .await
        .unwrap();
        let body = answer
            .configuration_sync_response
            .and_then(|c| c.conf_delta_body)
            .expect("a configuration");
        let sync = SyncRequest {
            request_id: 2,
            sync_request_meta_data: Some(meta),
            configuration_sync_request: Some(ConfigurationSyncRequest {
                configuration_hash: Sha1::digest(&body).to_vec(),
                resync_only: Some(true),
            }),
            ..SyncRequest::default()
        };
        sessions.push((channel, sync));
    }

    // Baseline first, then syncs, over the same sessions.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (mut channel, sync) in sessions {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let sent = Instant::now();
                channel.ping_round_trip().await.unwrap();
                latencies.push(sent.elapsed());
            }
            (channel, sync, latencies)
        }));
    }
    let mut sessions = Vec::new();
    let mut ping_latencies = Vec::new();
    for task in tasks {
        let (channel, sync, latencies) = task.await.unwrap();
        ping_latencies.extend(latencies);
        sessions.push((channel, sync));
    }
    let pings = phase(started.elapsed(), ping_latencies);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (mut channel, sync) in sessions {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let sent = Instant::now();
                channel.send(&sync).await.unwrap();
                let answer = channel.receive().await.unwrap();
                assert_eq!(
                    answer.configuration_sync_response.unwrap().response_status,
                    SyncResponseStatus::NoDelta
                );
                latencies.push(sent.elapsed());
            }
            channel.close().await;
            latencies
        }));
    }
    let mut sync_latencies = Vec::new();
    for task in tasks {
        sync_latencies.extend(task.await.unwrap());
    }
    let syncs = phase(started.elapsed(), sync_latencies);

    println!(
        "endpoint_sync: {SESSIONS} encrypted Kaatcp sessions x {ROUNDS} rounds, standalone release node (SQLite)"
    );
    println!(
        "  baseline PINGREQ/PINGRESP: {:>8.0}/s  p50 {:>7.2?}  p99 {:>7.2?}",
        pings.per_second, pings.p50, pings.p99
    );
    println!(
        "  configuration syncs:       {:>8.0}/s  p50 {:>7.2?}  p99 {:>7.2?}",
        syncs.per_second, syncs.p50, syncs.p99
    );
    println!(
        "  ratio syncs/pings: {:.3}",
        syncs.per_second / pings.per_second
    );
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}
