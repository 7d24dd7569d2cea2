//! The Rust target: a cargo workspace of three crates that builds with `cargo build`, its
//! dependencies from crates.io only.
//!
//! - `kaa-sdk/`: the runtime (`sdk/rust/src`, embedded), with its archive `Cargo.toml`.
//! - `kaa-idl/`: the endpoint codecs the runtime uses (`idl/src/{avro.rs,zk.rs,endpoint/}`) under
//!   a trimmed `lib.rs`.
//! - `kaa-application/`: generated here: one module of types per pinned schema (see [`types`])
//!   and one for the event classes, `properties.rs` (SDK token, bootstrap list, default
//!   configuration), the typed client (`client.rs`, a template) and the example program
//!   (`main.rs`, a template with the log record filled in).
//!
//! The templates live in `sdk/rust/archive/` and land at the archive root; `templates/` there
//! holds the ones rendered here instead. `Cargo.lock` is cut from the workspace's ([`lock`]), so
//! archives build with the crates.io versions the project tests.

mod lock;
pub(crate) use lock::WORKSPACE_LOCK;
mod types;

use std::fmt::Write as _;

use base64::Engine as _;

use crate::archive::File;
use crate::embedded::Runtime;
use crate::{GeneratorError, PinnedSchema, SdkSpec};
use types::Module;

/// The folder of archive templates that are rendered rather than copied.
const TEMPLATES: &str = "templates/";
/// The generated crate's folder.
const CRATE: &str = "kaa-application";
/// The manifests of the archive's crates (templates, copied as they are).
const MANIFESTS: [&str; 3] = [
    "kaa-sdk/Cargo.toml",
    "kaa-idl/Cargo.toml",
    "kaa-application/Cargo.toml",
];
/// Where the example's log record is filled in.
const LOG_RECORD_MARK: &str = "// KAA:LOG_RECORD";
/// Where the events example's sending function is filled in.
const SEND_EVENT_MARK: &str = "// KAA:SEND_EVENT";

/// The files of the rust SDK archive of `spec`.
pub(crate) fn files(spec: &SdkSpec) -> Result<Vec<File>, GeneratorError> {
    let mut files: Vec<File> = Runtime::Rust
        .files()
        .into_iter()
        .filter(|file| !file.path.starts_with(TEMPLATES))
        .collect();
    let pinned = [
        ("profile", "Profile", "client-profile", &spec.profile),
        (
            "configuration",
            "Configuration",
            "configuration",
            &spec.configuration,
        ),
        (
            "notification",
            "Notification",
            "notification",
            &spec.notification,
        ),
        ("log", "LogRecord", "log", &spec.log),
    ];
    let mut aliases = String::new();
    let mut log_record = None;
    for (module_name, alias, what, schema) in pinned {
        let mut module = Module::new();
        let (root, header) = match schema {
            Some(PinnedSchema { version, schema }) => (
                module.add_schema(schema.named_types())?,
                format!(
                    "//! Types of the {what} schema `{}` v{version}, generated from the SDK \
                     profile; do not edit.\n",
                    schema.name()
                ),
            ),
            None => (
                module.add_empty(alias)?,
                format!(
                    "//! The {what} type: the SDK profile pins no {what} schema, so it is an \
                     empty record (encoded as no bytes).\n"
                ),
            ),
        };
        let described = match schema {
            Some(pinned) => format!("`{}` v{}", pinned.schema.name(), pinned.version),
            None => "none pinned: an empty record".to_string(),
        };
        writeln!(
            aliases,
            "\n/// The {what} type ({described}).\npub type {alias} = {module_name}::{root};"
        )
        .unwrap();
        if module_name == "log" {
            log_record = Some(example_log_record(&module, &root));
        }
        files.push(File::new(
            format!("{CRATE}/src/{module_name}.rs"),
            module.render(&header),
        ));
    }
    let (events, send_event) = events(spec)?;
    files.push(File::new(format!("{CRATE}/src/events.rs"), events));
    files.push(File::new(
        format!("{CRATE}/src/properties.rs"),
        properties(spec),
    ));
    files.push(File::new(
        format!("{CRATE}/src/lib.rs"),
        lib(spec, &aliases),
    ));
    files.push(File::new(
        format!("{CRATE}/src/main.rs"),
        render_template(
            "templates/main.rs",
            LOG_RECORD_MARK,
            log_record.as_deref().unwrap_or_default(),
        )?,
    ));
    files.push(File::new(
        format!("{CRATE}/src/bin/kaa-events-example.rs"),
        render_template("templates/events.rs", SEND_EVENT_MARK, &send_event)?,
    ));
    files.push(File::new("README.md", readme(spec)));
    let mut dependencies = std::collections::BTreeSet::new();
    for path in MANIFESTS {
        let manifest = Runtime::Rust
            .file(path)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .ok_or_else(|| GeneratorError::Internal(format!("the template {path} is missing")))?;
        dependencies.extend(registry_dependencies(manifest));
    }
    files.push(File::new("Cargo.lock", lock::archive_lock(&dependencies)));
    Ok(files)
}

/// The crates.io dependencies a manifest's dependency tables name (path dependencies left out).
fn registry_dependencies(manifest: &str) -> Vec<&str> {
    let Some((_, tables)) = manifest.split_once("[dependencies]") else {
        return Vec::new();
    };
    tables
        .lines()
        .filter_map(|line| {
            let (name, spec) = line.split_once(" = ")?;
            (!spec.contains("path = ")).then_some(name.trim())
        })
        .collect()
}

/// The archive template at `path` with the line `mark` replaced by `code`.
fn render_template(path: &str, mark: &str, code: &str) -> Result<String, GeneratorError> {
    let template = Runtime::Rust
        .file(path)
        .ok_or_else(|| GeneratorError::Internal(format!("the template {path} is missing")))?;
    Ok(String::from_utf8_lossy(template).replace(mark, code.trim_end()))
}

/// The example's log record: the schema's defaults, the first `int`/`long` field set to the
/// record's index.
fn example_log_record(module: &Module, root: &str) -> String {
    let mut out = String::from(
        "/// Log record `index` of this run: the log schema's defaults, with the first int/long\n\
         /// field (if any) set to the index.\n",
    );
    match module.first_integer_field(root) {
        Some((field, long)) => {
            let ty = if long { "i64" } else { "i32" };
            writeln!(
                out,
                "fn log_record(index: usize) -> LogRecord {{\n    LogRecord {{\n        \
                 {field}: index as {ty},\n        ..LogRecord::default()\n    }}\n}}"
            )
            .unwrap();
        }
        None => out
            .push_str("fn log_record(_index: usize) -> LogRecord {\n    LogRecord::default()\n}\n"),
    }
    out
}

/// `events.rs`: the event classes of every family, the `EventClass` of each class the
/// application sends, and `IncomingEvent` over the classes it receives; and the events example's
/// `send` (an event of the first class the application sends, its first int/long field set to
/// the index).
fn events(spec: &SdkSpec) -> Result<(String, String), GeneratorError> {
    let mut module = Module::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut incoming = Vec::new();
    let mut first_sent = None;
    for family in &spec.event_families {
        for class in &family.classes {
            if !seen.insert(class.fqn.clone()) {
                continue;
            }
            let name = module.add_schema(class.schema.named_types())?;
            if class.direction.sends() {
                first_sent.get_or_insert_with(|| name.clone());
                module.push(
                    format!(
                        "impl EventClass for {name} {{\n    const FQN: &'static str = {:?};\n}}\n",
                        class.fqn
                    ),
                    true,
                );
            }
            if class.direction.receives() {
                incoming.push((name, class.fqn.clone(), family.name.clone()));
            }
        }
    }
    let mut out = module.render(
        "//! The event classes of the SDK profile's event families, generated; do not edit. Send a \
         class\n//! that implements `EventClass` with `Client::send_event`; received events \
         arrive as\n//! [`IncomingEvent`]s.\n",
    );
    out.push_str(
        "\n/// An event of a class this application receives.\n\
         #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]\n\
         pub enum IncomingEvent {\n",
    );
    for (name, fqn, family) in &incoming {
        writeln!(
            out,
            "    /// `{fqn}` (family {family:?}).\n    #[serde(rename = {fqn:?})]\n    {name}({name}),"
        )
        .unwrap();
    }
    out.push_str(
        "}\n\nimpl IncomingEvent {\n    /// The event of class `fqn` held by `data` (Avro binary); \
         `None` for a class this\n    /// application does not receive.\n    pub fn decode(\n        \
         fqn: &str,\n        data: &[u8],\n    ) -> Option<Result<Self, kaa_sdk::avro::AvroError>> {\n",
    );
    if incoming.is_empty() {
        out.push_str("        let _ = (fqn, data);\n        None\n    }\n");
    } else {
        out.push_str("        match fqn {\n");
        for (name, fqn, _) in &incoming {
            writeln!(
                out,
                "            {fqn:?} => Some(<{name} as kaa_sdk::avro::AvroRecord>::from_avro(data).map(Self::{name})),"
            )
            .unwrap();
        }
        out.push_str("            _ => None,\n        }\n    }\n");
    }
    out.push_str("\n    /// The event's class name.\n    pub fn fqn(&self) -> &'static str {\n");
    if incoming.is_empty() {
        out.push_str("        match *self {}\n");
    } else {
        out.push_str("        match self {\n");
        for (name, fqn, _) in &incoming {
            writeln!(out, "            Self::{name}(_) => {fqn:?},").unwrap();
        }
        out.push_str("        }\n");
    }
    out.push_str("    }\n}\n");
    let send = match &first_sent {
        Some(class) => {
            let value = match module.first_integer_field(class) {
                Some((field, long)) => format!(
                    "kaa_application::events::{class} {{\n        {field}: index as {},\n        \
                     ..Default::default()\n    }}",
                    if long { "i64" } else { "i32" }
                ),
                None => format!("kaa_application::events::{class}::default()"),
            };
            format!(
                "/// Sends event `index`: a `{class}` of its defaults, its first int/long field (if \
                 any) set to the\n/// index, to every other endpoint of the owner.\n\
                 fn send(client: &Client, index: usize) -> Result<(), SdkError> {{\n    \
                 let event = {value};\n    client.send_event(&event, None)\n}}\n"
            )
        }
        None => "/// This application sends no event class.\n\
                 fn send(_client: &Client, _index: usize) -> Result<(), SdkError> {\n    Ok(())\n}\n"
            .to_string(),
    };
    Ok((out, send))
}

/// `properties.rs`: what the SDK bakes in.
fn properties(spec: &SdkSpec) -> String {
    let mut out = String::from(
        "//! The properties baked into this SDK when it was generated: the SDK token, the Bootstrap\n\
         //! servers (host, Kaatcp port, HTTP port, public key as Base64 of its X.509 DER) the client\n\
         //! asks first, and the default configuration. Edit them here to point the SDK at other\n\
         //! servers, or change the fields of `client::baked_in_config()` at run time.\n\n",
    );
    writeln!(
        out,
        "/// The application's name.\npub const APPLICATION_NAME: &str = {:?};\n",
        spec.application_name
    )
    .unwrap();
    writeln!(
        out,
        "/// The application's token.\npub const APPLICATION_TOKEN: &str = {:?};\n",
        spec.application_token
    )
    .unwrap();
    writeln!(out, "/// The SDK token: which SDK profile (schemas, event maps) this endpoint uses.\npub const SDK_TOKEN: &str = {:?};\n", spec.sdk_token).unwrap();
    out.push_str(
        "/// A Bootstrap server.\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct BootstrapServer {\n    \
         /// Host name or address.\n    pub host: &'static str,\n    /// Its Kaatcp port.\n    \
         pub tcp_port: Option<u16>,\n    /// Its HTTP port.\n    pub http_port: Option<u16>,\n    \
         /// Its RSA public key: Base64 of the X.509 DER.\n    pub public_key: &'static str,\n}\n\n\
         /// The Bootstrap servers, asked in order.\npub const BOOTSTRAP_SERVERS: &[BootstrapServer] = &[\n",
    );
    let option = |port: Option<u16>| port.map_or("None".to_string(), |p| format!("Some({p})"));
    for server in &spec.bootstrap {
        writeln!(
            out,
            "    BootstrapServer {{\n        host: {:?},\n        tcp_port: {},\n        http_port: {},\n        public_key: \"{}\",\n    }},",
            server.host,
            option(server.tcp_port),
            option(server.http_port),
            base64::engine::general_purpose::STANDARD.encode(&server.public_key)
        )
        .unwrap();
    }
    out.push_str("];\n\n");
    out.push_str(
        "/// The configuration the endpoint holds before the server sent one: Avro binary of the\n\
         /// configuration schema.\npub const DEFAULT_CONFIGURATION: Option<&[u8]> = ",
    );
    match &spec.default_configuration {
        None => out.push_str("None;\n"),
        Some(bytes) => {
            out.push_str("Some(&[");
            for chunk in bytes.chunks(16) {
                out.push_str("\n    ");
                let line: Vec<String> = chunk.iter().map(|b| format!("{b:#04x}")).collect();
                out.push_str(&line.join(", "));
                out.push(',');
            }
            out.push_str("\n]);\n");
        }
    }
    writeln!(
        out,
        "\n/// The user verifier owner attaches use by default.\npub const DEFAULT_VERIFIER_TOKEN: Option<&str> = {};",
        spec.default_verifier_token
            .as_ref()
            .map_or("None".to_string(), |t| format!("Some({t:?})"))
    )
    .unwrap();
    out
}

/// `lib.rs` of the generated crate.
fn lib(spec: &SdkSpec, aliases: &str) -> String {
    format!(
        "//! The typed Kaa SDK of the application {:?} (SDK token `{}`), generated by kaa-rs from\n\
         //! its SDK profile.\n//!\n\
         //! - [`Profile`], [`Configuration`], [`Notification`], [`LogRecord`]: the pinned schemas' \
         types\n//!   (modules [`profile`], [`configuration`], [`notification`], [`log`]); [`events`]: \
         the event classes.\n\
         //! - [`properties`]: the SDK token, the Bootstrap servers and the default configuration.\n\
         //! - [`Client`]: the typed client; start it with [`client::baked_in_config`].\n\n\
         pub mod client;\npub mod configuration;\npub mod events;\npub mod log;\n\
         pub mod notification;\npub mod profile;\npub mod properties;\n\n\
         pub use client::{{Client, ClientEvent}};\npub use kaa_sdk;\n{aliases}",
        spec.application_name, spec.sdk_token
    )
}

/// The archive's README.
fn readme(spec: &SdkSpec) -> String {
    let pinned = |what: &str, schema: &Option<PinnedSchema>| match schema {
        Some(p) => format!("- {what}: `{}` v{}\n", p.schema.name(), p.version),
        None => format!("- {what}: none pinned (an empty record)\n"),
    };
    let mut schemas = String::new();
    schemas.push_str(&pinned("`Profile` (client profile)", &spec.profile));
    schemas.push_str(&pinned("`Configuration`", &spec.configuration));
    schemas.push_str(&pinned("`Notification`", &spec.notification));
    schemas.push_str(&pinned("`LogRecord`", &spec.log));
    for family in &spec.event_families {
        let classes: Vec<String> = family
            .classes
            .iter()
            .map(|c| format!("`{}`", c.fqn))
            .collect();
        schemas.push_str(&format!(
            "- event family `{}` v{}: {}\n",
            family.name,
            family.version,
            classes.join(", ")
        ));
    }
    let servers: Vec<String> = spec
        .bootstrap
        .iter()
        .map(|s| {
            format!(
                "- `{}` (Kaatcp {}, HTTP {})",
                s.host,
                s.tcp_port.map_or("-".into(), |p| p.to_string()),
                s.http_port.map_or("-".into(), |p| p.to_string())
            )
        })
        .collect();
    format!(
        r#"# Kaa Rust SDK for {name}

SDK token `{token}`. A cargo workspace: `kaa-application/` (the types generated from the
application's schemas, the baked-in properties, a typed client and an example), `kaa-sdk/` (the
runtime: bootstrap over Kaatcp or HTTP, encrypted sessions, failover, configuration kept across
restarts, persistent log buffer with delivery status, topics, events, owner attach) and
`kaa-idl/` (the endpoint protocol codecs). Dependencies come from crates.io.

## Build and run

```sh
cargo build
cargo run            # the example: ./target/debug/kaa-example
```

Rust 1.95 or newer. `Cargo.lock` pins the crates.io versions kaa-rs was tested with. The example
reads `KAA_STATE_DIR` (keys, the kept configuration and the log buffer; default `./kaa-state`),
`KAA_EXAMPLE_LOGS` (log records to upload, default 10) and `KAA_TRANSPORT` (`tcp`, the default, or
`http`).

The archive's files all carry one fixed time: when several SDKs share one `CARGO_TARGET_DIR`,
`find . -type f -exec touch {{}} +` after unpacking, or cargo may take another SDK's build for this
one's.

## What the example does

It builds a `Profile` from the schema's defaults, starts the client and prints one line per
happening: `KEY_HASH <base64>` (the endpoint's identity), `STORED_CONFIGURATION <json>` (the
configuration kept from the last run), `CONNECTED <host:port>`, `CONFIGURATION <json>` (each
configuration the server sends), `NOTIFICATION <topic id> <json>`, `LOGS_DELIVERED <n>` (records of
this run the server stored so far; it logs `KAA_EXAMPLE_LOGS` records once the first configuration
arrived) and `ERROR <message>` (a server unreachable or refusing, a damaged key: the client keeps
retrying with back-off). It stops cleanly on SIGTERM or Ctrl-C; started again with the same state
dir it is the same endpoint, starts with the kept configuration and sends the logs the server had
not acknowledged.

## Owners and events

`./target/debug/kaa-events-example` attaches the endpoint to an owner through the SDK profile's
default user verifier (`KAA_OWNER`, `KAA_OWNER_TOKEN`), sends `KAA_SEND_EVENTS` events of the
first class the application sends to the owner's other endpoints and prints `EVENT <class> <json>`
for every event it receives (`kaa-application/src/bin/kaa-events-example.rs`).

## Types

{schemas}
Values are plain Rust structs and enums with serde (`Serialize`/`Deserialize`, Avro's names) and
`Default` from the schema's defaults; the client encodes and decodes them. See
`kaa-application/src/lib.rs`.

## Properties and pointing the SDK elsewhere

The SDK token, the Bootstrap servers and the default configuration live in
`kaa-application/src/properties.rs`. The baked-in Bootstrap servers:

{servers}

To use other servers, edit `BOOTSTRAP_SERVERS` there (host, ports, Base64 public key from
`GET /api/v1/cluster`), or change the `bootstrap` field of `client::baked_in_config()` before
`Client::start`.
"#,
        name = spec.application_name,
        token = spec.sdk_token,
        servers = servers.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use kaa_model::schema::AvroSchema;

    use super::*;
    use crate::{BootstrapServer, EventClass, EventDirection, EventFamily};

    fn pinned(text: &str) -> Option<PinnedSchema> {
        Some(PinnedSchema {
            version: 1,
            schema: AvroSchema::parse(text).unwrap(),
        })
    }

    /// The application the shared SDK test uses.
    pub(crate) fn device_spec() -> SdkSpec {
        let configuration = pinned(
            r#"{"type":"record","name":"DeviceConfiguration","namespace":"org.example.sdk","fields":[
                {"name":"greeting","type":"string","default":"hello"},
                {"name":"intervalMs","type":"long","default":1000},
                {"name":"ratio","type":"double","default":0.5},
                {"name":"enabled","type":"boolean","default":true},
                {"name":"thresholds","type":{"type":"map","values":"float"},"default":{}},
                {"name":"location","type":{"type":"record","name":"Location","fields":[
                    {"name":"lat","type":"double","default":0.0},
                    {"name":"lon","type":"double","default":0.0}]},"default":{"lat":0.0,"lon":0.0}},
                {"name":"calibration","type":{"type":"fixed","name":"Calibration","size":4},
                    "default":"\u0000\u0001\u0002\u0003"},
                {"name":"blob","type":"bytes","default":""},
                {"name":"mode","type":["null",{"type":"enum","name":"Mode","symbols":["ECO","TURBO"]}],
                    "default":null},
                {"name":"servers","type":{"type":"array","items":"Location"},"default":[]}]}"#,
        );
        let default_configuration = configuration
            .as_ref()
            .map(|c| c.schema.encode_json(&serde_json::json!({})).unwrap());
        SdkSpec {
            sdk_token: "Xk2pDeviceSdk".into(),
            application_name: "Device \"lab\"".into(),
            application_token: "12345".into(),
            profile: pinned(
                r#"{"type":"record","name":"DeviceProfile","namespace":"org.example.sdk","fields":[
                    {"name":"model","type":"string","default":"kaa-board"},
                    {"name":"firmwareVersion","type":"int","default":3},
                    {"name":"kind","type":{"type":"enum","name":"DeviceKind","symbols":["SENSOR","GATEWAY"]},
                        "default":"SENSOR"},
                    {"name":"tags","type":{"type":"array","items":"string"},"default":["lab","floor-1"]},
                    {"name":"serial","type":["null","string"],"default":null}]}"#,
            ),
            configuration,
            notification: pinned(
                r#"{"type":"record","name":"Alert","namespace":"org.example.sdk","fields":[
                    {"name":"message","type":"string"},
                    {"name":"level","type":{"type":"enum","name":"Level","symbols":["INFO","WARN"]},
                        "default":"INFO"}]}"#,
            ),
            log: pinned(
                r#"{"type":"record","name":"Reading","namespace":"org.example.sdk","fields":[
                    {"name":"seq","type":"long"},
                    {"name":"value","type":"double","default":1.5},
                    {"name":"unit","type":["null","string"],"default":null},
                    {"name":"raw","type":"bytes","default":""}]}"#,
            ),
            event_families: vec![EventFamily {
                name: "org.example.sdk.events".into(),
                class_name: "DeviceEvents".into(),
                version: 1,
                classes: vec![
                    EventClass {
                        fqn: "org.example.sdk.Ping".into(),
                        schema: AvroSchema::parse(
                            r#"{"type":"record","name":"Ping","namespace":"org.example.sdk",
                                "fields":[{"name":"n","type":"int"}]}"#,
                        )
                        .unwrap(),
                        direction: EventDirection::Both,
                    },
                    EventClass {
                        fqn: "org.example.sdk.Pong".into(),
                        schema: AvroSchema::parse(
                            r#"{"type":"record","name":"Pong","namespace":"org.example.sdk",
                                "fields":[{"name":"text","type":"string"}]}"#,
                        )
                        .unwrap(),
                        direction: EventDirection::Sink,
                    },
                ],
            }],
            default_configuration,
            default_verifier_token: None,
            bootstrap: vec![BootstrapServer {
                host: "127.0.0.1".into(),
                tcp_port: Some(9997),
                http_port: Some(9889),
                public_key: vec![0x30, 0x82, 0x01, 0x22],
            }],
        }
    }

    fn file<'f>(files: &'f [File], path: &str) -> &'f str {
        let file = files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path}"));
        std::str::from_utf8(&file.contents).unwrap()
    }

    #[test]
    fn the_archive_holds_the_runtime_the_codecs_typed_code_properties_and_the_example() {
        let files = files(&device_spec()).unwrap();
        for path in [
            "Cargo.toml",
            "README.md",
            "kaa-sdk/Cargo.toml",
            "kaa-sdk/src/client.rs",
            "kaa-idl/Cargo.toml",
            "kaa-idl/src/lib.rs",
            "kaa-idl/src/avro.rs",
            "kaa-idl/src/endpoint/kaatcp.rs",
            "kaa-application/Cargo.toml",
            "kaa-application/src/client.rs",
            "kaa-application/src/main.rs",
            "Cargo.lock",
        ] {
            file(&files, path);
        }
        let lock = file(&files, "Cargo.lock");
        for name in ["tokio", "rsa", "serde_json", "tempfile", "aes"] {
            assert!(
                lock.contains(&format!("\nname = \"{name}\"\n")),
                "{name} in the lock"
            );
        }
        assert!(!files.iter().any(|f| f.path.starts_with(TEMPLATES)));
        let lib = file(&files, "kaa-application/src/lib.rs");
        assert!(
            lib.contains("pub type Profile = profile::DeviceProfile;"),
            "{lib}"
        );
        assert!(lib.contains("pub type LogRecord = log::Reading;"), "{lib}");
        let profile = file(&files, "kaa-application/src/profile.rs");
        for expected in [
            "#[serde(rename = \"firmwareVersion\")]",
            "pub firmware_version: i32,",
            "firmware_version: 3,",
            "kind: DeviceKind::Sensor,",
            "tags: vec![\"lab\".to_owned(), \"floor-1\".to_owned()],",
            "pub serial: Option<String>,",
        ] {
            assert!(profile.contains(expected), "{expected} in\n{profile}");
        }
        let configuration = file(&files, "kaa-application/src/configuration.rs");
        for expected in [
            "pub type Calibration = [u8; 4];",
            "calibration: [0, 1, 2, 3],",
            "pub thresholds: BTreeMap<String, f32>,",
            "pub mode: Option<Mode>,",
            "pub servers: Vec<Location>,",
            "interval_ms: 1000,",
            "ratio: 0.5_f64,",
        ] {
            assert!(
                configuration.contains(expected),
                "{expected} in\n{configuration}"
            );
        }
        let events = file(&files, "kaa-application/src/events.rs");
        assert!(events.contains("impl EventClass for Ping"), "{events}");
        assert!(!events.contains("impl EventClass for Pong"), "{events}");
        assert!(
            events.contains("\"org.example.sdk.Pong\" => Some("),
            "{events}"
        );
        let properties = file(&files, "kaa-application/src/properties.rs");
        assert!(properties.contains("pub const SDK_TOKEN: &str = \"Xk2pDeviceSdk\";"));
        assert!(
            properties.contains("public_key: \"MIIBIg==\""),
            "{properties}"
        );
        assert!(properties.contains("tcp_port: Some(9997),"));
        assert!(properties.contains("pub const DEFAULT_CONFIGURATION: Option<&[u8]> = Some(&["));
        let example = file(&files, "kaa-application/src/main.rs");
        assert!(example.contains("seq: index as i64,"), "{example}");
        assert!(!example.contains(LOG_RECORD_MARK));
        let events_example = file(&files, "kaa-application/src/bin/kaa-events-example.rs");
        assert!(
            events_example.contains("kaa_application::events::Ping {\n        n: index as i32,"),
            "{events_example}"
        );
    }

    #[test]
    fn schemas_not_pinned_become_empty_records() {
        let spec = SdkSpec {
            profile: None,
            log: None,
            event_families: Vec::new(),
            default_configuration: None,
            ..device_spec()
        };
        let files = files(&spec).unwrap();
        let lib = file(&files, "kaa-application/src/lib.rs");
        assert!(
            lib.contains("pub type Profile = profile::Profile;"),
            "{lib}"
        );
        let profile = file(&files, "kaa-application/src/profile.rs");
        assert!(profile.contains("pub struct Profile {\n}"), "{profile}");
        let events = file(&files, "kaa-application/src/events.rs");
        assert!(events.contains("match *self {}"), "{events}");
        assert!(!events.contains("use kaa_sdk"), "{events}");
        let example = file(&files, "kaa-application/src/main.rs");
        assert!(
            example.contains("fn log_record(_index: usize)"),
            "{example}"
        );
        let events_example = file(&files, "kaa-application/src/bin/kaa-events-example.rs");
        assert!(events_example.contains("fn send(_client: &Client, _index: usize)"));
        let properties = file(&files, "kaa-application/src/properties.rs");
        assert!(properties.contains("DEFAULT_CONFIGURATION: Option<&[u8]> = None;"));
    }

    /// `name = "1.2"` or `name = { version = "1.2", … }` lines of a manifest's dependency
    /// tables, as (name, version).
    fn versions(manifest: &str) -> Vec<(String, String)> {
        manifest
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.split_once(" = ")?;
                let rest = rest.trim();
                let version = if let Some(quoted) = rest.strip_prefix('"') {
                    quoted.split('"').next()?
                } else {
                    rest.split("version = \"").nth(1)?.split('"').next()?
                };
                Some((name.trim().to_string(), version.to_string()))
            })
            .collect()
    }

    #[test]
    fn archive_manifests_use_the_workspace_dependency_versions() {
        let workspace =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
                .unwrap();
        let dependencies = workspace
            .split("[workspace.dependencies]")
            .nth(1)
            .unwrap()
            .split("\n[")
            .next()
            .unwrap();
        let pinned: std::collections::BTreeMap<String, String> =
            versions(dependencies).into_iter().collect();
        let mut checked = 0;
        for path in MANIFESTS {
            let manifest = std::str::from_utf8(Runtime::Rust.file(path).unwrap()).unwrap();
            let section = manifest.split("[dependencies]").nth(1).unwrap();
            for (name, version) in versions(section) {
                if matches!(name.as_str(), "version" | "name" | "path") {
                    continue;
                }
                let expected = pinned
                    .get(&name)
                    .unwrap_or_else(|| panic!("{path}: {name} is not a workspace dependency"));
                assert_eq!(&version, expected, "{path}: {name}");
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} dependencies checked");
    }
}
