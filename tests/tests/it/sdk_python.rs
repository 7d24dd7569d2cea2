//! The generated Python SDK against a live node, as a device maker uses it: download the archive
//! over REST, unpack it, `pip install` it into a fresh venv and run its example (`python -m
//! kaa_app.example`) through the device scenario over Kaatcp, once more bootstrapping and
//! syncing over HTTP, and with bad properties (a damaged bootstrap key, an unknown SDK token, an
//! unreachable first server), each of which must give an `ERROR` line, not a crash; and on a
//! two-node cluster, failing over when the first node is killed; two endpoints of one owner
//! exchanging typed events; and TLS towards Operations transports that require it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use kaa_tests::node::NodeBuilder;

use crate::sdk_support::{
    Example, PASSWORD, SdkFixture, device_scenario, expect_error, expect_skips_unreachable,
    failover_scenario, http_scenario, run_tool,
};

/// An unpacked and installed Python SDK.
struct Installed {
    /// The unpacked archive (`kaa-python-sdk-<token>`).
    sdk: PathBuf,
    /// The venv's interpreter.
    python: PathBuf,
}

/// Downloads the Python SDK, creates a fresh venv next to it and installs the SDK with pip.
async fn install(fixture: &SdkFixture) -> Installed {
    let sdk = fixture.unpack("python").await;
    let home = sdk.parent().unwrap().to_owned();
    run_tool(
        Command::new("python3")
            .args(["-m", "venv", "venv"])
            .current_dir(&home),
        "python3 -m venv",
    )
    .await;
    let python = home.join("venv/bin/python");
    run_tool(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .arg(&sdk)
            .current_dir(&home),
        "pip install the SDK",
    )
    .await;
    Installed { sdk, python }
}

impl Installed {
    /// The installed example with `state_dir`, `logs` records to upload and `transport`; run
    /// outside the unpacked folder so it imports the installed packages.
    fn example(&self, state_dir: &Path, logs: usize, transport: &str) -> Command {
        let mut command = Command::new(&self.python);
        command
            .args(["-m", "kaa_app.example"])
            .current_dir(self.sdk.parent().unwrap())
            .env("KAA_STATE_DIR", state_dir)
            .env("KAA_EXAMPLE_LOGS", logs.to_string())
            .env("KAA_TRANSPORT", transport);
        command
    }

    /// The example with `properties.py` changed by `python` (appended to a copy of the
    /// generated package, which the interpreter then imports instead of the installed one).
    fn example_with(&self, name: &str, python: &str, state_dir: &Path) -> Command {
        let copy = self.sdk.parent().unwrap().join(name);
        copy_dir(&self.sdk, &copy);
        let properties = copy.join("kaa_app/properties.py");
        let mut text = std::fs::read_to_string(&properties).unwrap();
        text.push_str(python);
        std::fs::write(&properties, text).unwrap();
        let mut command = self.example(state_dir, 0, "tcp");
        command.env("PYTHONPATH", &copy);
        command
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn the_python_sdk_installs_with_pip_and_runs_the_device_scenario_over_kaatcp_and_http() {
    let fixture = SdkFixture::start().await;
    let installed = install(&fixture).await;
    device_scenario(&fixture, "python-tcp", &|state, logs| {
        installed.example(state, logs, "tcp")
    })
    .await;

    // Bootstrap and the session over HTTP: the configuration set above, logs acknowledged.
    http_scenario(
        &fixture,
        installed.example(&fixture.state_dir("python-http"), 20, "http"),
    )
    .await;
}

#[tokio::test]
async fn the_python_sdk_reports_bad_properties_and_an_unreachable_server_without_crashing() {
    let fixture = SdkFixture::start().await;
    let installed = install(&fixture).await;

    // A damaged bootstrap key: the DER is cut short.
    let damaged = installed.example_with(
        "damaged-key",
        "BOOTSTRAP_SERVERS[0].public_key = BOOTSTRAP_SERVERS[0].public_key[:200]\n",
        &fixture.state_dir("damaged-key"),
    );
    expect_error(damaged, &["bootstrap server", "bad public key"]).await;

    // A key that still parses but is not the server's: one base64 character of its modulus
    // changed, so the server cannot unwrap the session key.
    let foreign = installed.example_with(
        "foreign-key",
        "key = BOOTSTRAP_SERVERS[0].public_key\n\
         BOOTSTRAP_SERVERS[0].public_key = key[:100] + (\"A\" if key[100] != \"A\" else \"B\") + key[101:]\n",
        &fixture.state_dir("foreign-key"),
    );
    expect_error(foreign, &["bootstrap", "refused", "CONNACK"]).await;

    // An SDK token the server does not know.
    let unknown = installed.example_with(
        "unknown-token",
        "SDK_TOKEN = \"NoSuchSdkToken42\"\n",
        &fixture.state_dir("unknown-token"),
    );
    expect_error(unknown, &["refused", "NoSuchSdkToken42"]).await;

    // An unreachable first server: an error naming it, then the next server of the list.
    let port = kaa_tests::node::free_port();
    let unreachable = installed.example_with(
        "unreachable-first",
        &format!(
            "BOOTSTRAP_SERVERS.insert(0, BootstrapServer(host=\"127.0.0.1\", tcp_port={port}, \
             http_port={port}, public_key=BOOTSTRAP_SERVERS[0].public_key))\n"
        ),
        &fixture.state_dir("unreachable-first"),
    );
    expect_skips_unreachable(unreachable, port).await;
}

#[tokio::test]
async fn the_python_sdk_bootstraps_from_both_nodes_of_a_cluster_and_fails_over() {
    let mut fixture = SdkFixture::two_nodes().await;
    let installed = install(&fixture).await;
    let properties = installed.sdk.join("kaa_app/properties.py");
    failover_scenario(
        &mut fixture,
        "python-failover",
        &|state, logs| installed.example(state, logs, "tcp"),
        &properties,
    )
    .await;
}

/// Two endpoints attach to one owner through the SDK profile's default (trustful) verifier; one
/// sends a typed `Ping`, the other receives it decoded, naming the sender.
const EVENTS_SCRIPT: &str = r#"
import base64, sys, threading
import kaa_app
from kaa_app import events

attached = [threading.Event(), threading.Event()]
received = []
arrived = threading.Event()

def client(index):
    def on_event(fqn, event, source):
        received.append((fqn, event, source))
        arrived.set()
    return kaa_app.create_client(
        state_dir=f"{sys.argv[1]}/{index}",
        on_owner_attached=lambda user: attached[index].set(),
        on_event=on_event,
        on_error=lambda message: print("ERROR", message, flush=True),
    )

sender, receiver = client(0), client(1)
sender.start()
receiver.start()
sender.attach_to_owner("alice", "alice-token")
receiver.attach_to_owner("alice", "alice-token")
assert attached[0].wait(60) and attached[1].wait(60), "both attached"
sender.send_event(events.Ping(n=7))
assert arrived.wait(60), "the event arrived"
fqn, event, source = received[0]
assert source == base64.b64encode(sender.key_hash).decode(), (source, sender.key_hash)
print("RECEIVED", fqn, event.to_json(), flush=True)
sender.stop()
receiver.stop()
"#;

#[tokio::test]
async fn two_python_endpoints_of_one_owner_exchange_typed_events() {
    let fixture = SdkFixture::start().await;
    let installed = install(&fixture).await;
    let mut command = Command::new(&installed.python);
    command
        .args(["-c", EVENTS_SCRIPT])
        .arg(fixture.state_dir("python-events"))
        .current_dir(installed.sdk.parent().unwrap());
    let mut script = Example::spawn(command);
    script
        .line(
            "RECEIVED",
            &["org.example.sdk.Ping", r#"{"n":7}"#],
            Duration::from_secs(120),
        )
        .await;
}

#[tokio::test]
async fn the_python_sdk_talks_tls_to_operations_servers_that_require_it() {
    let scratch = tempfile::tempdir().unwrap();
    let appender_root = scratch.path().join("appenders");
    let tls = kaa_tests::internode_tls::test_ca().node_files();
    let node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.file_appender_root", appender_root.display())
        .set("operations.tls_certificate", tls.cert.display())
        .set("operations.tls_private_key", tls.key.display())
        .start()
        .await;
    let fixture = SdkFixture::on(vec![node], scratch, appender_root).await;
    let installed = install(&fixture).await;

    // Without TLS the Operations server does not talk to the SDK: an error, no crash.
    let plain = installed.example(&fixture.state_dir("tls-plain"), 0, "tcp");
    expect_error(plain, &["Operations session"]).await;

    // Trusting the cluster's CA, over Kaatcp and over HTTP.
    let step = Duration::from_secs(90);
    for transport in ["tcp", "http"] {
        let state = fixture.state_dir(&format!("tls-{transport}"));
        let mut command = installed.example(&state, 5, transport);
        command.env("KAA_TLS_CA", &tls.ca);
        let mut device = Example::spawn(command);
        device.line("CONNECTED", &[], step).await;
        device.line("CONFIGURATION", &["hello-1"], step).await;
        device.line("LOGS_DELIVERED", &["5"], step).await;
        let status = device.stop().await;
        assert!(status.success(), "{transport}: {status:?}");
    }
}
