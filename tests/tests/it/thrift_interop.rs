//! Interop: Python's `thrift` package (PyPI), with client code the Apache compiler generates from
//! our IDL, calls a running `kaa-node` on its Thrift port (`tests/python/thrift_client.py`).
//! Passing proves the node speaks standard multiplexed, framed, binary Thrift, not just a dialect
//! our own client shares, and standard TLS: Python's `ssl` checks the node's certificate against
//! the standalone node's own CA and presents a client certificate issued from it with
//! `kaa-node certs issue`, as an operator's tool would; without one it is refused.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use kaa_tests::node::{Node, NodeBuilder, binary};
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

/// The TLS files the Python client connects with.
struct ClientTls {
    ca: PathBuf,
    /// Certificate and key, or none.
    identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    /// A client certificate for the standalone `node`, issued with `kaa-node certs issue` from
    /// the CA the node made in its data dir, into `out`.
    fn issued_for(node: &Node, out: &Path) -> Self {
        let ca_dir = node.data_dir().join("internode-tls");
        let issued = std::process::Command::new(binary())
            .args([
                "certs",
                "issue",
                "--name",
                "python-client",
                "--ip",
                "127.0.0.1",
            ])
            .arg("--ca-dir")
            .arg(&ca_dir)
            .arg("--out")
            .arg(out)
            .output()
            .expect("run kaa-node certs issue");
        assert!(
            issued.status.success(),
            "{}",
            String::from_utf8_lossy(&issued.stderr)
        );
        Self {
            ca: out.join("ca.pem"),
            identity: Some((out.join("python-client.pem"), out.join("python-client.key"))),
        }
    }
}

/// Runs the Python client against `node` over TLS.
async fn run_python_client(node: &Node, action: &str, tls: &ClientTls) -> Output {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = tokio::process::Command::new(python());
    command
        .arg(tests_dir.join("python/thrift_client.py"))
        .arg("--idl")
        .arg(tests_dir.join("../idl/thrift"))
        .args(["--host", "127.0.0.1", "--port"])
        .arg(node.thrift.port().to_string())
        .arg("--ca")
        .arg(&tls.ca);
    if let Some((cert, key)) = &tls.identity {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    command
        .arg(action)
        .output()
        .await
        .expect("run the Python thrift client")
}

/// Runs the Python client against `node` and returns the JSON it prints.
async fn python_client(node: &Node, action: &str, tls: &ClientTls) -> Value {
    let output = run_python_client(node, action, tls).await;
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
    let client_dir = tempfile::tempdir().unwrap();
    let tls = ClientTls::issued_for(&node, client_dir.path());

    // Without a client certificate the node refuses the connection: nothing is called.
    let anonymous = ClientTls {
        ca: tls.ca.clone(),
        identity: None,
    };
    let refused = run_python_client(&node, "probe", &anonymous).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && refused.stdout.is_empty(),
        "a client without a certificate is refused: {stderr}"
    );
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(
        node.log()
            .contains("thrift peer refused in the TLS handshake"),
        "{}",
        node.log()
    );

    let probe = python_client(&node, "probe", &tls).await;

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

    let shutdown = python_client(&node, "shutdown", &tls).await;
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
