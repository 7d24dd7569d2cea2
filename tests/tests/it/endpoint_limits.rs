//! The limits in front of the endpoint transports, on real nodes, each while a real endpoint (an
//! encrypted Kaatcp session of `kaa-loadgen`'s kind) keeps syncing: a CONNECT or an HTTP body
//! dribbled a byte at a time is cut at the connect deadline; a flood of connections over the
//! total and per-source caps is closed at once, counted by reason, and the caps free up when it
//! ends; 5,000 junk CONNECTs (`kaa-loadgen junk`) from 500 source addresses, each worth an RSA
//! unwrap, are answered or refused with CONNACK "server unavailable" by the bounded private-key
//! pool. Each test prints the endpoint's sync p99 during the abuse as a ratio to its p99 before
//! (printed, not asserted: the machine is shared) and asserts that no sync of it failed. Behind
//! TLS, connections count against the caps the same way (after their handshake).

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaa_idl::endpoint::kaatcp::{Connect, Frame};
use kaa_sdk::bootstrap::Transport;
use kaa_sdk::idl::endpoint::sync::SyncResponseResultType;
use kaa_sdk::keys::EndpointKeys;
use kaa_tests::loadgen::session::{Session, Target};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::endpoint_path::{PASSWORD, application, self_signed};

const TIMEOUT: Duration = Duration::from_secs(10);

/// How long the endpoint syncs before the abuse starts: its p99 baseline (~40 syncs).
const BEFORE: Duration = Duration::from_secs(1);

/// A standalone node with `limits` (`endpoint_limits.*` keys) and an application; its SDK token.
async fn node_with(limits: &[(&str, &str)]) -> (Node, String) {
    let mut builder = NodeBuilder::standalone_with_admin(PASSWORD);
    for (key, value) in limits {
        builder = builder.set(&format!("endpoint_limits.{key}"), value);
    }
    let node = builder.start().await;
    let (_developer, app) = application(&node).await;
    (node, app.sdk_token)
}

/// A registered endpoint with an open encrypted session, syncing its configuration back to back
/// (a short pause between syncs) until stopped.
struct Endpoint {
    stop: CancellationToken,
    syncing: tokio::task::JoinHandle<Vec<(Instant, Duration)>>,
}

impl Endpoint {
    async fn start(node: &Node, sdk_token: &str) -> Self {
        let bootstrap = format!("127.0.0.1:{}", node.port("bootstrap.tcp_port"));
        let target = Target::bootstrap(&bootstrap, sdk_token, Transport::Tcp, 60, TIMEOUT)
            .await
            .unwrap();
        let keys = EndpointKeys::generate().unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let (mut session, _) = Session::open(&Arc::new(target), 0, keys, None, local)
            .await
            .expect("the endpoint's session opens");
        let stop = CancellationToken::new();
        let until = stop.clone();
        let syncing = tokio::spawn(async move {
            let mut syncs = Vec::new();
            while !until.is_cancelled() {
                let request = session.configuration_sync();
                let began = Instant::now();
                let answer = session
                    .round_trip(&request)
                    .await
                    .unwrap_or_else(|e| panic!("sync {} of the endpoint failed: {e}", syncs.len()));
                assert_eq!(answer.status, SyncResponseResultType::Success);
                syncs.push((began, began.elapsed()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            syncs
        });
        Self { stop, syncing }
    }

    /// Stops syncing; prints the p99 of the syncs started in `during` against those before it.
    async fn finish(self, what: &str, during: (Instant, Instant)) {
        self.stop.cancel();
        let syncs = self.syncing.await.expect("no sync of the endpoint failed");
        let mut before: Vec<Duration> = syncs
            .iter()
            .filter(|(at, _)| *at < during.0)
            .map(|(_, took)| *took)
            .collect();
        let mut within: Vec<Duration> = syncs
            .iter()
            .filter(|(at, _)| *at >= during.0 && *at <= during.1)
            .map(|(_, took)| *took)
            .collect();
        assert!(
            before.len() >= 10 && within.len() >= 10,
            "{} syncs before and {} during {what}",
            before.len(),
            within.len()
        );
        let (quiet, busy) = (p99(&mut before), p99(&mut within));
        println!(
            "endpoint sync p99 during {what}: {:.1} ms ({} syncs) vs {:.1} ms before ({} syncs): ratio {:.2}",
            ms(busy),
            within.len(),
            ms(quiet),
            before.len(),
            busy.as_secs_f64() / quiet.as_secs_f64().max(1e-6)
        );
    }
}

fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort_unstable();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// A TCP connection to `target` from `source`.
async fn connect_from(source: &str, target: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    socket.connect(target).await.unwrap()
}

/// Whether the node closes `stream` within `within` (reading nothing but the end).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut sink = Vec::new();
    matches!(
        tokio::time::timeout(within, stream.read_to_end(&mut sink)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn a_connect_or_body_dribbled_a_byte_at_a_time_is_cut_at_the_connect_deadline() {
    let (node, sdk_token) = node_with(&[("connect_deadline", "2s")]).await;
    let endpoint = Endpoint::start(&node, &sdk_token).await;
    tokio::time::sleep(BEFORE).await;
    let kaatcp: SocketAddr = ([127, 0, 0, 1], node.port("operations.tcp_port")).into();
    let http: SocketAddr = ([127, 0, 0, 1], node.port("operations.http_port")).into();
    let connect = Frame::Connect(Box::new(Connect {
        next_protocol_id: 0,
        session_key: Some([1; 256]),
        signature: Some([2; 256]),
        keep_alive: 60,
        payload: vec![3; 200],
    }))
    .encode();
    let began = Instant::now();
    // One byte every 100 ms: the CONNECT would take 71 s to arrive whole.
    let dribble = |stream: TcpStream, bytes: Vec<u8>| {
        let (mut reader, mut writer) = stream.into_split();
        let writing = tokio::spawn(async move {
            for byte in bytes {
                if writer.write_all(&[byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        async move {
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(TIMEOUT, reader.read_to_end(&mut answer)).await;
            writing.abort();
            (began.elapsed(), answer)
        }
    };
    let kaatcp_cut = dribble(TcpStream::connect(kaatcp).await.unwrap(), connect);
    let mut stream = TcpStream::connect(http).await.unwrap();
    let head = format!(
        "POST /EP/Sync HTTP/1.1\r\nHost: {http}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 4000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let http_cut = dribble(stream, vec![b'x'; 4000]);
    let ((kaatcp_after, kaatcp_answer), (http_after, http_answer)) =
        tokio::join!(kaatcp_cut, http_cut);
    let during = (began, Instant::now());
    for (what, after) in [("kaatcp", kaatcp_after), ("http", http_after)] {
        println!("{what} dribbling client cut after {after:?}");
        assert!(
            after >= Duration::from_millis(1800) && after < Duration::from_secs(5),
            "{what} cut after {after:?}"
        );
    }
    assert!(kaatcp_answer.is_empty(), "no CONNACK: {kaatcp_answer:02x?}");
    let http_answer = String::from_utf8_lossy(&http_answer);
    assert!(http_answer.starts_with("HTTP/1.1 408"), "{http_answer}");
    for transport in ["kaatcp", "http"] {
        let series = format!(
            "kaa_endpoint_connect_deadline_exceeded_total{{service=\"operations\",transport=\"{transport}\"}}"
        );
        assert_eq!(node.metric(&series).await as u64, 1, "{series}");
    }
    endpoint.finish("two dribbling clients", during).await;
}

#[tokio::test]
async fn a_flood_over_the_connection_caps_is_closed_at_once_while_a_real_endpoint_keeps_syncing() {
    let (node, sdk_token) = node_with(&[
        ("max_connections", "60"),
        ("max_connections_per_address", "20"),
        ("connect_deadline", "60s"),
    ])
    .await;
    let endpoint = Endpoint::start(&node, &sdk_token).await;
    tokio::time::sleep(BEFORE).await;
    let kaatcp: SocketAddr = ([127, 0, 0, 1], node.port("operations.tcp_port")).into();
    let http: SocketAddr = ([127, 0, 0, 1], node.port("operations.http_port")).into();
    let began = Instant::now();
    // 30 connections from one source: 20 are held, 10 over the per-source cap.
    let mut held = Vec::new();
    let mut closed = 0;
    for _ in 0..30 {
        let mut stream = connect_from("127.0.9.1", kaatcp).await;
        if closed_within(&mut stream, Duration::from_millis(200)).await {
            closed += 1;
        } else {
            held.push(stream);
        }
    }
    assert_eq!(
        (held.len(), closed),
        (20, 10),
        "held and closed from one source"
    );
    // 120 more from 60 sources, Kaatcp and HTTP: the service holds 60 in all, the endpoint's
    // session one of them, so 39 more are held and 81 closed at once.
    let mut flood = Vec::new();
    for n in 0..120 {
        let source = format!("127.0.10.{}", n / 2 + 1);
        let target = if n % 2 == 0 { kaatcp } else { http };
        flood.push(connect_from(&source, target).await);
    }
    let checks = flood.into_iter().map(|mut stream| async move {
        let gone = closed_within(&mut stream, Duration::from_secs(1)).await;
        (gone, stream)
    });
    let checked = futures::future::join_all(checks).await;
    let flood_closed = checked.iter().filter(|(gone, _)| *gone).count();
    held.extend(
        checked
            .into_iter()
            .filter(|(gone, _)| !gone)
            .map(|(_, s)| s),
    );
    let during = (began, Instant::now());
    println!(
        "flood: {} connections held, {} closed at once ({} over the per-source cap)",
        held.len(),
        closed + flood_closed,
        closed
    );
    assert_eq!(flood_closed, 81, "closed over the total cap");
    assert_eq!(held.len(), 59);
    let refused = |transport: &str, reason: &str| {
        format!(
            "kaa_endpoint_connections_refused_total{{service=\"operations\",transport=\"{transport}\",reason=\"{reason}\"}}"
        )
    };
    let per_source = node.metric(&refused("kaatcp", "per_source")).await as u64;
    let total = node.metric(&refused("kaatcp", "total")).await as u64
        + node.metric(&refused("http", "total")).await as u64;
    assert_eq!((per_source, total), (10, 81));
    let open = "kaa_endpoint_connections{service=\"operations\"}";
    assert_eq!(node.metric(open).await as u64, 60);

    // The flood ends: its places come back, and a new endpoint is admitted.
    drop(held);
    let freed = Instant::now();
    while node.metric(open).await as u64 != 1 {
        assert!(freed.elapsed() < TIMEOUT, "places not freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let another = Endpoint::start(&node, &sdk_token).await;
    another.stop.cancel();
    endpoint
        .finish("a connection flood at the caps", during)
        .await;
}

#[tokio::test]
async fn junk_connects_from_500_addresses_are_answered_or_refused_while_a_real_endpoint_syncs() {
    const JUNK: usize = 5_000;
    let (node, sdk_token) = node_with(&[("key_workers", "1"), ("key_queue", "8")]).await;
    let endpoint = Endpoint::start(&node, &sdk_token).await;
    tokio::time::sleep(BEFORE).await;
    let began = Instant::now();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kaa-loadgen"))
        .args(["junk", "--quiet", "--concurrency", "64", "--sources", "500"])
        .args(["--endpoints", &JUNK.to_string()])
        .args([
            "--target",
            &format!("127.0.0.1:{}", node.port("operations.tcp_port")),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output)
        .await
        .expect("kaa-loadgen junk ends")
        .unwrap();
    let during = (began, Instant::now());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    println!("kaa-loadgen junk: {result}");
    assert_eq!(result["sources"], 500, "{result}");
    assert_eq!(result["errors"], serde_json::json!({}), "{result}");
    assert_eq!(result["closed_without_answer"], 0, "{result}");
    let answered = |code: &str| result["answered"][code].as_u64().unwrap_or(0);
    let (refused, unavailable) = (answered("BadCredentials"), answered("ServerUnavailable"));
    assert_eq!(
        refused + unavailable,
        JUNK as u64,
        "every CONNECT answered: {result}"
    );
    assert!(
        unavailable > 0,
        "the private-key queue (one worker, eight waiting) never filled: {result}"
    );
    assert!(refused > 0, "some junk reached the key work: {result}");
    assert_eq!(
        node.metric("kaa_endpoint_key_work_refused_total").await as u64,
        unavailable
    );
    endpoint.finish("5,000 junk CONNECTs", during).await;
}

#[tokio::test]
async fn connections_over_tls_count_against_the_per_source_cap_too() {
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    let certs = tempfile::tempdir().unwrap();
    let (certificate, key) = self_signed(certs.path());
    let node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.tls_certificate", certificate.display())
        .set("operations.tls_private_key", key.display())
        .set("endpoint_limits.max_connections_per_address", 2)
        .set("endpoint_limits.connect_deadline", "60s")
        .start()
        .await;
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&certificate).unwrap())
        .unwrap();
    let tls = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(tls));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let http: SocketAddr = ([127, 0, 0, 1], node.port("operations.http_port")).into();
    let kaatcp: SocketAddr = ([127, 0, 0, 1], node.port("operations.tcp_port")).into();
    let handshake = |address: SocketAddr| {
        let (connector, name) = (connector.clone(), name.clone());
        async move {
            let tcp = TcpStream::connect(address).await.unwrap();
            connector.connect(name, tcp).await
        }
    };
    // One HTTPS and one Kaatcp-over-TLS connection from 127.0.0.1 take its two places.
    let _held = (
        handshake(http).await.unwrap(),
        handshake(kaatcp).await.unwrap(),
    );
    let open = "kaa_endpoint_connections{service=\"operations\"}";
    let began = Instant::now();
    while node.metric(open).await as u64 != 2 {
        assert!(
            began.elapsed() < TIMEOUT,
            "the TLS connections are not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A third, over HTTPS: shut after its handshake, before any request.
    if let Ok(mut over) = handshake(http).await {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), over.read_to_end(&mut answer));
        assert!(read.await.is_ok(), "the connection over the cap stays open");
        assert!(answer.is_empty(), "{answer:?}");
    }
    let refused = "kaa_endpoint_connections_refused_total{service=\"operations\",transport=\"http\",reason=\"per_source\"}";
    assert_eq!(node.metric(refused).await as u64, 1);
    assert_eq!(node.metric(open).await as u64, 2);
}
