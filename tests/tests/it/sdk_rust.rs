//! The generated Rust SDK against a live node, as a device maker uses it: download the archive
//! over REST, unpack it, `cargo build` it (dependencies from crates.io) and run its example
//! (`kaa-example`) through the device scenario over Kaatcp, once more bootstrapping and syncing
//! over HTTP, and with bad properties in `kaa-application/src/properties.rs` (a damaged bootstrap
//! key, another server's key, an unknown SDK token, an unreachable first server), each of which
//! must give an `ERROR` line, not a crash; on a two-node cluster, whose nodes both sit in the
//! baked-in bootstrap list, failing over when the first is killed; typed code for knotty schemas
//! as the server encodes and decodes them; and two endpoints of one owner exchanging typed events
//! through the events example (`kaa-events-example`).
//!
//! The archive's sources are always fresh; the compiled crates.io dependencies are reused between
//! runs from one cargo target dir (`~/.cache/kaa-rs/sdk-rust-target`, or
//! `KAA_SDK_RUST_TARGET_DIR`). Builds into it take turns, and each copies its example out before
//! the next build replaces it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::Mutex;

use crate::sdk_support::{
    Example, SdkFixture, device_scenario, expect_error, expect_skips_unreachable,
    failover_scenario, http_scenario,
};

/// One build at a time in the shared target dir.
static BUILDS: Mutex<()> = Mutex::const_new(());

/// How long one step may take.
const STEP: Duration = Duration::from_secs(90);

/// The cargo target dir the archive builds share.
fn target_dir() -> PathBuf {
    match std::env::var_os("KAA_SDK_RUST_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME"))
            .join(".cache/kaa-rs/sdk-rust-target"),
    }
}

/// Builds the unpacked SDK at `sdk` with `cargo build` and returns its example program; both
/// examples (`kaa-example`, `kaa-events-example`) are copied into `sdk`.
async fn build(sdk: &Path) -> PathBuf {
    // Archive entries carry one fixed time, older than anything built, and cargo names a
    // workspace's units by their path inside it: in the shared target dir it would take another
    // archive's build for this one's. Touched once this build has its turn, the sources are newer
    // than every earlier build.
    let _turn = BUILDS.lock().await;
    touch(sdk);
    let target = target_dir();
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("build")
        .current_dir(sdk)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run cargo build");
    assert!(
        output.status.success(),
        "cargo build in {}: {}\n{}",
        sdk.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for program in ["kaa-example", "kaa-events-example"] {
        std::fs::copy(target.join("debug").join(program), sdk.join(program))
            .unwrap_or_else(|e| panic!("copy {program}: {e}"));
    }
    sdk.join("kaa-example")
}

/// The example at `program` with `state_dir`, `logs` records to upload and `transport`.
fn example(program: &Path, state_dir: &Path, logs: usize, transport: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env("KAA_STATE_DIR", state_dir)
        .env("KAA_EXAMPLE_LOGS", logs.to_string())
        .env("KAA_TRANSPORT", transport);
    command
}

/// A copy of the unpacked SDK `sdk` named `name` whose `properties.rs` `change` rewrote, built;
/// returns its example.
async fn built_with(sdk: &Path, name: &str, change: impl FnOnce(String) -> String) -> PathBuf {
    let copy = sdk.parent().unwrap().join(name);
    copy_dir(sdk, &copy);
    let properties = copy.join("kaa-application/src/properties.rs");
    let text = std::fs::read_to_string(&properties).unwrap();
    let changed = change(text.clone());
    assert_ne!(changed, text, "{name}: properties.rs unchanged");
    std::fs::write(&properties, changed).unwrap();
    build(&copy).await
}

/// Sets the modification time of every file under `dir` to now.
fn touch(dir: &Path) {
    let now = std::time::SystemTime::now();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            touch(&entry.path());
        } else {
            let file = std::fs::File::options()
                .write(true)
                .open(entry.path())
                .unwrap();
            file.set_modified(now).unwrap();
        }
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

/// The first `public_key: "<base64>"` value of `properties.rs`.
fn first_key(properties: &str) -> &str {
    properties
        .split("public_key: \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a bootstrap server key in properties.rs")
}

#[tokio::test]
async fn the_rust_sdk_builds_with_cargo_and_runs_the_device_scenario_over_kaatcp_and_http() {
    let fixture = SdkFixture::start().await;
    let sdk = fixture.unpack("rust").await;
    let program = build(&sdk).await;
    device_scenario(&fixture, "rust-tcp", &|state, logs| {
        example(&program, state, logs, "tcp")
    })
    .await;

    // Bootstrap and the session over HTTP: the configuration set above, logs acknowledged.
    let state = fixture.state_dir("rust-http");
    http_scenario(&fixture, example(&program, &state, 20, "http")).await;
}

#[tokio::test]
async fn the_rust_sdk_reports_bad_properties_and_an_unreachable_server_without_crashing() {
    let fixture = SdkFixture::start().await;
    let sdk = fixture.unpack("rust").await;

    // A damaged bootstrap key: the DER is cut short.
    let damaged = built_with(&sdk, "damaged-key", |text| {
        let key = first_key(&text).to_owned();
        text.replacen(&key, &key[..200], 1)
    })
    .await;
    let state = fixture.state_dir("damaged-key");
    expect_error(
        example(&damaged, &state, 0, "tcp"),
        &["bootstrap server", "bad public key"],
    )
    .await;

    // A key that still parses but is not the server's: one Base64 character of its modulus
    // changed, so the server cannot unwrap the session key.
    let foreign = built_with(&sdk, "foreign-key", |text| {
        let key = first_key(&text).to_owned();
        let swapped = if &key[100..101] == "A" { "B" } else { "A" };
        let changed = format!("{}{swapped}{}", &key[..100], &key[101..]);
        text.replacen(&key, &changed, 1)
    })
    .await;
    let state = fixture.state_dir("foreign-key");
    expect_error(
        example(&foreign, &state, 0, "tcp"),
        &["bootstrap server", "refused", "CONNACK"],
    )
    .await;

    // An SDK token the server does not know.
    let token = format!("pub const SDK_TOKEN: &str = {:?};", fixture.sdk_token);
    let unknown = built_with(&sdk, "unknown-token", |text| {
        text.replace(&token, "pub const SDK_TOKEN: &str = \"NoSuchSdkToken42\";")
    })
    .await;
    let state = fixture.state_dir("unknown-token");
    expect_error(
        example(&unknown, &state, 0, "tcp"),
        &["refused", "NoSuchSdkToken42"],
    )
    .await;

    // An unreachable first server: an error naming it, then the next server of the list.
    let port = kaa_tests::node::free_port();
    let unreachable = built_with(&sdk, "unreachable-first", |text| {
        let key = first_key(&text).to_owned();
        text.replacen(
            "pub const BOOTSTRAP_SERVERS: &[BootstrapServer] = &[\n",
            &format!(
                "pub const BOOTSTRAP_SERVERS: &[BootstrapServer] = &[\n    BootstrapServer {{\n        \
                 host: \"127.0.0.1\",\n        tcp_port: Some({port}),\n        http_port: Some({port}),\n        \
                 public_key: \"{key}\",\n    }},\n"
            ),
            1,
        )
    })
    .await;
    expect_skips_unreachable(
        example(
            &unreachable,
            &fixture.state_dir("unreachable-first"),
            0,
            "tcp",
        ),
        port,
    )
    .await;
}

#[tokio::test]
async fn the_rust_sdk_bootstraps_from_both_nodes_of_a_cluster_and_fails_over() {
    let mut fixture = SdkFixture::two_nodes().await;
    let sdk = fixture.unpack("rust").await;
    let program = build(&sdk).await;
    let properties = sdk.join("kaa-application/src/properties.rs");
    failover_scenario(
        &mut fixture,
        "rust-failover",
        &|state, logs| example(&program, state, logs, "tcp"),
        &properties,
    )
    .await;
}

/// A schema with what the fixture's lacks: a union of four branches (one a record), a record
/// that contains itself, `[T, "null"]`, a map of arrays of unions, a NaN default, Rust keywords
/// and names the generated code uses as field, type and symbol names.
fn knotty_schema() -> serde_json::Value {
    serde_json::json!({"type": "record", "name": "Node", "namespace": "org.example.knots", "fields": [
        {"name": "type", "type": "string", "default": "x"},
        {"name": "self", "type": "int", "default": 1},
        {"name": "value", "type": ["int", "string", "null", {"type": "record", "name": "Inner",
            "fields": [{"name": "Self", "type": "long", "default": 2}]}], "default": 5},
        {"name": "next", "type": ["null", "Node"], "default": null},
        {"name": "children", "type": {"type": "array", "items": "Node"}, "default": []},
        {"name": "opt", "type": ["string", "null"], "default": "s"},
        {"name": "lists", "type": {"type": "map", "values": {"type": "array",
            "items": ["null", "float", "Inner"]}}, "default": {"k": [null]}},
        {"name": "inner", "type": "Inner", "default": {}},
        {"name": "f", "type": "float", "default": "NaN"},
        {"name": "String", "type": {"type": "enum", "name": "Result",
            "symbols": ["A", "b_c", "Self"]}, "default": "b_c"}]})
}

#[tokio::test]
async fn the_rust_sdk_encodes_and_decodes_unions_self_containing_records_and_keywords_as_the_server_does()
 {
    use base64::Engine as _;
    use kaa_tests::api::{expect, id};
    use serde_json::json;

    let mut fixture = SdkFixture::start().await;
    let app = fixture.app.clone();
    let developer = &fixture.developer;
    for kind in ["client_profile", "configuration"] {
        let schema = developer
            .post(
                &format!("{app}/schemas/{kind}"),
                json!({"name": "knots", "schema": knotty_schema()}),
            )
            .await;
        expect(&schema, 201);
        assert_eq!(schema.body["version"], 2, "{kind}");
    }
    let sdk = developer
        .post(
            &format!("{app}/sdk-profiles"),
            json!({"name": "knots", "client_profile_version": 2, "configuration_version": 2,
                   "notification_version": 1, "log_version": 1}),
        )
        .await;
    expect(&sdk, 201);
    let configurations = format!("{app}/groups/{}/configurations", fixture.all_group);
    let draft = developer
        .post(
            &configurations,
            json!({"schema_version": 2, "body": {
                "value": {"string": "union-string-7"},
                "next": {"org.example.knots.Node": {"type": "nested-9", "opt": null}},
                "children": [{"value": {"org.example.knots.Inner": {"Self": 44}}}],
                "lists": {"a": [{"float": 2.5}, null]},
                "String": "Self"}}),
        )
        .await;
    expect(&draft, 201);
    expect(
        &developer
            .post(
                &format!("{configurations}/{}/activate", id(&draft)),
                json!({}),
            )
            .await,
        200,
    );
    fixture.profile_id = id(&sdk);
    fixture.sdk_token = sdk.body["sdk_token"].as_str().unwrap().to_owned();
    let unpacked = fixture.unpack("rust").await;
    let program = build(&unpacked).await;

    let mut device = Example::spawn(example(&program, &fixture.state_dir("knots"), 0, "tcp"));
    let key = device.line("KEY_HASH", &[], STEP).await;
    let configuration = device
        .line(
            "CONFIGURATION",
            &[
                "union-string-7",
                "nested-9",
                "\"Self\":44",
                "2.5",
                "\"String\":\"Self\"",
            ],
            STEP,
        )
        .await;
    assert!(device.stop().await.success(), "{configuration}");

    // The server decodes the profile the SDK encoded from the schema's defaults.
    let hash = base64::engine::general_purpose::STANDARD
        .decode(key.trim_start_matches("KEY_HASH ").trim())
        .unwrap();
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash);
    let endpoint = developer.get(&format!("{app}/endpoints/{key}")).await;
    expect(&endpoint, 200);
    let profile = &endpoint.body["client_profile"];
    assert_eq!(profile["type"], "x", "{profile}");
    assert_eq!(profile["self"], 1, "{profile}");
    assert_eq!(profile["next"], serde_json::Value::Null, "{profile}");
    assert_eq!(profile["children"], json!([]), "{profile}");
    assert_eq!(profile["opt"], "s", "{profile}");
    assert_eq!(profile["lists"], json!({"k": [null]}), "{profile}");
    assert_eq!(profile["inner"], json!({"Self": 2}), "{profile}");
    assert_eq!(profile["f"], "NaN", "{profile}");
    assert_eq!(profile["String"], "b_c", "{profile}");
    assert!(
        profile["value"] == json!(5) || profile["value"] == json!({"int": 5}),
        "{profile}"
    );
}

#[tokio::test]
async fn two_rust_endpoints_of_one_owner_exchange_typed_events() {
    let fixture = SdkFixture::start().await;
    let sdk = fixture.unpack("rust").await;
    build(&sdk).await;
    let endpoint = |name: &str, events: usize| {
        let mut command = Command::new(sdk.join("kaa-events-example"));
        command
            .env("KAA_STATE_DIR", fixture.state_dir(name))
            .env("KAA_OWNER", "alice")
            .env("KAA_OWNER_TOKEN", "alice-token")
            .env("KAA_SEND_EVENTS", events.to_string());
        command
    };
    let mut receiver = Example::spawn(endpoint("receiver", 0));
    receiver.line("ATTACHED", &["alice"], STEP).await;
    let mut sender = Example::spawn(endpoint("sender", 3));
    sender.line("ATTACHED", &["alice"], STEP).await;
    sender.line("SENT", &["2"], STEP).await;
    for n in 0..3 {
        receiver
            .line(
                "EVENT",
                &["org.example.sdk.Ping", &format!("{{\"n\":{n}}}")],
                STEP,
            )
            .await;
    }
    assert!(sender.stop().await.success());
    assert!(receiver.stop().await.success());
}
