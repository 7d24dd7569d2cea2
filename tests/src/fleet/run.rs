//! `kaa-fleet run`: N endpoints, each a real SDK client ([`KaaClient`]) with its own key pair,
//! each logging one [`Reading`] per interval with confirm delivery and tallying which of its
//! records the server acknowledged.
//!
//! Flow: key pairs live in a key cache, made once (RSA generation is the slow part; missing
//! keys are made in parallel on every core) and copied into a fresh per-run state dir per
//! endpoint, so a run never resends records an earlier run left in the SDK's log buffer. Each
//! endpoint is one task: it appends on its tick, reads its client's events, records them in the
//! [`EventLog`] and keeps its acknowledged sequence numbers in its [`Tally`]. A stop file or
//! SIGTERM/SIGINT ends appending; the run then waits, up to the drain time, until every
//! appended record is acknowledged (a second signal cuts the wait short), stops the clients and
//! returns the summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use kaa_sdk::avro::AvroRecord;
use kaa_sdk::client::{BootstrapServer, ClientConfig, Event, KaaClient};
use kaa_sdk::keys::EndpointKeys;
use serde_json::{Value, json};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::events::EventLog;
use super::record::Reading;
use super::tally::{Tally, summary};

/// The files of an endpoint's key pair in an SDK state dir (see `kaa_sdk::keys`); only the
/// private key is needed, the public one is copied when present.
const KEY_FILES: [&str; 2] = ["key.private", "key.public"];

/// How a fleet runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Bootstrap servers, tried in order by every endpoint.
    pub bootstrap: Vec<BootstrapServer>,
    /// The SDK token of the application's SDK profile.
    pub sdk_token: String,
    /// How many endpoints.
    pub endpoints: usize,
    /// Per-run SDK state dirs, `<state_dir>/<index>`, emptied at the start.
    pub state_dir: PathBuf,
    /// Key pairs kept across runs, `<key_cache>/<index>/key.private`.
    pub key_cache: PathBuf,
    /// Each endpoint appends one record per interval.
    pub log_interval: Duration,
    /// Endpoint `i` of `n` starts `ramp * i / n` after the first.
    pub ramp: Duration,
    /// Kaatcp keepalive (s); the SDK pings at half of it.
    pub keep_alive: u16,
    /// SDK network timeout.
    pub timeout: Duration,
    /// SDK pause after a failure, doubling up to `max_retry_delay`.
    pub retry_delay: Duration,
    /// Longest SDK pause between attempts.
    pub max_retry_delay: Duration,
    /// The JSON-lines event file.
    pub events: Option<PathBuf>,
    /// Appending stops when this file appears.
    pub stop_file: Option<PathBuf>,
    /// How long to wait for outstanding acknowledgements after appending stopped.
    pub drain: Duration,
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Appending,
    Draining,
    Stopping,
}

/// Totals over the fleet, for the drain and progress lines.
#[derive(Default)]
struct Progress {
    appended: AtomicU64,
    acknowledged: AtomicU64,
    connected: AtomicUsize,
}

impl Progress {
    fn line(&self) -> String {
        format!(
            "appended {}, acknowledged {}, connected {}",
            self.appended.load(Ordering::Relaxed),
            self.acknowledged.load(Ordering::Relaxed),
            self.connected.load(Ordering::Relaxed)
        )
    }

    fn drained(&self) -> bool {
        self.acknowledged.load(Ordering::Relaxed) >= self.appended.load(Ordering::Relaxed)
    }
}

/// Runs the fleet until stopped; returns the summary.
pub async fn run(options: RunOptions) -> anyhow::Result<Value> {
    let started = Instant::now();
    let cache = options.key_cache.clone();
    let count = options.endpoints;
    let made = tokio::task::spawn_blocking(move || make_keys(&cache, count)).await??;
    eprintln!(
        "kaa-fleet: {count} key pairs ready ({made} made) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let (log, writer) = EventLog::open(options.events.as_deref())
        .with_context(|| format!("event file {:?}", options.events))?;
    let progress = Arc::new(Progress::default());
    let (phase_tx, phase_rx) = watch::channel(Phase::Appending);
    let mut tasks = Vec::with_capacity(count);
    let first_tick = Instant::now();
    for index in 0..count {
        tokio::time::sleep_until(first_tick + options.ramp.mul_f64(index as f64 / count as f64))
            .await;
        let state = fresh_state(&options.state_dir, &options.key_cache, index)?;
        let client = KaaClient::start(ClientConfig {
            timeout: options.timeout,
            retry_delay: options.retry_delay,
            max_retry_delay: options.max_retry_delay,
            keep_alive: options.keep_alive,
            ..ClientConfig::new(options.bootstrap.clone(), &options.sdk_token, state)
        })
        .with_context(|| format!("endpoint {index}"))?;
        // Ticks spread over the interval, so the fleet's records do not come in waves.
        let offset = options.log_interval.mul_f64(index as f64 / count as f64);
        let endpoint = Endpoint {
            index,
            client,
            log: log.clone(),
            progress: progress.clone(),
            tally: Tally::default(),
        };
        tasks.push(tokio::spawn(endpoint.run(
            phase_rx.clone(),
            first_tick + offset,
            options.log_interval,
        )));
    }
    drop(log);
    let mut signals = Signals::new()?;
    let stopped_by = signals
        .until_stop(options.stop_file.as_deref(), &progress)
        .await;
    let appending_ms = first_tick.elapsed().as_millis() as u64;
    eprintln!("kaa-fleet: {stopped_by}: draining ({})", progress.line());
    phase_tx.send_replace(Phase::Draining);
    let drain_started = Instant::now();
    let drained = signals.until_drained(&progress, options.drain).await;
    let drain_ms = drain_started.elapsed().as_millis() as u64;
    eprintln!(
        "kaa-fleet: {} after {drain_ms} ms ({}); stopping the clients",
        if drained {
            "drained"
        } else {
            "drain cut short"
        },
        progress.line()
    );
    phase_tx.send_replace(Phase::Stopping);
    let mut tallies = Vec::with_capacity(count);
    for task in tasks {
        tallies.push(task.await.context("an endpoint task failed")?);
    }
    writer.finish().context("writing the event file")?;
    Ok(summary(
        &tallies,
        stopped_by,
        drained,
        appending_ms,
        drain_ms,
    ))
}

/// Makes the key pairs `<cache>/<index>` lacks for indexes below `count`, in parallel;
/// returns how many it made.
fn make_keys(cache: &Path, count: usize) -> anyhow::Result<usize> {
    let missing: Vec<PathBuf> = (0..count)
        .map(|index| cache.join(index.to_string()))
        .filter(|dir| !dir.join(KEY_FILES[0]).exists())
        .collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(missing.len());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    while let Some(dir) = missing.get(next.fetch_add(1, Ordering::Relaxed)) {
                        EndpointKeys::load_or_create(dir)
                            .with_context(|| format!("key pair in {}", dir.display()))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| worker.join().expect("a key worker panicked"))
    })?;
    Ok(missing.len())
}

/// An empty SDK state dir `<state_dir>/<index>` holding the endpoint's cached key pair.
fn fresh_state(state_dir: &Path, key_cache: &Path, index: usize) -> anyhow::Result<PathBuf> {
    let dir = state_dir.join(index.to_string());
    match std::fs::remove_dir_all(&dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(error).with_context(|| format!("emptying {}", dir.display()));
        }
        _ => {}
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let keys = key_cache.join(index.to_string());
    for name in KEY_FILES {
        let from = keys.join(name);
        if from.exists() {
            std::fs::copy(&from, dir.join(name))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    Ok(dir)
}

/// One endpoint of the fleet.
struct Endpoint {
    index: usize,
    client: KaaClient,
    log: EventLog,
    progress: Arc<Progress>,
    tally: Tally,
}

impl Endpoint {
    async fn run(
        mut self,
        mut phase: watch::Receiver<Phase>,
        start: Instant,
        every: Duration,
    ) -> Tally {
        let mut ticks = tokio::time::interval_at(start, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let now = *phase.borrow_and_update();
            if now == Phase::Stopping {
                break;
            }
            tokio::select! {
                _ = ticks.tick(), if now == Phase::Appending => self.append(),
                event = self.client.next_event() => match event {
                    Some(event) => self.on_event(event),
                    None => break,
                },
                changed = phase.changed() => if changed.is_err() {
                    break;
                },
            }
        }
        if tokio::time::timeout(Duration::from_secs(10), self.client.stop())
            .await
            .is_err()
        {
            eprintln!(
                "kaa-fleet: endpoint {} did not stop within 10 s",
                self.index
            );
        }
        self.tally
    }

    fn append(&mut self) {
        let reading = Reading {
            endpoint: self.index as i32,
            seq: self.tally.appended,
        };
        match self.client.log(reading.to_avro()) {
            Ok(id) => {
                self.tally.appended(id);
                self.progress.appended.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.record("error", json!({"message": format!("append: {error}")})),
        }
    }

    fn on_event(&mut self, event: Event) {
        let Some(seen) = self.tally.see(event) else {
            return;
        };
        let progress = &self.progress;
        progress
            .acknowledged
            .fetch_add(seen.acknowledged, Ordering::Relaxed);
        match seen.connected {
            1 => progress.connected.fetch_add(1, Ordering::Relaxed),
            -1 => progress.connected.fetch_sub(1, Ordering::Relaxed),
            _ => 0,
        };
        self.record(seen.kind, seen.fields);
    }

    fn record(&self, kind: &str, fields: Value) {
        self.log.record(self.index, kind, fields);
    }
}

/// SIGTERM and SIGINT, which stop the run (and cut its drain short).
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
        })
    }

    /// Waits for a signal or the stop file, printing progress every 5 s; says which came.
    async fn until_stop(&mut self, stop_file: Option<&Path>, progress: &Progress) -> &'static str {
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        let mut report = tokio::time::interval(Duration::from_secs(5));
        report.tick().await;
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = report.tick() => eprintln!("kaa-fleet: {}", progress.line()),
                _ = poll.tick() => if stop_file.is_some_and(Path::exists) {
                    return "stop file";
                },
            }
        }
    }

    /// Waits until every appended record is acknowledged, at most `within` and until a signal;
    /// true if they all were.
    async fn until_drained(&mut self, progress: &Progress, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            if progress.drained() {
                return true;
            }
            tokio::select! {
                _ = self.term.recv() => return false,
                _ = self.int.recv() => return false,
                _ = tokio::time::sleep_until(deadline) => return progress.drained(),
                _ = poll.tick() => {}
            }
        }
    }
}
