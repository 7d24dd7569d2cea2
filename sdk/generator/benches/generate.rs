//! How long generating an SDK archive takes, per target, for a profile pinning a schema of every
//! Avro kind and an event family — against a baseline measured in the same process: packing the
//! very same files into a `tar.gz` without generating anything. The ratio says what templating
//! adds to compression; the absolute figure is what a download waits for on a cache miss.
//!
//! `cargo bench -p kaa-sdk-generator --bench generate` (optimised build).

use std::hint::black_box;
use std::time::{Duration, Instant};

use kaa_model::schema::AvroSchema;
use kaa_sdk_generator::{
    BootstrapServer, EventClass, EventDirection, EventFamily, PinnedSchema, SdkSpec, Target, files,
    generate, pack,
};

const RUNS: usize = 30;

fn schema(text: &str) -> PinnedSchema {
    PinnedSchema {
        version: 1,
        schema: AvroSchema::parse(text).expect("bench schema"),
    }
}

fn spec() -> SdkSpec {
    let event = |name: &str| {
        AvroSchema::parse(&format!(
            r#"{{"type":"record","name":"{name}","namespace":"org.example.sdk","fields":[{{"name":"n","type":"int"}}]}}"#
        ))
        .expect("event schema")
    };
    SdkSpec {
        sdk_token: "benchToken0123456789abcdefgh".into(),
        application_name: "thermostat".into(),
        application_token: "app-token".into(),
        profile: Some(schema(
            r#"{"type":"record","name":"DeviceProfile","namespace":"org.example.sdk","fields":[
            {"name":"model","type":"string","default":"kaa-board"},
            {"name":"firmwareVersion","type":"int","default":3},
            {"name":"kind","type":{"type":"enum","name":"DeviceKind","symbols":["SENSOR","GATEWAY"]},"default":"SENSOR"},
            {"name":"tags","type":{"type":"array","items":"string"},"default":["lab"]},
            {"name":"serial","type":["null","string"],"default":null}]}"#,
        )),
        configuration: Some(schema(
            r#"{"type":"record","name":"DeviceConfiguration","namespace":"org.example.sdk","fields":[
            {"name":"greeting","type":"string","default":"hello"},
            {"name":"intervalMs","type":"long","default":1000},
            {"name":"ratio","type":"double","default":0.5},
            {"name":"enabled","type":"boolean","default":true},
            {"name":"thresholds","type":{"type":"map","values":"float"},"default":{}},
            {"name":"location","type":{"type":"record","name":"Location","fields":[
                {"name":"lat","type":"double","default":0.0},{"name":"lon","type":"double","default":0.0}]},
             "default":{"lat":0.0,"lon":0.0}},
            {"name":"calibration","type":{"type":"fixed","name":"Calibration","size":4},"default":"\u0000\u0001\u0002\u0003"},
            {"name":"blob","type":"bytes","default":""},
            {"name":"mode","type":["null",{"type":"enum","name":"Mode","symbols":["ECO","TURBO"]}],"default":null},
            {"name":"servers","type":{"type":"array","items":"Location"},"default":[]}]}"#,
        )),
        notification: Some(schema(
            r#"{"type":"record","name":"Alert","namespace":"org.example.sdk","fields":[
            {"name":"message","type":"string"},
            {"name":"level","type":{"type":"enum","name":"Level","symbols":["INFO","WARN"]},"default":"INFO"}]}"#,
        )),
        log: Some(schema(
            r#"{"type":"record","name":"Reading","namespace":"org.example.sdk","fields":[
            {"name":"seq","type":"long"},{"name":"value","type":"double","default":1.5},
            {"name":"unit","type":["null","string"],"default":null},{"name":"raw","type":"bytes","default":""}]}"#,
        )),
        event_families: vec![EventFamily {
            name: "sdk-events".into(),
            class_name: "SdkEvents".into(),
            version: 1,
            classes: vec![
                EventClass {
                    fqn: "org.example.sdk.Ping".into(),
                    schema: event("Ping"),
                    direction: EventDirection::Both,
                },
                EventClass {
                    fqn: "org.example.sdk.Pong".into(),
                    schema: event("Pong"),
                    direction: EventDirection::Sink,
                },
            ],
        }],
        default_configuration: None,
        default_verifier_token: None,
        bootstrap: vec![BootstrapServer {
            host: "192.0.2.10".into(),
            tcp_port: Some(9888),
            http_port: Some(9889),
            public_key: vec![0x30; 294],
        }],
    }
}

/// The median of `RUNS` timings of `f`.
fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn main() {
    let spec = spec();
    println!("SDK generation, median of {RUNS} runs per target");
    println!("target   files  archive   generate   pack-only baseline   ratio");
    for target in Target::ALL {
        let generated = files(&spec, target).expect("files");
        let archive = generate(&spec, target).expect("generate");
        let full = median(|| {
            black_box(generate(black_box(&spec), target).expect("generate"));
        });
        let baseline = median(|| {
            black_box(pack(target, &spec.sdk_token, black_box(&generated)).expect("pack"));
        });
        println!(
            "{:<8} {:>5}  {:>6} KB  {:>7.2} ms  {:>10.2} ms         {:>5.2}",
            target.as_str(),
            generated.len(),
            archive.bytes.len() / 1024,
            full.as_secs_f64() * 1e3,
            baseline.as_secs_f64() * 1e3,
            full.as_secs_f64() / baseline.as_secs_f64()
        );
    }
}
