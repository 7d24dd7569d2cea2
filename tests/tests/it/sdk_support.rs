//! What the generated-SDK tests share: an application whose SDK profile pins schemas of every Avro
//! kind (the fixture), downloading and unpacking its archive in a fresh folder as a device maker
//! would, driving an SDK's example program through its stdout lines, and the device scenario of
//! issue 13's "done means" that every target must pass.
//!
//! The example program's contract (each target generates one): environment `KAA_STATE_DIR`,
//! `KAA_EXAMPLE_LOGS`, `KAA_TRANSPORT`; stdout lines `KEY_HASH <base64>`,
//! `STORED_CONFIGURATION <json>`, `CONNECTED <host:port>`, `CONFIGURATION <json>`,
//! `NOTIFICATION <topic> <json>`, `LOGS_DELIVERED <n>`, `ERROR <message>`; SIGTERM stops it with
//! exit code 0.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kaa_tests::api::{ApiClient, expect, id, mandatory_topic, new_application};
use kaa_tests::infra::{self, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The first admin's password on fixture nodes.
pub(crate) const PASSWORD: &str = "sdk-devices-1";

/// How long one step of a scenario may take (generous: CI machines are slow and shared).
const STEP: Duration = Duration::from_secs(90);

/// The log records the scenario uploads.
pub(crate) const SCENARIO_LOGS: usize = 1000;

/// The client profile every example registers with: its schema's defaults.
pub(crate) fn default_profile() -> Value {
    json!({"model": "kaa-board", "firmwareVersion": 3, "kind": "SENSOR",
           "tags": ["lab", "floor-1"], "serial": null})
}

fn profile_schema() -> Value {
    json!({"type": "record", "name": "DeviceProfile", "namespace": "org.example.sdk", "fields": [
        {"name": "model", "type": "string", "default": "kaa-board"},
        {"name": "firmwareVersion", "type": "int", "default": 3},
        {"name": "kind", "type": {"type": "enum", "name": "DeviceKind", "symbols": ["SENSOR", "GATEWAY"]},
         "default": "SENSOR"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": ["lab", "floor-1"]},
        {"name": "serial", "type": ["null", "string"], "default": null}]})
}

fn configuration_schema() -> Value {
    json!({"type": "record", "name": "DeviceConfiguration", "namespace": "org.example.sdk", "fields": [
        {"name": "greeting", "type": "string", "default": "hello"},
        {"name": "intervalMs", "type": "long", "default": 1000},
        {"name": "ratio", "type": "double", "default": 0.5},
        {"name": "enabled", "type": "boolean", "default": true},
        {"name": "thresholds", "type": {"type": "map", "values": "float"}, "default": {}},
        {"name": "location", "type": {"type": "record", "name": "Location", "fields": [
            {"name": "lat", "type": "double", "default": 0.0},
            {"name": "lon", "type": "double", "default": 0.0}]},
         "default": {"lat": 0.0, "lon": 0.0}},
        {"name": "calibration", "type": {"type": "fixed", "name": "Calibration", "size": 4},
         "default": "\u{0}\u{1}\u{2}\u{3}"},
        {"name": "blob", "type": "bytes", "default": ""},
        {"name": "mode", "type": ["null", {"type": "enum", "name": "Mode", "symbols": ["ECO", "TURBO"]}],
         "default": null},
        {"name": "servers", "type": {"type": "array", "items": "Location"}, "default": []}]})
}

fn notification_schema() -> Value {
    json!({"type": "record", "name": "Alert", "namespace": "org.example.sdk", "fields": [
        {"name": "message", "type": "string"},
        {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["INFO", "WARN"]},
         "default": "INFO"}]})
}

fn log_schema() -> Value {
    json!({"type": "record", "name": "Reading", "namespace": "org.example.sdk", "fields": [
        {"name": "seq", "type": "long"},
        {"name": "value", "type": "double", "default": 1.5},
        {"name": "unit", "type": ["null", "string"], "default": null},
        {"name": "raw", "type": "bytes", "default": ""}]})
}

/// A configuration of the fixture's schema with `greeting` and some values of every kind.
pub(crate) fn configuration(greeting: &str) -> Value {
    json!({"greeting": greeting, "intervalMs": 2500, "ratio": 0.25, "enabled": true,
           "thresholds": {"temperature": 40.5}, "location": {"lat": 52.5, "lon": 13.4},
           "calibration": "\u{9}\u{8}\u{7}\u{6}", "blob": "\u{1}\u{2}",
           "mode": {"org.example.sdk.Mode": "TURBO"},
           "servers": [{"lat": 1.0, "lon": 2.0}]})
}

/// A node and an application whose SDK profile pins a schema of every kind, with a group `all`
/// configuration, a mandatory topic and a file appender that confirms delivery.
pub(crate) struct SdkFixture {
    /// The nodes; API calls go to the first (the Control leader).
    pub(crate) nodes: Vec<Node>,
    /// A TENANT_DEVELOPER of the application's tenant.
    pub(crate) developer: ApiClient,
    /// `/api/v1/applications/<id>`.
    pub(crate) app: String,
    /// The SDK profile's id.
    pub(crate) profile_id: String,
    /// Its SDK token.
    pub(crate) sdk_token: String,
    /// Group `all`.
    pub(crate) all_group: String,
    /// The mandatory topic `alerts`.
    pub(crate) topic_id: String,
    /// Where the file appender writes (on the node the endpoint's logs reach).
    pub(crate) appender_root: PathBuf,
    /// Scratch space: unpacked SDKs, state dirs.
    pub(crate) scratch: tempfile::TempDir,
    /// What must live as long as the fixture (a cluster's databases, the ZooKeeper lock).
    _keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl SdkFixture {
    /// A standalone node with the fixture application.
    pub(crate) async fn start() -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let appender_root = scratch.path().join("appenders");
        let node = NodeBuilder::standalone_with_admin(PASSWORD)
            .set("operations.file_appender_root", appender_root.display())
            .start()
            .await;
        Self::on(vec![node], scratch, appender_root).await
    }

    /// A two-node cluster in ZooKeeper (PostgreSQL metadata, Cassandra endpoint store), both
    /// nodes running Operations and Bootstrap: `node-a-edge` first (it sorts first in the
    /// bootstrap list), `node-b-control` second, which also runs Control and answers the API.
    pub(crate) async fn two_nodes() -> Self {
        let zookeeper = ZOOKEEPER_LOCK.read().await;
        infra::ensure_up("postgresql");
        infra::ensure_up("cassandra");
        let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
        let keyspace = infra::fresh_keyspace().await;
        let chroot = format!("/{}", crate::unique("sdk_cluster"));
        let scratch = tempfile::tempdir().unwrap();
        let appender_root = scratch.path().join("appenders");
        let node = |id: &str, control: bool| {
            NodeBuilder::cluster_member(&chroot, id, PASSWORD)
                .set("control.enabled", control)
                .set("sql.url", &database.url)
                .set("endpoint_store.backend", "cassandra")
                .set("endpoint_store.keyspace", &keyspace.name)
                .set("operations.file_appender_root", appender_root.display())
        };
        let mut edge = node("node-a-edge", false).spawn().unwrap();
        let mut control = node("node-b-control", true).spawn().unwrap();
        for node in [&mut edge, &mut control] {
            node.wait_for("/ready", 200, Duration::from_secs(60))
                .await
                .unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let view = control.get_json("/cluster").await;
            let bootstrap = view
                .as_ref()
                .and_then(|v| v["bootstrap"].as_array().map(Vec::len));
            if bootstrap == Some(2) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{view:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut fixture = Self::on(vec![control, edge], scratch, appender_root).await;
        fixture._keep = vec![Box::new(zookeeper), Box::new(database), Box::new(keyspace)];
        fixture
    }

    /// The fixture application on running `nodes` (the first leads Control; each was started
    /// with `operations.file_appender_root` = `appender_root`).
    pub(crate) async fn on(
        nodes: Vec<Node>,
        scratch: tempfile::TempDir,
        appender_root: PathBuf,
    ) -> Self {
        let base = format!("http://{}", nodes[0].admin);
        let (developer, app) = new_application(&base, PASSWORD, "devices", "thermostat").await;
        for (kind, name, schema) in [
            ("client_profile", "device", profile_schema()),
            ("configuration", "settings", configuration_schema()),
            ("notification", "alert", notification_schema()),
            ("log", "reading", log_schema()),
        ] {
            expect(
                &developer
                    .post(
                        &format!("{app}/schemas/{kind}"),
                        json!({"name": name, "schema": schema}),
                    )
                    .await,
                201,
            );
        }
        let family = developer
            .post(
                "/api/v1/event-families",
                json!({"name": "sdk-events", "namespace": "org.example.sdk",
                       "class_name": "SdkEvents"}),
            )
            .await;
        expect(&family, 201);
        let record = |name: &str, field: &str, ty: &str| {
            json!({"type": "record", "name": name, "namespace": "org.example.sdk",
                   "fields": [{"name": field, "type": ty}]})
        };
        expect(
            &developer
                .post(
                    &format!("/api/v1/event-families/{}/versions", id(&family)),
                    json!({"classes": [
                        {"schema": record("Ping", "n", "int"), "kind": "event"},
                        {"schema": record("Pong", "text", "string"), "kind": "event"}]}),
                )
                .await,
            201,
        );
        let map = developer
            .post(
                &format!("{app}/event-maps"),
                json!({"family_id": id(&family), "version": 1,
                       "actions": {"org.example.sdk.Ping": "both", "org.example.sdk.Pong": "sink"}}),
            )
            .await;
        expect(&map, 201);
        let verifier = developer
            .post(
                &format!("{app}/user-verifiers"),
                json!({"name": "trust", "type": "trustful"}),
            )
            .await;
        expect(&verifier, 201);
        let groups = developer.get(&format!("{app}/groups")).await;
        let all_group = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
        let topic_id = mandatory_topic(&developer, &app, &all_group, "alerts").await;
        expect(
            &developer
                .post(
                    &format!("{app}/log-appenders"),
                    json!({"name": "readings", "type": "file", "confirm_delivery": true,
                           "settings": {"path": "readings.log"}}),
                )
                .await,
            201,
        );
        let sdk = developer
            .post(
                &format!("{app}/sdk-profiles"),
                json!({"name": "devices-v1", "client_profile_version": 1,
                       "configuration_version": 1, "notification_version": 1, "log_version": 1,
                       "event_map_ids": [id(&map)], "default_verifier": id(&verifier)}),
            )
            .await;
        expect(&sdk, 201);
        let fixture = Self {
            nodes,
            developer,
            app,
            profile_id: id(&sdk),
            sdk_token: sdk.body["sdk_token"].as_str().unwrap().to_owned(),
            all_group,
            topic_id,
            appender_root,
            scratch,
            _keep: Vec::new(),
        };
        fixture.set_greeting("hello-1").await;
        fixture
    }

    /// The SDK archive for `target` as the REST API answers it: status, headers, bytes.
    pub(crate) async fn download(&self, target: &str) -> reqwest::Response {
        let url = format!(
            "http://{}{}/sdk-profiles/{}/sdk?target={target}",
            self.nodes[0].admin, self.app, self.profile_id
        );
        reqwest::Client::new()
            .get(url)
            .bearer_auth(self.developer.token().unwrap())
            .send()
            .await
            .unwrap()
    }

    /// Downloads the `target` archive and unpacks it with `tar` into a fresh folder, as a device
    /// maker would; returns the SDK's folder (`kaa-<target>-sdk-<token>`).
    pub(crate) async fn unpack(&self, target: &str) -> PathBuf {
        let response = self.download(target).await;
        assert_eq!(response.status(), 200, "download the {target} SDK");
        let name = format!("kaa-{target}-sdk-{}", self.sdk_token);
        let home = tempfile::Builder::new()
            .prefix(&format!("device-maker-{target}-"))
            .tempdir_in(self.scratch.path())
            .unwrap()
            .keep();
        let archive = home.join(format!("{name}.tar.gz"));
        std::fs::write(&archive, response.bytes().await.unwrap()).unwrap();
        let status = std::process::Command::new("tar")
            .arg("xzf")
            .arg(&archive)
            .current_dir(&home)
            .status()
            .unwrap();
        assert!(status.success(), "tar xzf {}", archive.display());
        home.join(name)
    }

    /// A fresh state folder for one device.
    pub(crate) fn state_dir(&self, name: &str) -> PathBuf {
        let dir = self.scratch.path().join("state").join(name);
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        dir
    }

    /// Sets and activates group `all`'s configuration with `greeting`.
    pub(crate) async fn set_greeting(&self, greeting: &str) {
        let configurations = format!("{}/groups/{}/configurations", self.app, self.all_group);
        let draft = self
            .developer
            .post(
                &configurations,
                json!({"schema_version": 1, "body": configuration(greeting)}),
            )
            .await;
        expect(&draft, 201);
        let activated = self
            .developer
            .post(
                &format!("{configurations}/{}/activate", id(&draft)),
                json!({}),
            )
            .await;
        expect(&activated, 200);
    }

    /// Sends an `alerts` notification with `message`.
    pub(crate) async fn notify(&self, message: &str) {
        expect(
            &self
                .developer
                .post(
                    &format!("{}/topics/{}/notifications", self.app, self.topic_id),
                    json!({"body": {"message": message, "level": "WARN"}, "ttl_seconds": 600}),
                )
                .await,
            201,
        );
    }

    /// The application's endpoints as the admin API lists them.
    pub(crate) async fn endpoints(&self) -> Vec<Value> {
        let reply = self.developer.get(&format!("{}/endpoints", self.app)).await;
        expect(&reply, 200);
        reply.body["items"].as_array().cloned().unwrap_or_default()
    }

    /// The `seq` of every record the file appender stored, sorted, duplicates removed.
    pub(crate) fn stored_seqs(&self) -> Vec<i64> {
        let mut seqs: Vec<i64> = walk(&self.appender_root)
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "readings.log"))
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter_map(|l| l["event"]["seq"].as_i64())
                    .collect::<Vec<_>>()
            })
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// A running example program, read line by line.
pub(crate) struct Example {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line so far, for failure reports.
    seen: Vec<String>,
    /// Lines no [`Example::line`] call has taken yet.
    unmatched: Vec<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Example {
    /// Starts `command` with its stdout and stderr captured.
    pub(crate) fn spawn(mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        tokio::spawn(async move {
            let mut stdout = stdout.lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err.next_line().await {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            unmatched: Vec::new(),
            stderr,
        }
    }

    fn transcript(&self) -> String {
        let stderr = self.stderr.lock().unwrap();
        let tail: String = stderr
            .chars()
            .rev()
            .take(4000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "stdout so far:\n{}\nstderr (tail):\n{tail}",
            self.seen.join("\n")
        )
    }

    /// Waits for a line starting with `prefix` and holding every one of `words` — one printed
    /// since the last match or earlier but not matched yet, so lines that race each other (1,000
    /// logs delivered before a configuration change arrives) are not lost; fails the test with
    /// everything the program printed when none comes within `within` or the program ends.
    pub(crate) async fn line(&mut self, prefix: &str, words: &[&str], within: Duration) -> String {
        let wanted =
            |line: &str| line.starts_with(prefix) && words.iter().all(|w| line.contains(w));
        if let Some(i) = self.unmatched.iter().position(|line| wanted(line)) {
            return self.unmatched.remove(i);
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => {
                    let status = self.child.wait().await.ok();
                    panic!(
                        "the example ended ({status:?}) before `{prefix} {words:?}`\n{}",
                        self.transcript()
                    )
                }
                Err(_) => panic!(
                    "no `{prefix} {words:?}` within {within:?}\n{}",
                    self.transcript()
                ),
            };
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
            self.unmatched.push(line);
        }
    }

    /// Whether the program is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// Stops the program with SIGTERM and returns its exit status.
    pub(crate) async fn stop(mut self) -> ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("the example ignored SIGTERM\n{}", self.transcript()),
        }
    }
}

/// Builds the command that runs an SDK's example with `state_dir` and `logs` records to upload.
pub(crate) type ExampleCommand<'a> = &'a dyn Fn(&Path, usize) -> Command;

/// The endpoint key hash an example printed, as the admin API names endpoints.
fn key_from(line: &str) -> String {
    let hash = STANDARD
        .decode(line.trim_start_matches("KEY_HASH ").trim())
        .unwrap_or_else(|e| panic!("KEY_HASH is not base64 ({e}): {line}"));
    assert_eq!(hash.len(), 20, "a SHA-1 key hash: {line}");
    URL_SAFE_NO_PAD.encode(hash)
}

/// Issue 13's device run against the fixture: bootstrap from the baked-in list, register with
/// the typed profile (the admin API shows it decoded), receive the configuration, then a change
/// pushed after a REST edit, upload 1,000 typed logs (every one acknowledged and stored by the
/// confirming appender), receive a topic notification; restart: the configuration is still
/// there and the endpoint does not register again.
pub(crate) async fn device_scenario(fixture: &SdkFixture, name: &str, example: ExampleCommand<'_>) {
    let state = fixture.state_dir(name);
    let before = fixture.endpoints().await.len();
    let mut device = Example::spawn(example(&state, SCENARIO_LOGS));
    let key = key_from(&device.line("KEY_HASH", &[], STEP).await);
    device.line("CONFIGURATION", &["hello-1"], STEP).await;

    let endpoint = fixture
        .developer
        .get(&format!("{}/endpoints/{key}", fixture.app))
        .await;
    expect(&endpoint, 200);
    assert_eq!(
        endpoint.body["client_profile"],
        default_profile(),
        "the typed profile, decoded by the server"
    );

    fixture.set_greeting("hello-2").await;
    device.line("CONFIGURATION", &["hello-2"], STEP).await;

    let total = SCENARIO_LOGS.to_string();
    device
        .line("LOGS_DELIVERED", &[total.as_str()], STEP * 2)
        .await;
    let expected: Vec<i64> = (0..SCENARIO_LOGS as i64).collect();
    assert_eq!(
        fixture.stored_seqs(),
        expected,
        "every acknowledged record is stored"
    );

    fixture.notify("overheat-7").await;
    device.line("NOTIFICATION", &["overheat-7"], STEP).await;
    let status = device.stop().await;
    assert!(
        status.success(),
        "the example stops cleanly on SIGTERM: {status:?}"
    );

    // Restart: same key, the configuration from storage before any connection, no new endpoint.
    let mut device = Example::spawn(example(&state, 0));
    assert_eq!(
        key_from(&device.line("KEY_HASH", &[], STEP).await),
        key,
        "same key after a restart"
    );
    device
        .line("STORED_CONFIGURATION", &["hello-2"], STEP)
        .await;
    device.line("CONNECTED", &[], STEP).await;
    let endpoints = fixture.endpoints().await;
    assert_eq!(
        endpoints.len(),
        before + 1,
        "one endpoint after two runs: {endpoints:#?}"
    );
    let status = device.stop().await;
    assert!(status.success(), "{status:?}");
}

/// Runs `example` and waits for an `ERROR` line holding every one of `words`; the program must
/// still be running (it retries, it does not crash). Then stops it.
pub(crate) async fn expect_error(example: Command, words: &[&str]) -> String {
    let mut device = Example::spawn(example);
    let line = device.line("ERROR", words, STEP).await;
    assert!(
        device.is_running(),
        "the SDK reports `{line}` and keeps running"
    );
    device.stop().await;
    line
}

/// Issue 13's cluster run on [`SdkFixture::two_nodes`]: the archive's bootstrap list holds both
/// nodes; a device keeps getting configuration after the first node is killed, and a restarted
/// device, whose first bootstrap server is now dead, fails over to the second.
pub(crate) async fn failover_scenario(
    fixture: &mut SdkFixture,
    name: &str,
    example: ExampleCommand<'_>,
    bootstrap_list: &Path,
) {
    let baked = std::fs::read_to_string(bootstrap_list).unwrap();
    for node in &fixture.nodes {
        let port = node.port("bootstrap.tcp_port").to_string();
        assert!(
            baked.contains(&port),
            "bootstrap port {port} in {}",
            bootstrap_list.display()
        );
    }
    let state = fixture.state_dir(name);
    let mut device = Example::spawn(example(&state, 0));
    device.line("CONFIGURATION", &["hello-1"], STEP).await;
    // Kill the first bootstrap server (an Operations node too) without warning.
    fixture.nodes[1].kill9();
    fixture.set_greeting("hello-after-kill").await;
    device
        .line("CONFIGURATION", &["hello-after-kill"], STEP * 2)
        .await;
    assert!(device.stop().await.success());

    let mut device = Example::spawn(example(&state, 0));
    device
        .line("STORED_CONFIGURATION", &["hello-after-kill"], STEP)
        .await;
    let control_ops = fixture.nodes[0].port("operations.tcp_port").to_string();
    device
        .line("CONNECTED", &[control_ops.as_str()], STEP * 2)
        .await;
    fixture.notify("after-failover").await;
    device.line("NOTIFICATION", &["after-failover"], STEP).await;
    assert!(device.stop().await.success());
}

/// Runs a tool as a device maker would (cmake, cargo, python3 -m venv, pip), failing the test
/// with its output when it fails.
pub(crate) async fn run_tool(command: &mut Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `example`, whose baked-in bootstrap list starts with a server nobody answers on
/// `unreachable_port` (then the fixture's): an `ERROR` line names that server, then the device
/// connects to the next one and gets its configuration, still running.
pub(crate) async fn expect_skips_unreachable(example: Command, unreachable_port: u16) {
    let mut device = Example::spawn(example);
    device
        .line("ERROR", &[&format!("127.0.0.1:{unreachable_port}")], STEP)
        .await;
    device.line("CONNECTED", &[], STEP).await;
    device.line("CONFIGURATION", &["hello-1"], STEP).await;
    assert!(device.is_running());
    let status = device.stop().await;
    assert!(status.success(), "{status:?}");
}

/// A device over HTTP (`example` runs with `KAA_TRANSPORT=http` and 20 logs) after
/// [`device_scenario`]: it connects, gets the configuration set then (`hello-2`), has its 20
/// logs acknowledged and receives a notification.
pub(crate) async fn http_scenario(fixture: &SdkFixture, example: Command) {
    let mut device = Example::spawn(example);
    device.line("CONNECTED", &[], STEP).await;
    device.line("CONFIGURATION", &["hello-2"], STEP).await;
    device.line("LOGS_DELIVERED", &["20"], STEP).await;
    fixture.notify("over-http-3").await;
    device.line("NOTIFICATION", &["over-http-3"], STEP).await;
    let status = device.stop().await;
    assert!(status.success(), "{status:?}");
}
