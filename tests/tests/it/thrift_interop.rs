//! Interop: Python's `thrift` package (PyPI), with client code the Apache compiler generates from
//! our IDL, calls a running `kaa-node` on its Thrift port (`tests/python/thrift_client.py`).
//! Passing proves the node speaks standard multiplexed, framed, binary Thrift, not just a dialect
//! our own client shares.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kaa_tests::node::{Node, NodeBuilder};
use serde_json::Value;

/// The venv `deploy/local/python-deps.sh` installs Python's `thrift` into.
fn python() -> PathBuf {
    let cache = std::env::var_os("KAA_INFRA_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/kaa-rs")))
        .expect("KAA_INFRA_CACHE or HOME is set");
    let python = cache.join("venv/bin/python");
    assert!(
        python.exists(),
        "{} does not exist: Python's thrift package is not installed; run \
         deploy/local/python-deps.sh (`make test` does)",
        python.display()
    );
    python
}

/// Runs the Python client against `node` and returns the JSON it prints.
async fn python_client(node: &Node, action: &str) -> Value {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new(python())
        .arg(tests_dir.join("python/thrift_client.py"))
        .arg("--idl")
        .arg(tests_dir.join("../idl/thrift"))
        .args(["--host", "127.0.0.1", "--port"])
        .arg(node.thrift.port().to_string())
        .arg(action)
        .output()
        .await
        .expect("run the Python thrift client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Python thrift client ({action}) failed ({}); if `thrift` does not import, run \
         deploy/local/python-deps.sh:\n{stderr}\nnode log:\n{}",
        output.status,
        node.log()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("python {action}: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn python_thrift_client_calls_a_running_node_and_shuts_it_down() {
    let mut node = NodeBuilder::standalone()
        .set("node.id", "interop-node")
        .spawn()
        .unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(20))
        .await
        .unwrap();

    let probe = python_client(&node, "probe").await;

    assert_eq!(probe["server_name"], "interop-node");
    let memory = &probe["memory_usage"];
    let (max, total, free) = (
        memory["max"].as_i64().unwrap(),
        memory["total"].as_i64().unwrap(),
        memory["free"].as_i64().unwrap(),
    );
    assert!(
        total > 1 << 20,
        "resident memory is at least 1 MiB: {memory}"
    );
    assert!(max >= total && free == max - total, "{memory}");

    assert_eq!(probe["help"]["status"], "OK");
    for command in ["status", "memory", "stats", "config", "shutdown"] {
        let help = probe["help"]["message"].as_str().unwrap();
        assert!(help.contains(command), "help lists {command}: {help}");
    }
    let status = probe["status"]["message"].as_str().unwrap();
    assert!(status.contains("node: interop-node"), "{status}");
    assert!(
        status.contains("services: control,operations,bootstrap"),
        "{status}"
    );
    assert!(
        status.contains(&format!("thrift: {}", node.thrift)),
        "{status}"
    );
    let report = probe["memory"]["message"].as_str().unwrap();
    assert!(report.contains("resident: "), "{report}");
    let config = probe["config"]["message"].as_str().unwrap();
    assert!(
        config.contains(&format!("thrift_port = {}", node.thrift.port())),
        "{config}"
    );
    assert_eq!(probe["no-such-command"]["status"], "ERROR");

    // What Python sent to OperationsService and BootstrapService arrived and was counted.
    let stats = probe["stats"]["message"].as_str().unwrap();
    assert!(stats.contains("notifications_received: 1"), "{stats}");
    assert!(stats.contains("server_list_updates_received: 1"), "{stats}");
    let metrics = node.get_text("/metrics").await;
    assert!(
        metrics.contains("kaa_internode_notifications_total 1"),
        "{metrics}"
    );

    let shutdown = python_client(&node, "shutdown").await;
    assert_eq!(shutdown["shutdown"], "ok");
    let exit = node.wait_exit(Duration::from_secs(20)).await.unwrap();
    let log = node.log();
    assert!(
        exit.success(),
        "clean exit after shutdown over thrift: {exit}\n{log}"
    );
    for line in [
        "metadata change notification received",
        "operations server list received",
        "shutdown requested over thrift",
        "stop thrift",
        "node stopped",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
}
