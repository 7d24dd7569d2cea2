//! The generated C SDK against a live node, as a device maker uses it: download the archive over
//! REST, unpack it, build it with `cmake` and `make` only, and run its example (`kaa_example`)
//! through the device scenario, once more bootstrapping over HTTP and subscribing to an optional
//! topic; with bad properties (a damaged bootstrap key, an unknown SDK
//! token, an unreachable first server), each of which must give an `ERROR` line, not a crash,
//! and records logged while offline delivered after a restart;
//! a two-node cluster whose nodes are both in the baked-in list, the first killed under the
//! device; and the same scenario built with AddressSanitizer + UndefinedBehaviorSanitizer and once
//! under valgrind, both clean (any report fails the example's exit status).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kaa_tests::api::{expect, id};
use nix::sys::signal::Signal;
use reqwest::Method;
use serde_json::json;
use tokio::process::Command;

use crate::sdk_support::{
    Example, SdkFixture, device_scenario, expect_error, expect_skips_unreachable,
    failover_scenario, run_tool,
};

/// Configures and builds the SDK in `sdk` (into `sdk/<build>`) with `options`; returns the
/// example program.
async fn build(sdk: &Path, build: &str, options: &[&str]) -> PathBuf {
    run_tool(
        Command::new("cmake")
            .args(["-B", build])
            .args(options)
            .current_dir(sdk),
        "cmake configure",
    )
    .await;
    run_tool(
        Command::new("cmake")
            .args(["--build", build, "--", "-j2"])
            .current_dir(sdk),
        "cmake --build",
    )
    .await;
    sdk.join(build).join("kaa_example")
}

/// The example with `state_dir` and `logs` records to upload, run through `wrapper` (valgrind,
/// say) when given.
fn example(program: &Path, wrapper: &[&str], state_dir: &Path, logs: usize) -> Command {
    let mut command = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    };
    command
        .current_dir(program.parent().unwrap())
        .env("KAA_STATE_DIR", state_dir)
        .env("KAA_EXAMPLE_LOGS", logs.to_string())
        .env("KAA_TRANSPORT", "tcp")
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=0:exitcode=86",
        )
        .env(
            "UBSAN_OPTIONS",
            "print_stacktrace=1:halt_on_error=1:exitcode=87",
        );
    command
}

/// A copy of the SDK with `generated/kaa_properties.c` changed by `edit`, built; returns its
/// example program.
async fn variant(sdk: &Path, name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    variant_of(sdk, name, "generated/kaa_properties.c", edit).await
}

/// A copy of the SDK with `file` changed by `edit`, built; returns its example program.
async fn variant_of(
    sdk: &Path,
    name: &str,
    file: &str,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    let copy = sdk.parent().unwrap().join(name);
    copy_dir(sdk, &copy);
    let properties = copy.join(file);
    let text = std::fs::read_to_string(&properties).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit of {name} changed nothing");
    std::fs::write(&properties, edited).unwrap();
    build(&copy, "build", &[]).await
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if !entry.file_name().to_string_lossy().starts_with("build") {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The first Base64 public key literal of `kaa_properties.c`.
fn first_key(properties: &str) -> String {
    let start = properties.find("\"MII").expect("a Base64 DER key") + 1;
    let end = start + properties[start..].find('"').unwrap();
    properties[start..end].to_owned()
}

#[tokio::test]
async fn the_c_sdk_builds_with_cmake_and_runs_the_device_scenario() {
    let fixture = SdkFixture::start().await;
    let sdk = fixture.unpack("c").await;
    let program = build(&sdk, "build", &[]).await;
    device_scenario(&fixture, "c-tcp", &|state, logs| {
        example(&program, &[], state, logs)
    })
    .await;

    // An optional topic, which the example subscribes to when the server lists it.
    let app = &fixture.app;
    let topic = fixture
        .developer
        .post(
            &format!("{app}/topics"),
            json!({"name": "extras", "kind": "optional"}),
        )
        .await;
    expect(&topic, 201);
    let extras = id(&topic);
    let group = &fixture.all_group;
    expect(
        &fixture
            .developer
            .send(
                Method::PUT,
                &format!("{app}/groups/{group}/topics/{extras}"),
                None,
            )
            .await,
        204,
    );

    // Bootstrap over HTTP (the session is Kaatcp): the configuration set above, logs delivered,
    // notifications of the mandatory and of the subscribed optional topic.
    let mut command = example(&program, &[], &fixture.state_dir("c-http"), 20);
    command.env("KAA_TRANSPORT", "http");
    let mut device = Example::spawn(command);
    let step = Duration::from_secs(90);
    device.line("CONNECTED", &[], step).await;
    device.line("CONFIGURATION", &["hello-2"], step).await;
    device.line("LOGS_DELIVERED", &["20"], step).await;
    fixture.notify("after-http-bootstrap").await;
    device
        .line("NOTIFICATION", &["after-http-bootstrap"], step)
        .await;
    expect(
        &fixture
            .developer
            .post(
                &format!("{app}/topics/{extras}/notifications"),
                json!({"body": {"message": "optional-news", "level": "INFO"}, "ttl_seconds": 600}),
            )
            .await,
        201,
    );
    device.line("NOTIFICATION", &["optional-news"], step).await;
    let status = device.stop().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_c_sdk_reports_bad_input_without_crashing_and_delivers_offline_logs_after_a_restart() {
    let fixture = SdkFixture::start().await;
    let sdk = fixture.unpack("c").await;

    // A damaged bootstrap key: the DER is cut short.
    let damaged = variant(&sdk, "damaged-key", |text| {
        let key = first_key(&text);
        text.replace(&key, &key[..200])
    })
    .await;
    let state = fixture.state_dir("c-damaged-key");
    expect_error(
        example(&damaged, &[], &state, 0),
        &["bootstrap server", "bad public key"],
    )
    .await;

    // Logs recorded while no server can be reached are kept in storage and delivered after a
    // restart: a device gets its configuration, then runs offline (the damaged key) and logs
    // 50 records, then runs with the right key and logs nothing new.
    let program = build(&sdk, "build", &[]).await;
    let state = fixture.state_dir("c-offline-logs");
    let step = Duration::from_secs(90);
    let mut device = Example::spawn(example(&program, &[], &state, 0));
    device.line("CONFIGURATION", &["hello-1"], step).await;
    assert!(device.stop().await.success());
    let mut device = Example::spawn(example(&damaged, &[], &state, 50));
    device
        .line("STORED_CONFIGURATION", &["hello-1"], step)
        .await;
    // The example queues its records right after its first step, which reported this error.
    device.line("ERROR", &["bad public key"], step).await;
    device.line("ERROR", &["bad public key"], step).await;
    assert!(device.stop().await.success());
    assert_eq!(
        fixture.stored_seqs(),
        Vec::<i64>::new(),
        "nothing delivered offline"
    );
    let mut device = Example::spawn(example(&program, &[], &state, 0));
    device.line("CONNECTED", &[], step).await;
    let expected: Vec<i64> = (0..50).collect();
    let deadline = tokio::time::Instant::now() + step;
    while fixture.stored_seqs() != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the offline records after the restart: {:?}",
            fixture.stored_seqs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(device.stop().await.success());

    // An SDK token the server does not know.
    let token = fixture.sdk_token.clone();
    let unknown = variant(&sdk, "unknown-token", |text| {
        text.replace(&format!("\"{token}\""), "\"NoSuchSdkToken42\"")
    })
    .await;
    let state = fixture.state_dir("c-unknown-token");
    expect_error(
        example(&unknown, &[], &state, 0),
        &["refused", "NoSuchSdkToken42"],
    )
    .await;

    // An unreachable first server: an error naming it, then the next server of the list.
    let port = kaa_tests::node::free_port();
    let unreachable = variant(&sdk, "unreachable-first", |text| {
        let key = first_key(&text);
        text.replacen(
            "bootstrap_servers[] = {\n",
            &format!(
                "bootstrap_servers[] = {{\n    {{\"127.0.0.1\", {port}, {port}, \"{key}\"}},\n"
            ),
            1,
        )
    })
    .await;
    expect_skips_unreachable(
        example(
            &unreachable,
            &[],
            &fixture.state_dir("c-unreachable-first"),
            0,
        ),
        port,
    )
    .await;
}

#[tokio::test]
async fn the_c_sdk_runs_the_device_scenario_clean_under_sanitizers_and_valgrind() {
    let fixture = SdkFixture::start().await;
    let sdk = fixture.unpack("c").await;
    let sanitized = build(&sdk, "build-asan", &["-DKAA_SANITIZE=ON"]).await;
    device_scenario(&fixture, "c-asan", &|state, logs| {
        example(&sanitized, &[], state, logs)
    })
    .await;

    // Bootstrap over HTTP, sanitized too: its exit status tells of any report.
    let mut command = example(&sanitized, &[], &fixture.state_dir("c-asan-http"), 5);
    command.env("KAA_TRANSPORT", "http");
    let mut device = Example::spawn(command);
    let step = Duration::from_secs(90);
    device.line("CONFIGURATION", &["hello-2"], step).await;
    device.line("LOGS_DELIVERED", &["5"], step).await;
    let status = device.stop().await;
    assert!(status.success(), "{status:?}");

    // The scenario starts from the fixture's first configuration.
    fixture.set_greeting("hello-1").await;
    let program = build(&sdk, "build", &[]).await;
    let valgrind = [
        "valgrind",
        "--quiet",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect,possible",
    ];
    device_scenario(&fixture, "c-valgrind", &|state, logs| {
        example(&program, &valgrind, state, logs)
    })
    .await;
}

#[tokio::test]
async fn the_c_sdk_bootstraps_from_both_nodes_of_a_cluster_and_fails_over() {
    let mut fixture = SdkFixture::two_nodes().await;
    let sdk = fixture.unpack("c").await;
    let program = build(&sdk, "build", &[]).await;
    let properties = sdk.join("generated/kaa_properties.c");
    failover_scenario(
        &mut fixture,
        "c-failover",
        &|state, logs| example(&program, &[], state, logs),
        &properties,
    )
    .await;
}

/// One massif snapshot: milliseconds since start, heap bytes (requested + allocator overhead).
fn massif_snapshots(text: &str) -> Vec<(u64, u64)> {
    let mut snapshots = Vec::new();
    let (mut time, mut heap) = (0, 0);
    for line in text.lines() {
        let value = |prefix: &str| {
            line.strip_prefix(prefix)
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let Some(t) = value("time=") {
            time = t;
        } else if let Some(b) = value("mem_heap_B=") {
            heap = b;
        } else if let Some(extra) = value("mem_heap_extra_B=") {
            snapshots.push((time, heap + extra));
        }
    }
    snapshots
}

/// The example's footprint for docs/benchmarks.md: the code size of the release build and,
/// under valgrind's massif, the peak heap of a 1,000-log run and the heap when idle after it.
/// Bounds keep it small: the buffer holds the records (about 30 bytes each) and one batch.
#[tokio::test]
async fn the_c_sdk_example_stays_small_during_a_1000_log_run() {
    let fixture = SdkFixture::start().await;
    let sdk = fixture.unpack("c").await;
    let program = build(&sdk, "build-release", &["-DCMAKE_BUILD_TYPE=Release"]).await;
    let size = std::process::Command::new("size")
        .arg(&program)
        .output()
        .unwrap();
    eprintln!(
        "size {}:\n{}",
        program.display(),
        String::from_utf8_lossy(&size.stdout)
    );

    let out = sdk.join("massif.out");
    let massif = [
        "valgrind",
        "--tool=massif",
        "--time-unit=ms",
        &format!("--massif-out-file={}", out.display()),
    ];
    let mut device = Example::spawn(example(
        &program,
        &massif,
        &fixture.state_dir("c-massif"),
        1000,
    ));
    let step = Duration::from_secs(180);
    device.line("LOGS_DELIVERED", &["1000"], step).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(device.stop().await.success());

    let snapshots = massif_snapshots(&std::fs::read_to_string(&out).unwrap());
    let peak = snapshots.iter().map(|s| s.1).max().unwrap();
    // After the run the example allocates nothing for 5 s; the first snapshot after that quiet
    // spell (at the shutdown's first heap event) holds the idle heap.
    let idle = snapshots
        .windows(2)
        .find(|pair| pair[1].0 > pair[0].0 + 2000)
        .expect("a quiet spell")[1]
        .1;
    eprintln!(
        "heap: peak {peak} bytes, idle {idle} bytes ({} snapshots)",
        snapshots.len()
    );
    assert!(peak < 256 * 1024, "peak heap {peak} bytes");
    assert!(idle < 32 * 1024, "idle heap {idle} bytes");
}

/// A server that falls silent (stopped, as behind a cut network: no FIN, no RST) is noticed by
/// the unanswered ping, and the device reconnects once it answers again.
#[tokio::test]
async fn the_c_sdk_notices_a_silent_server_by_its_unanswered_ping_and_reconnects() {
    let fixture = SdkFixture::start().await;
    let sdk = fixture.unpack("c").await;
    // A keepalive of 4 s: a ping after 2 s of quiet, unanswered after the 10 s timeout.
    let program = variant_of(&sdk, "short-keepalive", "example/main.c", |text| {
        text.replace(
            "    config.callbacks.user = &example;",
            "    config.keep_alive_s = 4;\n    config.callbacks.user = &example;",
        )
    })
    .await;
    let mut device = Example::spawn(example(
        &program,
        &[],
        &fixture.state_dir("c-silent-server"),
        0,
    ));
    let step = Duration::from_secs(90);
    device.line("CONFIGURATION", &["hello-1"], step).await;
    fixture.nodes[0].signal(Signal::SIGSTOP);
    let silence = device
        .line("ERROR", &["no answer to a ping"], Duration::from_secs(60))
        .await;
    fixture.nodes[0].signal(Signal::SIGCONT);
    device.line("CONNECTED", &[], step).await;
    assert!(device.is_running(), "{silence}");
    let status = device.stop().await;
    assert!(status.success(), "{status:?}");
}
