//! What a host's setup runs before it starts a node: `kaa-node check-deps` against the real
//! ZooKeeper, PostgreSQL, Cassandra and MongoDB (and a refused port), and `kaa-node keys init`.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kaa_tests::infra;
use kaa_tests::node::{binary, free_port};

use crate::unique;

/// A cluster node's configuration with every service, on the servers of `deploy/local/infra.sh`:
/// ZooKeeper with the tests' credentials, PostgreSQL, and Cassandra in its datacenter.
fn cluster_config(dir: &std::path::Path) -> std::path::PathBuf {
    let toml = format!(
        r#"
[node]
data_dir = "{data_dir}"

[zookeeper]
connect = "{zookeeper}"
chroot = "/{chroot}"
auth = "{auth}"

[cluster]
insecure_plaintext = true

[sql]
url = "{sql}"

[endpoint_store]
backend = "cassandra"
contact_points = ["{cassandra}"]
keyspace = "{keyspace}"
datacenter = "datacenter1"
consistency = "local_quorum"
"#,
        data_dir = dir.join("data").display(),
        zookeeper = infra::zookeeper(),
        chroot = unique("check_deps"),
        auth = infra::ZOOKEEPER_AUTH,
        sql = infra::postgres(),
        cassandra = infra::cassandra(),
        keyspace = unique("check_deps"),
    );
    let file = dir.join("node.toml");
    std::fs::write(&file, toml).unwrap();
    file
}

/// Runs `kaa-node check-deps --config <file>` with `args` after it.
fn check_deps(config: &std::path::Path, args: &[&str]) -> (Output, Vec<String>) {
    let output = Command::new(binary())
        .arg("check-deps")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (output, lines)
}

#[tokio::test]
async fn check_deps_reaches_every_dependency_of_the_enabled_services() {
    for server in ["zookeeper", "postgresql", "cassandra", "mongodb"] {
        infra::ensure_up(server);
    }
    let _zk = infra::ZOOKEEPER_LOCK.read().await;
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_config(dir.path());

    let (output, lines) = check_deps(&config, &[]);
    assert!(
        output.status.success(),
        "{lines:?} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("ok zookeeper {} (", infra::zookeeper())),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("ok sql postgres://kaa:***@"),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "ok endpoint-store cassandra {}",
            infra::cassandra()
        )),
        "{lines:?}"
    );

    let mongodb = format!("endpoint_store.url={}", infra::mongodb());
    let (output, lines) = check_deps(
        &config,
        &["--set", "endpoint_store.backend=mongodb", "--set", &mongodb],
    );
    assert!(output.status.success(), "{lines:?}");
    assert!(
        lines[2].starts_with("ok endpoint-store mongodb "),
        "{lines:?}"
    );

    // Bootstrap alone opens neither the SQL database nor the endpoint store.
    let (output, lines) = check_deps(
        &config,
        &[
            "--set",
            "control.enabled=false",
            "--set",
            "operations.enabled=false",
        ],
    );
    assert!(output.status.success(), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("ok zookeeper "), "{lines:?}");

    // A datacenter the ring does not have would fail every LOCAL_QUORUM statement: refused.
    let (output, lines) = check_deps(&config, &["--set", "endpoint_store.datacenter=dc-nowhere"]);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert!(
        lines[2].starts_with("FAILED endpoint-store cassandra") && lines[2].contains("dc-nowhere"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn check_deps_fails_on_a_refused_port_within_the_timeout() {
    for server in ["zookeeper", "cassandra"] {
        infra::ensure_up(server);
    }
    let _zk = infra::ZOOKEEPER_LOCK.read().await;
    let dir = tempfile::tempdir().unwrap();
    let config = cluster_config(dir.path());
    let closed = free_port();
    let sql = format!("sql.url=postgres://kaa:hidden-secret@127.0.0.1:{closed}/kaa");

    binary(); // built before the clock starts
    let started = Instant::now();
    let (output, lines) = check_deps(&config, &["--set", &sql, "--timeout", "5s"]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert!(lines[0].starts_with("ok zookeeper "), "{lines:?}");
    let failed = format!("FAILED sql postgres://kaa:***@127.0.0.1:{closed}/kaa: ");
    assert!(lines[1].starts_with(&failed), "{lines:?}");
    assert!(!lines.concat().contains("hidden-secret"), "{lines:?}");
    assert!(lines[2].starts_with("ok endpoint-store "), "{lines:?}");
}

#[test]
fn keys_init_creates_the_node_keys_once_and_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let init = || {
        let output = Command::new(binary())
            .args(["keys", "init", "--data-dir"])
            .arg(&data_dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let first = init();
    assert!(first.starts_with("created the node key pair"), "{first}");
    let keys = data_dir.join("keys");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&keys.join("node.private")), 0o600);
    let public = std::fs::read(keys.join("node.public")).unwrap();
    let private = std::fs::read(keys.join("node.private")).unwrap();
    let printed = |label: &str, text: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in {text}"))
            .to_owned()
    };
    assert_eq!(
        printed("public key (X.509, base64): ", &first),
        base64::engine::general_purpose::STANDARD.encode(&public)
    );
    let fingerprint = printed("fingerprint (SHA-256, openssl dgst -sha256 -c): ", &first);
    assert_eq!(fingerprint.split(':').count(), 32, "{fingerprint}");
    use sha1::Digest as _;
    let sha1: String = sha1::Sha1::digest(&public)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(printed("SHA-1 (hex): ", &first), sha1);

    // Run again (the setup may be re-run): the pair is kept, never replaced.
    let second = init();
    assert!(second.starts_with("kept the node key pair"), "{second}");
    assert_eq!(
        printed("fingerprint (SHA-256, openssl dgst -sha256 -c): ", &second),
        fingerprint
    );
    assert_eq!(std::fs::read(keys.join("node.private")).unwrap(), private);
}
