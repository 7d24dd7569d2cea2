//! What the endpoint tests share: SDK clients bootstrapping from test nodes, waiting for their
//! events, and Avro's zig-zag varints for hand-made records.

use std::path::Path;
use std::time::Duration;

use kaa_sdk::client::{BootstrapServer, ClientConfig, Event, KaaClient};
use kaa_tests::api::ApiClient;
use kaa_tests::node::Node;
use serde_json::json;

/// `operations.outbound_allow` for nodes whose tenants' appenders and verifiers call the test
/// servers and stubs on this machine: loopback is refused unless the operator allows it.
pub const ALLOW_LOOPBACK: &str = r#"["127.0.0.0/8", "::1"]"#;

/// An SDK configuration bootstrapping from `nodes` over Kaatcp with access token
/// `access_token`, keys in `state`, quick retries; change fields for anything else.
pub fn endpoint_config(
    nodes: &[&Node],
    sdk_token: &str,
    access_token: &str,
    state: &Path,
) -> ClientConfig {
    ClientConfig {
        access_token: access_token.into(),
        timeout: Duration::from_secs(10),
        retry_delay: Duration::from_millis(200),
        keep_alive: 30,
        ..ClientConfig::new(
            nodes
                .iter()
                .map(|node| BootstrapServer {
                    address: format!("127.0.0.1:{}", node.port("bootstrap.tcp_port")),
                    http_address: None,
                    public_key: None,
                })
                .collect(),
            sdk_token,
            state,
        )
    }
}

/// Waits for the first event `pick` accepts, failing after `within` with `what`.
pub async fn wait_event<T>(
    client: &mut KaaClient,
    within: Duration,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let event = tokio::time::timeout_at(deadline, client.next_event())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("client stopped");
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

/// Starts a client with `start` (given a fresh state directory) until its first session is on
/// `server` ("host:port" of an Operations node), and returns it with its state directory. The
/// Bootstrap offers servers in a random order weighted by load, so a client lands on a given
/// node often but not always; twelve tries at even odds leave a failure once in 4,096 runs.
pub async fn connected_on(
    server: &str,
    mut start: impl FnMut(&Path) -> KaaClient,
) -> (KaaClient, tempfile::TempDir) {
    for attempt in 1.. {
        let state = tempfile::tempdir().unwrap();
        let mut client = start(state.path());
        let first = wait_event(
            &mut client,
            Duration::from_secs(30),
            "a session",
            |e| match e {
                Event::Connected(server) => Some(server.clone()),
                _ => None,
            },
        )
        .await;
        if first == server || attempt == 12 {
            assert_eq!(first, server, "the first session, after {attempt} starts");
            return (client, state);
        }
        client.stop().await;
    }
    unreachable!("the loop returns")
}

/// Creates a configuration `{interval}` (schema version 1) for `group` of application `app`
/// (its path) and activates it.
pub async fn activate_interval(developer: &ApiClient, app: &str, group: &str, interval: i32) {
    let configurations = format!("{app}/groups/{group}/configurations");
    let draft = developer
        .post(
            &configurations,
            json!({ "schema_version": 1, "body": {"interval": interval} }),
        )
        .await;
    assert_eq!(draft.status, 201, "{:#}", draft.body);
    let id = draft.body["id"].as_str().unwrap_or_default();
    let activated = developer
        .post(&format!("{configurations}/{id}/activate"), json!({}))
        .await;
    assert_eq!(activated.status, 200, "{:#}", activated.body);
}

/// Avro's encoding of an `int` or `long`: zig-zag, then a base-128 varint.
pub fn avro_long(n: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut zigzag = ((n << 1) ^ (n >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
    out
}

/// Reads the `int` or `long` at the start of `bytes`.
pub fn read_avro_long(bytes: &[u8]) -> i64 {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
    }
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[test]
fn avro_longs_round_trip() {
    for n in [
        0,
        1,
        -1,
        63,
        -64,
        64,
        300,
        -300,
        i64::from(i32::MAX),
        i64::MIN,
    ] {
        assert_eq!(read_avro_long(&avro_long(n)), n, "{n}");
    }
    assert_eq!(avro_long(1), [2]);
    assert_eq!(avro_long(-1), [1]);
}
