//! The `kaa-node` binary as an operator runs it: standalone start, health/readiness/metrics,
//! config layering and errors, graceful shutdown, and a cluster node's ZooKeeper readiness.

use std::process::Command;
use std::time::Duration;

use kaa_tests::infra;
use kaa_tests::node::{NodeBuilder, binary, free_port};
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::unique;

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

#[tokio::test]
async fn standalone_node_serves_health_ready_and_metrics_then_stops_on_sigterm() {
    let mut node = NodeBuilder::standalone().spawn().unwrap();
    let took = node
        .wait_for("/health", 200, Duration::from_secs(10))
        .await
        .unwrap();
    println!("standalone /health answered 200 after {took:?}");

    let (status, health) = get_json(&node.url("/health")).await;
    assert_eq!(status, 200);
    assert_eq!(
        health["services"],
        serde_json::json!(["control", "operations", "bootstrap"])
    );

    node.wait_for("/ready", 200, Duration::from_secs(10))
        .await
        .unwrap();
    let (_, ready) = get_json(&node.url("/ready")).await;
    assert_eq!(ready["checks"]["metadata-sql"]["ok"], true, "{ready}");
    assert_eq!(ready["checks"]["endpoint-store"]["ok"], true, "{ready}");
    assert!(
        ready["checks"].get("zookeeper").is_none(),
        "standalone needs no ZooKeeper: {ready}"
    );

    let metrics = node.get_text("/metrics").await;
    assert!(metrics.contains("kaa_node_info{"), "{metrics}");
    assert!(metrics.contains(r#"mode="standalone""#), "{metrics}");
    assert!(
        metrics.contains(r#"kaa_admin_requests_total{route="/health",status="200"}"#),
        "{metrics}"
    );

    node.signal(Signal::SIGTERM);
    let status = node.wait_exit(Duration::from_secs(15)).await.unwrap();
    assert!(
        status.success(),
        "clean exit after SIGTERM: {status}\n{}",
        node.log()
    );
    let log = node.log();
    for phase in [
        "drain and stop services",
        "leave zookeeper",
        "stop admin server",
        "node stopped",
    ] {
        assert!(log.contains(phase), "shutdown log lacks {phase:?}:\n{log}");
    }
}

#[tokio::test]
async fn node_starts_only_the_enabled_services() {
    let mut node = NodeBuilder::standalone()
        .set("operations.enabled", false)
        .set("bootstrap.enabled", false)
        .spawn()
        .unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(10))
        .await
        .unwrap();
    let (_, health) = get_json(&node.url("/health")).await;
    assert_eq!(health["services"], serde_json::json!(["control"]));
    let (_, ready) = get_json(&node.url("/ready")).await;
    assert!(
        ready["checks"].get("endpoint-store").is_none(),
        "operations did not start: {ready}"
    );
    let log = node.log();
    assert!(log.contains("control service started"), "{log}");
    assert!(!log.contains("operations service started"), "{log}");
    assert!(!log.contains("bootstrap service started"), "{log}");
}

#[tokio::test]
async fn command_line_wins_over_environment_which_wins_over_the_file() {
    let file_port = free_port();
    let env_port = free_port();
    let cli_port = free_port();
    let config = format!("[admin]\nport = {file_port}\n");
    // The builder's own admin.port comes last on the command line, so it wins over env and file.
    let mut node = NodeBuilder::with_config(config)
        .env("KAA_ADMIN__PORT", env_port)
        .set("node.mode", "standalone")
        .set("sql.url", "sqlite://{data_dir}/metadata.db")
        .set("endpoint_store.backend", "sql")
        .set("endpoint_store.url", "sqlite://{data_dir}/endpoints.db")
        .set("admin.port", cli_port)
        .spawn()
        .unwrap();
    assert_eq!(node.admin.port(), cli_port);
    node.wait_for("/health", 200, Duration::from_secs(10))
        .await
        .unwrap();

    // Without the flag, the environment wins over the file.
    let output = Command::new(binary())
        .args(["check-config", "--standalone"])
        .env("KAA_ADMIN__PORT", env_port.to_string())
        .output()
        .unwrap();
    assert!(output.status.success());
    let effective = String::from_utf8(output.stdout).unwrap();
    assert!(
        effective.contains(&format!("port = {env_port}")),
        "{effective}"
    );
}

#[test]
fn invalid_config_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[admin]\nprot = 8080\n", vec![], "prot"),
        ("[admin]\nport = \"lots\"\n", vec![], "admin.port"),
        (
            "",
            vec![("KAA_ZOOKEEPER__SESSION_TIMEOUT", "soon")],
            "zookeeper.session_timeout",
        ),
        (
            "[operations]\nhttp_port = 8080\n",
            vec![],
            "operations.http_port",
        ),
        (
            "[endpoint_store]\nbackend = \"oracle\"\n",
            vec![],
            "endpoint_store.backend",
        ),
    ];
    for (toml, env, key) in cases {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, toml).unwrap();
        let output = Command::new(binary())
            .arg("--config")
            .arg(&file)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{toml:?} must be refused");
        assert!(
            stderr.contains(key),
            "error for {toml:?} must name {key}: {stderr}"
        );
    }
}

#[test]
fn printed_default_config_is_a_valid_config_file() {
    let output = Command::new(binary()).arg("print-config").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for section in [
        "[node]",
        "[admin]",
        "[zookeeper]",
        "[cluster]",
        "[control]",
        "[operations]",
        "[bootstrap]",
        "[sql]",
        "[endpoint_store]",
        "[shutdown]",
        "[log]",
    ] {
        assert!(text.contains(section), "print-config lacks {section}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.toml");
    std::fs::write(&file, &text).unwrap();
    // What a cluster node must add: its internode TLS files and ZooKeeper credentials.
    let tls = kaa_tests::internode_tls::test_ca().node_files();
    let check = Command::new(binary())
        .arg("check-config")
        .arg("--config")
        .arg(&file)
        .args(["--set", &format!("cluster.tls_ca={}", tls.ca.display())])
        .args(["--set", &format!("cluster.tls_cert={}", tls.cert.display())])
        .args(["--set", &format!("cluster.tls_key={}", tls.key.display())])
        .args(["--set", "zookeeper.auth=kaa:secret"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// A cluster node on SQLite storage whose only external dependency is ZooKeeper.
fn cluster_node(zookeeper: &str, chroot: &str) -> NodeBuilder {
    NodeBuilder::with_config("")
        .set("zookeeper.connect", zookeeper)
        .set("zookeeper.chroot", chroot)
        .set("sql.url", "sqlite://{data_dir}/metadata.db")
        .set("endpoint_store.backend", "sql")
        .set("endpoint_store.url", "sqlite://{data_dir}/endpoints.db")
}

#[tokio::test]
async fn cluster_node_is_ready_only_with_zookeeper() {
    let _zk = infra::ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("ready"));
    let mut node = cluster_node(&infra::zookeeper(), &chroot).spawn().unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(15))
        .await
        .unwrap_or_else(|e| panic!("{}", infra::unreachable("zookeeper", e)));
    let (_, ready) = get_json(&node.url("/ready")).await;
    assert_eq!(ready["checks"]["zookeeper"]["ok"], true, "{ready}");

    // No ZooKeeper on this port: alive, but not ready, and the reason names ZooKeeper.
    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut lonely = cluster_node(&nowhere, &chroot).spawn().unwrap();
    lonely
        .wait_for("/health", 200, Duration::from_secs(10))
        .await
        .unwrap();
    let (status, ready) = get_json(&lonely.url("/ready")).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["zookeeper"]["ok"], false, "{ready}");
    assert_eq!(ready["checks"]["metadata-sql"]["ok"], true, "{ready}");
    assert!(
        lonely.log().contains("zookeeper unreachable"),
        "{}",
        lonely.log()
    );

    lonely.signal(Signal::SIGTERM);
    assert!(
        lonely
            .wait_exit(Duration::from_secs(15))
            .await
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn the_admin_port_speaks_https_only_when_given_a_certificate() {
    // The test CA's node certificate names 127.0.0.1, so it serves as the admin certificate too.
    let files = kaa_tests::internode_tls::test_ca().node_files();
    let mut node = NodeBuilder::standalone()
        .set("admin.tls_certificate", files.cert.display())
        .set("admin.tls_private_key", files.key.display())
        .spawn()
        .unwrap();
    let ca = std::fs::read(&files.ca).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let https = format!("https://{}/health", node.admin);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let health = loop {
        match trusting.get(&https).send().await {
            Ok(response) => break response,
            Err(error) if std::time::Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("no https answer: {error}\n{}", node.log()),
        }
    };
    assert_eq!(health.status().as_u16(), 200);

    // Plain HTTP on the same port gets no answer, and a client that does not trust the
    // certificate's CA refuses the server.
    assert!(
        reqwest::get(node.url("/health")).await.is_err(),
        "plain HTTP answered on a TLS admin port"
    );
    assert!(
        reqwest::get(&https).await.is_err(),
        "an untrusted certificate was accepted"
    );
    assert!(
        !node.log().contains("the admin port speaks plain HTTP"),
        "{}",
        node.log()
    );

    node.signal(Signal::SIGTERM);
    assert!(
        node.wait_exit(Duration::from_secs(15))
            .await
            .unwrap()
            .success()
    );
}
