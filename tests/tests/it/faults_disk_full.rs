//! Fault: the disk under the file log appender fills up. The node's file appender root is a
//! small tmpfs of the test's own; an endpoint uploads log records steadily while a filler file
//! takes every free byte, then the filler is deleted. Checks: while the disk is full every batch
//! is answered FAILURE (never SUCCESS), uploads succeed again once space returns, and every record
//! whose batch got SUCCESS is in the appender's files, each line whole JSON.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kaa_idl::endpoint::sync::LogDeliveryErrorCode;
use kaa_tests::node::NodeBuilder;
use serde_json::{Value, json};

use crate::log_collection::{
    Deliveries, PASSWORD, add_appender, check_complete, client, logging_application, owner_ids,
    produce, tally,
};

/// A tmpfs of its own mounted on a fresh directory; unmounted when dropped, also when the test
/// fails (lazily if something still holds a file open on it).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700")])
            .arg("kaa-test-disk-full")
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// Writes zeros to `path` until the file system has no byte left; returns how many it took.
fn fill(path: &Path) -> u64 {
    let mut filler = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0;
    loop {
        match filler.write(&chunk) {
            Ok(0) => return written,
            Ok(n) => written += n as u64,
            Err(error) if error.kind() == std::io::ErrorKind::StorageFull => return written,
            Err(error) => panic!("filling the disk: {error}"),
        }
    }
}

/// Every line of the appender's files (`readings.log` and its rolled files) in `dir`: the
/// records' `seq`s, and the lines that are not whole JSON records.
fn stored_seqs(dir: &Path) -> (Vec<i64>, Vec<String>) {
    let mut seqs = Vec::new();
    let mut broken = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the application's folder") {
        let path = entry.unwrap().path();
        let text = std::fs::read(&path).unwrap();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Value>(line)
                .ok()
                .and_then(|record| record["event"]["seq"].as_i64())
            {
                Some(seq) => seqs.push(seq),
                None => broken.push(String::from_utf8_lossy(line).chars().take(120).collect()),
            }
        }
    }
    (seqs, broken)
}

/// Produces for `step`s of 100 ms until `done` holds, failing after `within`; returns the
/// SUCCESS statuses heard meanwhile and how long it took.
async fn produce_until(
    endpoint: &mut kaa_sdk::client::KaaClient,
    deliveries: &mut Deliveries,
    next_seq: &mut i64,
    within: Duration,
    what: &str,
    done: impl Fn(&Deliveries) -> bool,
) -> (usize, Duration) {
    let started = Instant::now();
    let mut acks = 0;
    while !done(deliveries) {
        assert!(
            started.elapsed() < within,
            "{what} not within {within:?}: {deliveries:?}"
        );
        acks += produce(endpoint, deliveries, next_seq, Duration::from_millis(100)).await;
    }
    (acks, started.elapsed())
}

#[tokio::test]
async fn a_full_disk_answers_failure_never_success_and_uploads_resume_when_space_returns() {
    const DISK: u64 = 2 * 1024 * 1024;
    const FULL_FOR: Duration = Duration::from_secs(10);
    let disk = Tmpfs::mount(DISK);
    let mut node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("operations.file_appender_root", disk.path().display())
        .start()
        .await;
    let (developer, app, sdk_token) = logging_application(&node).await;
    let (tenant_id, app_id) = owner_ids(&developer, &app).await;
    add_appender(
        &developer,
        &app,
        json!({"name": "file", "type": "file", "confirm_delivery": true,
               "settings": {"path": "readings.log"}}),
    )
    .await;
    let state = tempfile::tempdir().unwrap();
    let mut endpoint = client(&[&node], &sdk_token, state.path());
    let mut deliveries = Deliveries::default();
    let mut next_seq: i64 = 0;

    produce(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(3),
    )
    .await;
    assert!(deliveries.acked > 0, "records were stored before the fill");
    let acked_before_fill = deliveries.acked;

    let filler = disk.path().join("filler");
    let filled = fill(&filler);
    // Room left in the log file's last page may still take a batch or two; once a batch is
    // refused, the next ones carry the same records and more, so none may succeed.
    let (acks_from_slack, first_failure_after) = produce_until(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(15),
        "a FAILURE on the full disk",
        |d| !d.failures.is_empty(),
    )
    .await;
    let acked_when_refused = deliveries.acked;
    let acks_while_full = produce(&mut endpoint, &mut deliveries, &mut next_seq, FULL_FOR).await;
    let refused: usize = deliveries.failures.values().sum();
    assert_eq!(acks_while_full, 0, "SUCCESS while the disk was full");
    assert_eq!(deliveries.acked, acked_when_refused);
    assert_eq!(
        deliveries.failures.keys().collect::<Vec<_>>(),
        [&format!(
            "{:?}",
            Some(LogDeliveryErrorCode::AppenderInternalError)
        )],
        "a full disk is the appender's own failure"
    );

    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let (_, first_success_after) = produce_until(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(15),
        "a SUCCESS once space returned",
        |d| d.acked > acked_when_refused,
    )
    .await;
    produce(
        &mut endpoint,
        &mut deliveries,
        &mut next_seq,
        Duration::from_secs(2),
    )
    .await;
    let total = next_seq as u64;
    deliveries
        .until_acked(&mut endpoint, total, Duration::from_secs(30), |_| {})
        .await;
    let all_acked_after = freed.elapsed();

    let (seqs, broken) = stored_seqs(&disk.path().join(&tenant_id).join(&app_id));
    assert!(
        broken.is_empty(),
        "{} lines are not whole records, e.g. {:?}",
        broken.len(),
        &broken[..broken.len().min(3)]
    );
    let lines = seqs.len();
    let duplicates = check_complete("file", &tally(seqs), next_seq);
    println!(
        "disk full: tmpfs of {} KiB, filler {} KiB; {total} records; {acked_before_fill} acknowledged before the fill, \
         {acks_from_slack} batches more into the space left before the first FAILURE ({:.1}s after the fill); \
         while full for {:.0}s: 0 SUCCESS, {refused} FAILURE {:?}; first SUCCESS {:.1}s after space returned, \
         all {total} acknowledged {:.1}s after; lines {lines}, duplicates {duplicates}, lost 0, broken lines 0",
        DISK / 1024,
        filled / 1024,
        first_failure_after.as_secs_f64(),
        FULL_FOR.as_secs_f64(),
        deliveries.failures,
        first_success_after.as_secs_f64(),
        all_acked_after.as_secs_f64(),
    );
    endpoint.stop().await;
    node.signal(nix::sys::signal::Signal::SIGTERM);
    node.wait_exit(Duration::from_secs(20)).await.unwrap();
}
