//! The load generator (`kaa-loadgen`): N simulated endpoints, each with its own RSA key from a
//! pool file ([`keys`]), holding encrypted Kaatcp sessions ([`session`]) to an Operations node
//! from many source addresses ([`sources`]), to measure what the node does at scale.
//!
//! A run: [`Run::prepare`] raises the descriptor limit, checks the pool, bootstraps once
//! (Operations servers and their keys) and starts the [`progress`] line; [`Run::open_sessions`]
//! ramps the sessions up (at most `--concurrency` CONNECTs in flight, at most `--connect-rate`
//! a second); the mode then drives them ([`register`], [`idle`] and [`listen`], [`sync`],
//! [`logs`]) with one small task per session ([`Run::each`]) until `--duration` passes or
//! SIGINT/SIGTERM comes; [`Run::finish`] writes the result ([`report`]) and says plainly what
//! failed. The baselines run apart: [`mqtt`] (idle MQTT connections to a broker, over the same
//! source addresses) and [`cassandra_baseline`] (the rows of [`logs`] written straight to
//! Cassandra); so does [`junk`] (CONNECTs of random bytes, for the node's limits under abuse).

pub mod cassandra_baseline;
pub mod http;
pub mod idle;
pub mod junk;
pub mod keys;
pub mod listen;
pub mod logs;
pub mod mqtt;
pub mod progress;
pub mod register;
pub mod report;
pub mod session;
pub mod sources;
pub mod sync;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::loadgen::keys::KeyPool;
use crate::loadgen::progress::Progress;
use crate::loadgen::report::Tally;
use kaa_sdk::channel::{Security, SessionKeys};

use crate::loadgen::session::{Session, SessionError, Target};
use crate::loadgen::sources::{NoFile, Sources};

/// How the sessions reach the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// Kaatcp over TCP.
    Tcp,
    /// HTTP: one `POST /EP/Sync` per request (see [`http`]).
    Http,
}

impl TransportKind {
    /// The SDK's name for the transport (how bootstrap answers name it).
    pub fn sdk(self) -> kaa_sdk::bootstrap::Transport {
        match self {
            Self::Tcp => kaa_sdk::bootstrap::Transport::Tcp,
            Self::Http => kaa_sdk::bootstrap::Transport::Http,
        }
    }
}

/// The refusal a node gives a CONNECT it has no room for now (its private-key queue is full).
const SERVER_UNAVAILABLE: &str = "ServerUnavailable";

/// How often a session tries again after [`SERVER_UNAVAILABLE`] before it counts as refused.
const UNAVAILABLE_RETRIES: u32 = 8;

/// The wait of session `index` before its retry `attempt` (from 1) after
/// [`SERVER_UNAVAILABLE`]: 0.5 s doubling up to 8 s, each between half and all of it, spread by
/// the index (jitter, so refused sessions do not come back together).
fn unavailable_backoff(index: usize, attempt: u32) -> Duration {
    let full = Duration::from_millis(500) * (1 << (attempt.clamp(1, 5) - 1));
    let spread = (index as u64)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(u64::from(attempt))
        % 1000;
    full.mul_f64(0.5 + spread as f64 / 2000.0)
}

/// How many connections a run opens, how fast, for how long, and where it reports: the same for
/// the Kaatcp modes and `mqtt-idle`. Also the command line's flags for it.
#[derive(Debug, Clone, clap::Args)]
pub struct Load {
    /// How many endpoints (connections).
    #[arg(long)]
    pub endpoints: usize,
    /// Source addresses 127.0.1.1, 127.0.1.2, … (default: one per 2,000 connections).
    #[arg(long)]
    pub sources: Option<usize>,
    /// New connections a second at most (default: as fast as --concurrency allows).
    #[arg(long, value_name = "PER_SECOND")]
    pub connect_rate: Option<f64>,
    /// CONNECTs in flight at most.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Make every Kaatcp session's key material (its session key wrapped for the node and
    /// signed) before the first connection opens, as a fleet of devices with a processor each
    /// would have it: otherwise the generator's own private-key work shares the cores with the
    /// node's and holds back the CONNECTs of connections already open.
    #[arg(long)]
    pub presign: bool,
    /// Keepalive in seconds; connections ping at half of it.
    #[arg(long = "keepalive", default_value_t = 60)]
    pub keep_alive: u16,
    /// How long to hold or drive the connections after the ramp (500ms, 30s, 2m).
    #[arg(long, default_value = "10s", value_parser = duration_arg)]
    pub duration: Duration,
    /// How long a connect or an answer may take.
    #[arg(long, default_value = "30s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Write the JSON result here too.
    #[arg(long, value_name = "FILE.json")]
    pub result: Option<PathBuf>,
    /// Write {"connected", "t_ms"} here once the ramp is done (for a driver that acts then).
    #[arg(long, value_name = "FILE")]
    pub ready: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// A duration on the command line (500ms, 30s, 2m).
pub fn duration_arg(text: &str) -> Result<Duration, String> {
    crate::fleet::parse_duration(text).map_err(|e| e.to_string())
}

/// What every Kaatcp/HTTP mode is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Bootstrap server's Kaatcp address.
    pub bootstrap: String,
    /// The application's SDK token.
    pub sdk_token: String,
    /// The key pool file.
    pub pool: PathBuf,
    /// The first key of the pool this run uses.
    pub first: usize,
    /// The transport.
    pub transport: TransportKind,
    /// How many sessions, how fast, for how long.
    pub load: Load,
}

/// A run in progress: what its sessions share.
pub struct Run {
    /// The options.
    pub options: Options,
    /// The servers and the token.
    pub target: Arc<Target>,
    /// The endpoints' keys.
    pub pool: Arc<KeyPool>,
    /// The source addresses.
    pub sources: Sources,
    /// The descriptor limits in force.
    pub nofile: NoFile,
    /// The progress line's counters.
    pub progress: Arc<Progress>,
    /// Failures so far.
    pub tally: Arc<Tally>,
    /// Cancelled by SIGINT or SIGTERM.
    pub stop: CancellationToken,
    started: Instant,
    rss_before: u64,
}

/// The sessions a ramp opened.
pub struct Ramp {
    /// The open sessions (none in `register`, which closes each at once).
    pub sessions: Vec<Session>,
    /// Time from the start of CONNECT to the registration's answer, per opened session.
    pub connect: Vec<Duration>,
    /// How long the ramp took.
    pub took: Duration,
    /// How many sessions opened.
    pub opened: usize,
}

impl Run {
    /// Raises the descriptor limit, checks the pool and bootstraps.
    pub async fn prepare(options: Options) -> anyhow::Result<Arc<Self>> {
        anyhow::ensure!(options.load.endpoints > 0, "--endpoints must be at least 1");
        anyhow::ensure!(
            options.load.concurrency > 0,
            "--concurrency must be at least 1"
        );
        let nofile = sources::raise_nofile(options.load.endpoints)?;
        let sources = Sources::new(options.load.sources, options.load.endpoints)?;
        let pool = KeyPool::open(&options.pool)?;
        pool.check_range(options.first, options.load.endpoints)?;
        let target = Target::bootstrap(
            &options.bootstrap,
            &options.sdk_token,
            options.transport.sdk(),
            options.load.keep_alive,
            options.load.timeout,
        )
        .await?;
        let stop = CancellationToken::new();
        tokio::spawn(cancel_on_signal(stop.clone()));
        Ok(Arc::new(Self {
            progress: Progress::start(options.load.endpoints, options.load.quiet),
            options,
            target: Arc::new(target),
            pool: Arc::new(pool),
            sources,
            nofile,
            tally: Arc::new(Tally::default()),
            stop,
            started: Instant::now(),
            rss_before: report::rss_bytes(),
        }))
    }

    /// Opens every session; with `keep` false each closes right after its registration. Kept
    /// sessions are kept alive (pinged, read) from the moment they open until the ramp ends, so
    /// a ramp longer than the keepalive loses none of its first sessions.
    pub async fn open_sessions(self: &Arc<Self>, keep: bool) -> anyhow::Result<Ramp> {
        let mut presigned = if self.options.load.presign {
            self.presign().await?
        } else {
            Vec::new()
        };
        let started = Instant::now();
        let in_flight = Arc::new(Semaphore::new(self.options.load.concurrency));
        let mut pacing = self.options.load.connect_rate.map(|rate| {
            let mut pacing = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1e-3)));
            pacing.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            pacing
        });
        let mut opening: JoinSet<OpenResult> = JoinSet::new();
        let mut opened = Opened {
            ramp_done: CancellationToken::new(),
            keeping: JoinSet::new(),
            ramp: Ramp {
                sessions: Vec::with_capacity(if keep { self.options.load.endpoints } else { 0 }),
                connect: Vec::with_capacity(self.options.load.endpoints),
                took: Duration::ZERO,
                opened: 0,
            },
        };
        for n in 0..self.options.load.endpoints {
            if self.stop.is_cancelled() {
                break;
            }
            if let Some(pacing) = &mut pacing {
                pacing.tick().await;
            }
            let permit = in_flight.clone().acquire_owned().await?;
            let index = self.options.first + n;
            let source = self.sources.for_session(n);
            let (pool, target, tally) =
                (self.pool.clone(), self.target.clone(), self.tally.clone());
            let mut session_keys = presigned.get_mut(n).and_then(Option::take);
            opening.spawn(async move {
                let _permit = permit;
                let began = Instant::now();
                let mut deferred = 0;
                let opened = loop {
                    let keys = match pool.get(index) {
                        Ok(keys) => keys,
                        Err(error) => return Err(Fatal(error)),
                    };
                    match Session::open(&target, index, keys, session_keys.take(), source).await {
                        // The node's private-key queue was full: try again later, as an SDK does.
                        Err(SessionError::Refused(reason))
                            if reason == SERVER_UNAVAILABLE && deferred < UNAVAILABLE_RETRIES =>
                        {
                            deferred += 1;
                            tally.deferred.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(unavailable_backoff(index, deferred)).await;
                        }
                        opened => break opened,
                    }
                };
                let took = began.elapsed();
                match opened {
                    Ok((session, _)) if !keep => {
                        session.close().await;
                        Ok(Ok((None, took)))
                    }
                    Ok((session, _)) => Ok(Ok((Some(session), took))),
                    Err(error) => Ok(Err(error)),
                }
            });
            while let Some(done) = opening.try_join_next() {
                self.opened(done, &mut opened)?;
            }
        }
        while let Some(done) = opening.join_next().await {
            self.opened(done, &mut opened)?;
        }
        opened.ramp_done.cancel();
        let mut ramp = opened.ramp;
        while let Some(kept) = opened.keeping.join_next().await {
            ramp.sessions.extend(kept?.session);
        }
        ramp.took = started.elapsed();
        if let Some(file) = &self.options.load.ready {
            let ready = json!({ "connected": ramp.opened, "t_ms": wall_clock_ms() });
            std::fs::write(file, format!("{ready}\n"))
                .with_context(|| format!("writing {}", file.display()))?;
        }
        Ok(ramp)
    }

    /// Every session's Kaatcp key material, made on every core before the ramp starts
    /// (`--presign`); says how long it took.
    async fn presign(&self) -> anyhow::Result<Vec<Option<SessionKeys>>> {
        let began = Instant::now();
        let count = self.options.load.endpoints;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut making = JoinSet::new();
        for worker in 0..workers {
            let (run_pool, target, first) =
                (self.pool.clone(), self.target.clone(), self.options.first);
            making.spawn_blocking(move || -> anyhow::Result<Vec<(usize, SessionKeys)>> {
                (worker..count)
                    .step_by(workers)
                    .map(|n| {
                        let keys = run_pool.get(first + n)?;
                        let security = Security::Encrypted {
                            server_key: &target.server(first + n).public_key,
                            endpoint: &keys,
                        };
                        let prepared = SessionKeys::prepare(security).map_err(|e| {
                            anyhow::anyhow!("session keys of endpoint {}: {e}", first + n)
                        })?;
                        Ok((n, prepared))
                    })
                    .collect()
            });
        }
        let mut presigned: Vec<Option<SessionKeys>> = (0..count).map(|_| None).collect();
        while let Some(made) = making.join_next().await {
            for (n, keys) in made?? {
                presigned[n] = Some(keys);
            }
        }
        eprintln!(
            "kaa-loadgen: {count} sessions' keys made in {:.1} s, before the ramp",
            began.elapsed().as_secs_f64()
        );
        Ok(presigned)
    }

    fn opened(
        self: &Arc<Self>,
        done: Result<OpenResult, tokio::task::JoinError>,
        opened: &mut Opened,
    ) -> anyhow::Result<()> {
        match done? {
            Err(Fatal(error)) => Err(error),
            Ok(Ok((session, took))) => {
                opened.ramp.opened += 1;
                opened.ramp.connect.push(took);
                if let Some(session) = session {
                    let (run, release) = (self.clone(), opened.ramp_done.clone());
                    opened
                        .keeping
                        .spawn(async move { idle::keep(&run, session, release, false).await });
                }
                self.progress.opened.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(error)) => {
                self.tally.record(&error);
                self.progress.failed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// A token cancelled after `duration`, or at once on SIGINT/SIGTERM.
    pub fn until(&self, duration: Duration) -> CancellationToken {
        let token = self.stop.child_token();
        let timer = token.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(duration) => timer.cancel(),
                () = timer.cancelled() => {}
            }
        });
        token
    }

    /// Runs `work` on every session, each in a task of its own, and collects what they return.
    pub async fn each<T, F, Fut>(&self, sessions: Vec<Session>, work: F) -> anyhow::Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(Session) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let mut tasks = JoinSet::new();
        for session in sessions {
            tasks.spawn(work(session));
        }
        let mut results = Vec::with_capacity(tasks.len());
        while let Some(result) = tasks.join_next().await {
            results.push(result?);
        }
        Ok(results)
    }

    /// Counts a session that ended by itself while held.
    pub fn lost(&self, error: &session::SessionError) {
        self.tally.record(error);
        self.progress.lost.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the result (common fields from `ramp` plus `fields`) and says what failed; the
    /// exit code is a failure when any session failed or was lost.
    pub fn finish(
        &self,
        mode: &str,
        ramp: &Ramp,
        rss_with_sessions: u64,
        fields: Map<String, Value>,
    ) -> anyhow::Result<ExitCode> {
        self.progress.finish();
        let result = report::result(
            report::Common {
                mode,
                endpoints: self.options.load.endpoints,
                connected: ramp.opened,
                tally: &self.tally,
                ramp: ramp.took,
                elapsed: self.started.elapsed(),
                nofile: self.nofile,
                sources: self.sources.len(),
                rss_before: self.rss_before,
                rss_with_sessions,
            },
            fields,
        );
        report::publish(&result, self.options.load.result.as_deref())?;
        let complaints = report::complaints(&self.tally);
        for line in &complaints {
            eprintln!("kaa-loadgen: {line}");
        }
        let short = ramp.opened < self.options.load.endpoints;
        if short && complaints.is_empty() {
            eprintln!(
                "kaa-loadgen: {} of {} sessions opened (stopped early)",
                ramp.opened, self.options.load.endpoints
            );
        }
        Ok(if short || !complaints.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// A ramp in progress: what it counted, and the sessions kept alive until it ends.
struct Opened {
    ramp: Ramp,
    ramp_done: CancellationToken,
    keeping: JoinSet<idle::Kept>,
}

/// A failure that ends the whole run (the pool cannot be read), not one session.
struct Fatal(anyhow::Error);

type OpenResult = Result<Result<(Option<Session>, Duration), session::SessionError>, Fatal>;

/// Milliseconds since the Unix epoch, the clock the bench driver compares arrivals with.
pub fn wall_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

async fn cancel_on_signal(stop: CancellationToken) {
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    stop.cancel();
}
