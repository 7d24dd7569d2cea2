//! The generated Python package, run with the machine's `python3` (which needs the
//! `cryptography` package the runtime imports): generated classes encode exactly the bytes the
//! server's Avro codec (`kaa_model`) encodes, decode them back, and print JSON the server
//! accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use kaa_model::schema::AvroSchema;
use serde_json::{Value, json};

use super::files;
use crate::{BootstrapServer, EventClass, EventDirection, EventFamily, PinnedSchema, SdkSpec};

/// A configuration schema with every kind of type, nested and recursive records, and a
/// default on every top-level field.
fn every_kind() -> Value {
    json!({"type": "record", "name": "Everything", "namespace": "org.test", "fields": [
        {"name": "flag", "type": "boolean", "default": true},
        {"name": "small", "type": "int", "default": -7},
        {"name": "big", "type": "long", "default": 1_234_567_890_123_i64},
        {"name": "ratio", "type": "float", "default": 0.5},
        {"name": "precise", "type": "double", "default": 2.25},
        {"name": "raw", "type": "bytes", "default": "\u{0}\u{ff}\""},
        {"name": "text", "type": "string", "default": "quote \" backslash \\ ünïcode"},
        {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["LOW", "None", "HIGH", "mro", "_missing_"]},
         "default": "HIGH"},
        {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 3}, "default": "abc"},
        {"name": "items", "type": {"type": "array", "items": "string"}, "default": ["a", "b"]},
        {"name": "limits", "type": {"type": "map", "values": "double"}, "default": {"x": 1.5}},
        {"name": "point", "type": {"type": "record", "name": "Point", "fields": [
            {"name": "x", "type": "int", "default": 1},
            {"name": "y", "type": "int", "default": 2}]}, "default": {"x": 5}},
        {"name": "maybe", "type": ["null", "string"], "default": null},
        {"name": "either", "type": ["int", "string", "Point"], "default": 3},
        {"name": "chain", "type": ["null", {"type": "record", "name": "Node", "fields": [
            {"name": "value", "type": "long"},
            {"name": "class", "type": "string"},
            {"name": "next", "type": ["null", "Node"]},
            {"name": "kind", "type": "Level"},
            {"name": "tags", "type": {"type": "map", "values": {"type": "array", "items": "Tag"}}}]}],
         "default": null},
        {"name": "points", "type": {"type": "array", "items": "Point"}, "default": [{"x": 0, "y": 0}]},
        {"name": "elsewhere", "type": {"type": "record", "name": "Point", "namespace": "org.other",
            "fields": [{"name": "z", "type": "string", "default": "zz"}]}, "default": {}}]})
}

/// A value of [`every_kind`] unlike its defaults, unions in their wrapped JSON form.
fn every_kind_value() -> Value {
    json!({"flag": false, "small": 2_147_483_647, "big": -9_223_372_036_854_775_808_i64,
           "ratio": -1.25, "precise": 1e300, "raw": "", "text": "",
           "level": "None", "tag": "\u{1}\u{2}\u{3}", "items": [], "limits": {"a": -0.0, "b": 3.0},
           "point": {"x": -1, "y": 300}, "maybe": {"string": "here"},
           "either": {"org.test.Point": {"x": 7, "y": 8}},
           "chain": {"org.test.Node": {"value": 1, "class": "first", "next": {"org.test.Node":
               {"value": 2, "class": "second", "next": null, "kind": "LOW", "tags": {}}},
               "kind": "HIGH", "tags": {"t": ["xyz", "\u{0}\u{0}\u{0}"]}}},
           "points": [{"x": 1, "y": 1}, {"x": 2, "y": 2}], "elsewhere": {"z": "there"}})
}

fn pinned(schema: Value) -> Option<PinnedSchema> {
    Some(PinnedSchema {
        version: 1,
        schema: AvroSchema::parse(&schema.to_string()).expect("test schema"),
    })
}

fn spec(configuration: Value) -> SdkSpec {
    let record = |name: &str, field: &str, ty: &str| {
        json!({"type": "record", "name": name, "namespace": "org.test.events",
               "fields": [{"name": field, "type": ty}]})
    };
    let class = |schema: Value, direction| EventClass {
        fqn: schema["namespace"].as_str().unwrap().to_owned()
            + "."
            + schema["name"].as_str().unwrap(),
        schema: AvroSchema::parse(&schema.to_string()).unwrap(),
        direction,
    };
    SdkSpec {
        sdk_token: "tok3n".into(),
        application_name: "Thermo \"stat\"".into(),
        application_token: "app1".into(),
        profile: None,
        configuration: pinned(configuration),
        notification: pinned(json!({"type": "record", "name": "Profile", "fields": [
            {"name": "message", "type": "string"}]})),
        log: pinned(json!({"type": "record", "name": "Reading", "fields": [
            {"name": "seq", "type": "long"}]})),
        event_families: vec![EventFamily {
            name: "events".into(),
            class_name: "Events".into(),
            version: 1,
            classes: vec![
                class(record("Ping", "n", "int"), EventDirection::Both),
                class(record("Pong", "text", "string"), EventDirection::Sink),
            ],
        }],
        default_configuration: None,
        default_verifier_token: Some("verifier".into()),
        bootstrap: vec![BootstrapServer {
            host: "127.0.0.1".into(),
            tcp_port: Some(9888),
            http_port: None,
            public_key: (0..=255).collect(),
        }],
    }
}

/// Writes the generated package of `spec` into a fresh folder.
fn unpack(spec: &SdkSpec, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kaa-python-gen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for file in files(spec).expect("generate") {
        let path = dir.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &file.contents).unwrap();
    }
    dir
}

/// Runs `script` with `python3` in `dir`; returns its stdout lines.
fn python(dir: &Path, script: &str) -> Vec<String> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python3 failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn generated_classes_of_every_type_kind_match_the_servers_avro_codec() {
    let spec = spec(every_kind());
    let schema = &spec.configuration.as_ref().unwrap().schema;
    let defaults = schema.encode_json(&json!({})).expect("defaults encode");
    let value = schema
        .encode_json(&every_kind_value())
        .expect("value encodes");
    let dir = unpack(&spec, "every-kind");
    let lines = python(
        &dir,
        &format!(
            r#"
from kaa_app import Configuration, Notification, events, properties
from kaa_app.configuration import Level, Node, OrgOtherPoint, Point
print(Configuration().to_bytes().hex())
value = Configuration.from_bytes(bytes.fromhex("{value}"))
assert value.to_bytes().hex() == "{value}", value
assert value.chain.next.class_ == "second" and value.chain.kind is Level.HIGH, value
assert value.either == Point(x=7, y=8) and value.level is Level.None_, value
assert [m.name for m in Level] == ["LOW", "None_", "HIGH", "mro_", "E_missing_"]
print(value.to_json())
zero = Node()
assert (zero.value, zero.class_, zero.next, zero.kind, zero.tags) == (0, "", None, Level.LOW, {{}}), zero
assert Configuration().point == Point(x=5, y=2) and Configuration().tag == b"abc"
assert Configuration().items is not Configuration().items
assert value.elsewhere == OrgOtherPoint(z="there") and Configuration().elsewhere.z == "zz"
assert Notification(message="m").to_bytes() == b"\x02m"
assert set(events.EVENT_CLASSES) == {{"org.test.events.Ping", "org.test.events.Pong"}}
assert events.EVENT_CLASSES["org.test.events.Pong"][1:] == (False, True)
assert events.Ping(n=-1).to_bytes() == b"\x01"
assert properties.SDK_TOKEN == "tok3n" and properties.DEFAULT_CONFIGURATION is None
assert properties.BOOTSTRAP_SERVERS[0].key_der() == bytes(range(256))
assert properties.BOOTSTRAP_SERVERS[0].http_port is None
"#,
            value = hex(&value)
        ),
    );
    assert_eq!(
        lines[0],
        hex(&defaults),
        "defaults as the server encodes them"
    );
    let printed: Value = serde_json::from_str(&lines[1]).expect("to_json prints JSON");
    assert_eq!(
        schema
            .encode_json(&printed)
            .expect("the server reads to_json"),
        value,
        "to_json: {}",
        lines[1]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unpinned_schemas_are_empty_records_and_the_project_is_installable() {
    let mut spec = spec(every_kind());
    spec.configuration = None;
    spec.notification = None;
    spec.log = None;
    spec.event_families.clear();
    spec.default_configuration = Some(vec![1, 2, 3]);
    let files = files(&spec).unwrap();
    let text = |path: &str| {
        String::from_utf8(
            files
                .iter()
                .find(|f| f.path == path)
                .unwrap_or_else(|| panic!("{path} in the archive"))
                .contents
                .clone(),
        )
        .unwrap()
    };
    assert!(text("pyproject.toml").contains("name = \"kaa-app-tok3n\""));
    assert!(text("README.md").contains("python -m kaa_app.example"));
    assert!(text("kaa_app/example.py").contains("KAA_EXAMPLE_LOGS"));
    assert!(files.iter().any(|f| f.path == "kaa_sdk/client.py"));
    let dir = unpack(&spec, "unpinned");
    let lines = python(
        &dir,
        r#"
from kaa_app import Configuration, LogRecord, Notification, Profile, events, example, properties
for empty in (Configuration, LogRecord, Notification, Profile):
    assert empty().to_bytes() == b"" and empty.from_bytes(b"") == empty() and empty().to_json() == "{}"
assert example._log_record(7) == LogRecord() and events.EVENT_CLASSES == {}
print(properties.DEFAULT_CONFIGURATION.hex())
"#,
    );
    assert_eq!(lines, ["010203"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_runtime_speaks_kaas_wire_format_and_keeps_its_state() {
    let dir = unpack(&spec(every_kind()), "runtime");
    python(
        &dir,
        r#"
import ast, glob, os, stat, tempfile
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from kaa_sdk import avro, crypto, kaatcp, logs, protocol, transport

# Every file parses as Python 3.9 grammar.
for path in glob.glob("kaa_sdk/*.py") + glob.glob("kaa_app/*.py"):
    ast.parse(open(path, encoding="utf-8").read(), path, feature_version=(3, 9))

# SyncRequest / SyncResponse (KAA_WIRE_FORMAT.md section 2).
assert protocol.encode_request(protocol.SyncRequest(request_id=1)) == bytes.fromhex("02" + "02" * 9)
response = protocol.decode_response(bytes.fromhex("01 06" + " 02" * 9 + " ff ff"))
assert response.request_id == -1 and response.status is protocol.SyncResponseResultType.REDIRECT
for bad in ("", "02", "02 08", "02 00 04"):
    try:
        protocol.decode_response(bytes.fromhex(bad))
        raise SystemExit(f"decoded {bad!r}")
    except avro.AvroError:
        pass
assert protocol.topic_list_hash([3, 1, 2]) == 30817
assert protocol.topic_list_hash([-1]) == 31 and protocol.topic_list_hash([(1 << 32) + 5]) == 35
info = protocol.ConnectionInfo(b"key", "host", 9997)
assert protocol.ConnectionInfo.decode(info.encode()) == info
assert info.encode() == bytes.fromhex("00000003 6b6579 00000004 686f7374 0000270d")

# Kaatcp (section 3): Kaa's own CONNECT header, lengths, a response, refusals.
frame = kaatcp.connect(b"p" * 48, b"k" * 256, b"s" * 256, 200, 0xF291F2D4)
assert frame[:21] == bytes.fromhex("10 c2 04 00 06 4b 61 61 74 63 70 01 02 f2 91 f2 d4 11 01 00 c8")
assert kaatcp.kaasync(b"x", True)[:14] == bytes.fromhex("f0 0d 00 06 4b 61 61 74 63 70 01 00 00 15")
for length, encoded in ((127, "7f"), (128, "80 01"), (16383, "ff 7f"), (16384, "80 80 01")):
    assert kaatcp._frame(kaatcp.KAASYNC, b"\0" * length)[1:] [:len(bytes.fromhex(encoded))] == bytes.fromhex(encoded)
decoder = kaatcp.Decoder()
decoder.feed(bytes.fromhex("20 02 00 01 f0 0d 00 06 4b 61 61 74 63 70 01 00 05 14"))
connack = decoder.next()
assert (connack.kind, connack.code) == (kaatcp.CONNACK, 1) and decoder.next() is None
decoder.feed(b"\xff")
sync = decoder.next()
assert (sync.kind, sync.payload, sync.encrypted) == (kaatcp.KAASYNC, b"\xff", True)
decoder.feed(bytes.fromhex("e0 02 00 03 f0 80 80 80 80 01"))
assert decoder.next().code == 3
try:
    decoder.next()
    raise SystemExit("a 5-byte remaining length was accepted")
except kaatcp.FrameError:
    pass

# Keys and session crypto (section 4).
state = tempfile.mkdtemp()
keys = crypto.EndpointKeys.load_or_create(state)
assert stat.S_IMODE(os.stat(os.path.join(state, "key.private")).st_mode) == 0o600
assert open(os.path.join(state, "key.public"), "rb").read() == keys.public_der
assert crypto.EndpointKeys.load_or_create(state).key_hash == keys.key_hash == protocol.sha1(keys.public_der)
session = crypto.SessionKey()
assert len(session.encrypt(b"\0" * 16)) == 32 and session.decrypt(session.encrypt(b"abc")) == b"abc"
server = rsa.generate_private_key(public_exponent=65537, key_size=2048)
server_der = server.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
wrapped = session.wrap(crypto.load_public_key(server_der))
assert len(wrapped) == 256 and server.decrypt(wrapped, padding.PKCS1v15()) == session.key
assert crypto.verify(keys.private_key.public_key(), wrapped, keys.sign(wrapped))
assert not crypto.verify(keys.private_key.public_key(), wrapped[1:], keys.sign(wrapped))
for damaged in (b"", server_der[:200], b"\x30" + server_der[1:100]):
    try:
        crypto.load_public_key(damaged)
        raise SystemExit("a damaged key loaded")
    except crypto.KeysError:
        pass

# HTTP body (section 7): the httpmime shape, parts in order, absent ones left out.
body = transport._multipart("b0undary", [("signature", None), ("requestKey", b"K"), ("requestData", b"D")])
part = 'Content-Disposition: form-data; name="{}"\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'
assert body == ("--b0undary\r\n" + part.format("requestKey") + "K\r\n--b0undary\r\n" + part.format("requestData") + "D\r\n--b0undary--\r\n").encode()

# The log buffer survives a restart with only what was not acknowledged, and drops a torn frame.
directory = os.path.join(state, "logs")
buffer = logs.LogBuffer(directory, max_records=3, batch_records=2)
assert [buffer.append(bytes([i])) for i in range(3)] == [1, 2, 3]
try:
    buffer.append(b"x")
    raise SystemExit("a full buffer took a record")
except logs.LogBufferFull:
    pass
uploader = logs.Uploader(buffer, delivery_timeout=60, retry_delay=0)
batch = uploader.next()
assert [e.data for e in batch.log_entries] == [b"\0", b"\1"] and uploader.next() is None
failed = protocol.LogDeliveryStatus(request_id=batch.request_id, result=protocol.SyncResponseResultType.FAILURE)
assert uploader.on_statuses([failed]) == [(False, 1, 2, None)]
batch = uploader.next()
stored = protocol.LogDeliveryStatus(request_id=batch.request_id, result=protocol.SyncResponseResultType.SUCCESS)
assert uploader.on_statuses([stored]) == [(True, 1, 2, None)] and uploader.on_statuses([stored]) == []
buffer.close()
with open(os.path.join(directory, "records"), "ab") as file:
    file.write(b"\x09\0\0\0")
reopened = logs.LogBuffer(directory)
assert list(reopened.pending) == [(3, b"\2")] and reopened.append(b"y") == 4
reopened.close()
assert logs.LogBuffer(directory).batch() == (3, 4, [b"\2", b"y"])
"#,
    );
    std::fs::remove_dir_all(dir).unwrap();
}
