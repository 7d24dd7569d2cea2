//! Internode Thrift under mutual TLS, against real `kaa-node` processes: a `shutdown` call sent
//! over plain TCP, over TLS without a client certificate, and over TLS with a certificate of
//! another CA is never executed (the handshake refuses the peer first); with a certificate of
//! the cluster CA the same call works. Also: a standalone node's own CA, plaintext only when
//! asked for (with a warning), a cluster config without TLS refused by name, and `certs init`
//! never replacing a CA. Python's side is in `thrift_interop`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kaa_cluster::rpc::certs::TlsFiles;
use kaa_cluster::rpc::{ClientPool, ClientSettings, KaaNode, PeerAddr, RpcError, Security};
use kaa_idl::thrift::kaa_node::{CommandStatus, TKaaNodeServiceSyncClient};
use kaa_tests::internode_tls::{self, test_ca};
use kaa_tests::node::{Node, NodeBuilder, binary};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// `KaaNodeService.shutdown` as one framed, multiplexed, strict-binary Thrift call.
fn shutdown_call() -> Vec<u8> {
    let name = b"KaaNodeService:shutdown";
    let mut payload = Vec::new();
    payload.extend_from_slice(&0x8001_0001_u32.to_be_bytes()); // version 1, CALL
    payload.extend_from_slice(&u32::try_from(name.len()).unwrap().to_be_bytes());
    payload.extend_from_slice(name);
    payload.extend_from_slice(&1_u32.to_be_bytes()); // sequence id
    payload.push(0); // the empty argument struct's STOP
    let mut frame = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    frame.extend(payload);
    frame
}

/// Writes `request`, then reads until the peer closes, fails, or 5 s pass.
async fn exchange(mut stream: impl AsyncRead + AsyncWrite + Unpin, request: &[u8]) -> Vec<u8> {
    let mut answer = Vec::new();
    if stream.write_all(request).await.is_err() || stream.flush().await.is_err() {
        return answer;
    }
    let mut buf = [0; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(read)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..read]);
    }
    answer
}

fn is_thrift_reply(answer: &[u8]) -> bool {
    answer
        .windows(b"shutdown".len())
        .any(|window| window == b"shutdown")
}

fn roots(ca: &Path) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    Arc::new(roots)
}

/// A TLS client that trusts `ca` and presents `identity`, if any.
fn tls_client(ca: &Path, identity: Option<&TlsFiles>) -> TlsConnector {
    let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca));
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(files) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(&files.cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(&files.key).unwrap(),
            )
            .unwrap(),
    };
    TlsConnector::from(Arc::new(config))
}

/// Sends the shutdown call over TLS as `connector`; the answer, empty if the handshake failed.
async fn tls_shutdown(node: &Node, connector: &TlsConnector) -> Vec<u8> {
    let tcp = TcpStream::connect(node.thrift).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    match connector.connect(name, tcp).await {
        Ok(stream) => exchange(stream, &shutdown_call()).await,
        Err(_) => Vec::new(),
    }
}

async fn assert_still_running(node: &mut Node, attempt: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        node.is_running(),
        "{attempt}: the node ran the shutdown call:\n{}",
        node.log()
    );
}

fn peer(node: &Node) -> PeerAddr {
    PeerAddr::new("127.0.0.1", node.thrift.port())
}

async fn console(node: &Node, security: Security, line: &str) -> Result<String, RpcError> {
    let pool = ClientPool::<KaaNode>::new(ClientSettings::default(), security);
    let line = line.to_owned();
    let result = pool
        .call(&peer(node), move |client| client.execute_command(line))
        .await?;
    assert_eq!(result.status, Some(CommandStatus::OK), "{result:?}");
    Ok(result.message.unwrap_or_default())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A node of the test cluster CA (what every cluster-mode test node gets), run standalone so
/// that no ZooKeeper is needed: the Thrift server is the same.
fn node_of_the_test_ca() -> NodeBuilder {
    let files = test_ca().node_files();
    NodeBuilder::standalone()
        .set("cluster.tls_ca", files.ca.display())
        .set("cluster.tls_cert", files.cert.display())
        .set("cluster.tls_key", files.key.display())
}

#[tokio::test]
async fn thrift_without_a_client_certificate_of_the_cluster_ca_is_refused_and_with_one_it_works() {
    let mut node = node_of_the_test_ca().start().await;
    let ca = &test_ca().node_files().ca;

    let plain = TcpStream::connect(node.thrift).await.unwrap();
    let answer = exchange(plain, &shutdown_call()).await;
    assert!(!is_thrift_reply(&answer), "plain TCP got {answer:?}");
    assert_still_running(&mut node, "plain TCP").await;

    let answer = tls_shutdown(&node, &tls_client(ca, None)).await;
    assert!(
        !is_thrift_reply(&answer),
        "no client certificate got {answer:?}"
    );
    assert_still_running(&mut node, "TLS without a client certificate").await;

    let other_ca = tempfile::tempdir().unwrap();
    kaa_cluster::rpc::certs::init_ca(other_ca.path()).unwrap();
    let stranger = internode_tls::issue(other_ca.path(), "stranger", &other_ca.path().join("s"));
    let answer = tls_shutdown(&node, &tls_client(ca, Some(&stranger))).await;
    assert!(
        !is_thrift_reply(&answer),
        "another CA's certificate got {answer:?}"
    );
    assert_still_running(&mut node, "TLS with another CA's certificate").await;

    // Our own client with the stranger's identity fails too, and says why.
    let error = console(&node, Security::mutual_tls(&stranger).unwrap(), "status")
        .await
        .unwrap_err();
    assert!(
        matches!(error, RpcError::Handshake { .. } | RpcError::Call { .. }),
        "{error}"
    );
    let log = node.log();
    let refusals = log
        .matches("thrift peer refused in the TLS handshake")
        .count();
    assert!(refusals >= 3, "each refusal is logged ({refusals}):\n{log}");
    let stats = console(&node, test_ca().security(), "stats").await.unwrap();
    assert!(stats.contains("notifications_received: 0"), "{stats}");

    // With a certificate of the cluster CA the very same call is executed.
    let answer = tls_shutdown(&node, &tls_client(ca, Some(test_ca().node_files()))).await;
    assert!(
        is_thrift_reply(&answer),
        "a member's shutdown call got {answer:?}"
    );
    let exit = node.wait_exit(Duration::from_secs(20)).await.unwrap();
    assert!(exit.success(), "{exit}\n{}", node.log());
    assert!(node.log().contains("shutdown requested over thrift"));
}

#[tokio::test]
async fn a_standalone_node_makes_its_own_ca_and_serves_only_certificates_it_signed() {
    let mut node = NodeBuilder::standalone().start().await;
    let dir = node.data_dir().join("internode-tls");
    for key in ["ca.key", "node.key"] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key} is private");
    }

    // A client of another CA does not trust this node, nor this node it.
    let error = console(&node, test_ca().security(), "status")
        .await
        .unwrap_err();
    assert!(matches!(error, RpcError::Handshake { .. }), "{error}");

    // A client certificate issued from the node's own CA works.
    let client_dir = tempfile::tempdir().unwrap();
    let client = internode_tls::issue(&dir, "tool", client_dir.path());
    let status = console(&node, Security::mutual_tls(&client).unwrap(), "status")
        .await
        .unwrap();
    assert!(status.contains("mode: standalone"), "{status}");
    node.kill9();
}

#[tokio::test]
async fn plaintext_thrift_only_when_asked_for_and_then_with_a_warning() {
    let mut node = NodeBuilder::standalone()
        .set("cluster.insecure_plaintext", true)
        .start()
        .await;
    let log = node.log();
    assert!(
        log.lines()
            .any(|line| line.contains("WARN") && line.contains("internode thrift is plaintext")),
        "{log}"
    );
    // The raw call the refusal test sends is a real shutdown call.
    let plain = TcpStream::connect(node.thrift).await.unwrap();
    let answer = exchange(plain, &shutdown_call()).await;
    assert!(is_thrift_reply(&answer), "{answer:?}");
    let exit = node.wait_exit(Duration::from_secs(20)).await.unwrap();
    assert!(exit.success(), "{exit}\n{}", node.log());
}

#[test]
fn a_cluster_node_without_internode_tls_is_refused_by_name() {
    let output = Command::new(binary())
        .arg("check-config")
        .args(["--set", "zookeeper.insecure_open_acl=true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("cluster.tls_ca"), "{stderr}");
    assert!(stderr.contains("kaa-node certs"), "{stderr}");
}

#[test]
fn certs_init_never_replaces_a_ca() {
    let dir = tempfile::tempdir().unwrap();
    let init = || {
        Command::new(binary())
            .args(["certs", "init", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let first = init();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(mode(&dir.path().join("ca.key")), 0o600);
    let key = std::fs::read(dir.path().join("ca.key")).unwrap();
    let second = init();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already"));
    assert_eq!(std::fs::read(dir.path().join("ca.key")).unwrap(), key);
}
