//! `kaa-loadgen`: N simulated endpoints against a kaa-rs node over encrypted Kaatcp (or HTTP), to
//! measure it at scale. `keys` fills the key pool once; the modes (`register`, `idle`, `sync`,
//! `listen`, `logs`) ramp the sessions up and print a JSON result; `mqtt-idle` and
//! `cassandra-baseline` measure the baselines (a broker's idle connections, raw Cassandra
//! inserts) the same way; `junk` sends CONNECTs of random bytes, to see the node's limits under
//! abuse. See `kaa_tests::loadgen`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kaa_tests::loadgen::cassandra_baseline::{BaselineOptions, Shape};
use kaa_tests::loadgen::junk::{self, JunkOptions};
use kaa_tests::loadgen::logs::LogsOptions;
use kaa_tests::loadgen::mqtt::MqttOptions;
use kaa_tests::loadgen::{self, Load, Options, Run, TransportKind, keys};

#[derive(Parser)]
#[command(
    name = "kaa-loadgen",
    about = "Simulated endpoints at scale against a kaa-rs node: registration storms, idle \
             sessions, syncs, pushes and log uploads, and their baselines",
    after_help = "Exit status: 0 when every session opened and none failed, 1 when some did (the \
                  result is still written), 2 when the run could not start."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the key pool hold at least --count RSA key pairs (generated on every core,
    /// appended to what the pool holds).
    Keys(KeysArgs),
    /// Connect, register (profile and public key) and close: completion time and refusals.
    Register(CommonArgs),
    /// Hold the sessions for --duration, pinging at keepalive/2: who stays connected.
    Idle(CommonArgs),
    /// Configuration syncs (NO_DELTA) per endpoint against PINGREQ round trips over the same
    /// sessions, each phase --duration long.
    Sync(SyncArgs),
    /// Hold the sessions and record every configuration push and notification with its
    /// wall-clock arrival time.
    Listen(CommonArgs),
    /// Upload log batches from every endpoint for --duration: acknowledged records/s, ack
    /// latency, failures by delivery error code.
    Logs(LogsArgs),
    /// Hold as many idle MQTT 3.1.1 connections to a broker (PINGREQ at keepalive/2), for the
    /// mosquitto baseline of idle sessions.
    MqttIdle(MqttArgs),
    /// Insert the rows `logs` sends straight into Cassandra with the scylla driver, batch by
    /// batch as the Cassandra appender writes them: rows/s, the baseline of log ingest.
    CassandraBaseline(BaselineArgs),
    /// Send --endpoints CONNECTs of random bytes (each costing the node an RSA unwrap) from the
    /// source addresses, each read to its CONNACK: answers by return code, connections closed.
    Junk(JunkArgs),
}

#[derive(clap::Args)]
struct JunkArgs {
    /// The Kaatcp address (Operations or Bootstrap).
    #[arg(long, value_name = "HOST:PORT")]
    target: String,
    #[command(flatten)]
    load: Load,
}

#[derive(clap::Args)]
struct KeysArgs {
    /// The key pool file (created when missing).
    #[arg(long, value_name = "FILE")]
    pool: PathBuf,
    /// How many keys the pool must hold.
    #[arg(long)]
    count: usize,
    /// RSA modulus size (Kaatcp needs 2048).
    #[arg(long, default_value_t = 2048)]
    bits: usize,
    /// Generator threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(clap::Args)]
struct CommonArgs {
    /// The Bootstrap server's Kaatcp address; it names the Operations servers and their keys.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: String,
    /// The application's SDK token.
    #[arg(long)]
    sdk_token: String,
    /// The key pool (kaa-loadgen keys).
    #[arg(long, value_name = "FILE")]
    pool: PathBuf,
    /// The first key of the pool to use (fresh keys register new endpoints).
    #[arg(long, default_value_t = 0)]
    first: usize,
    /// The transport.
    #[arg(long, value_enum, default_value_t = TransportKind::Tcp)]
    transport: TransportKind,
    #[command(flatten)]
    load: Load,
}

#[derive(clap::Args)]
struct SyncArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Syncs (and, in the baseline phase, pings) per endpoint a second (default: back to back).
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
}

#[derive(clap::Args)]
struct LogsArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Records per batch (each one sync; records are seq, endpoint and a 64-byte payload).
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Batches per endpoint a second (0 with --confirm: the next as soon as the last is
    /// acknowledged).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 1.0)]
    rate: f64,
    /// Send an endpoint's next batch only once the last one's delivery status came.
    #[arg(long)]
    confirm: bool,
    /// After a batch answered FAILURE, how long the endpoint waits before its next batch (Kaa's
    /// SDKs wait their upload strategy's retry period, minutes by default).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = kaa_tests::loadgen::duration_arg)]
    retry_after: Duration,
}

#[derive(clap::Args)]
struct MqttArgs {
    /// The MQTT broker.
    #[arg(long, value_name = "HOST:PORT")]
    broker: String,
    #[command(flatten)]
    load: Load,
}

#[derive(clap::Args)]
struct BaselineArgs {
    /// A Cassandra contact point (repeatable).
    #[arg(long = "contact", value_name = "HOST:PORT", required = true)]
    contact: Vec<String>,
    /// The keyspace (created when missing, as the appender creates it).
    #[arg(long)]
    keyspace: String,
    /// The table (created when missing, with the appender's columns).
    #[arg(long)]
    table: String,
    /// Rows to insert (rounded up to whole batches).
    #[arg(long)]
    rows: u64,
    /// Rows per batch, as the `logs` run's --batch.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// Batches in flight (1: the appender's shape, one batch after another).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Endpoints the rows belong to, as in the `logs` run.
    #[arg(long, default_value_t = 1)]
    endpoints: u32,
    /// How a batch is written: `rows` (one INSERT per row, 32 in flight, as the appender) or
    /// `unlogged` (one unlogged CQL batch).
    #[arg(long, value_enum, default_value_t = Shape::Rows)]
    shape: Shape,
    /// Write the JSON result here too.
    #[arg(long, value_name = "FILE.json")]
    result: Option<PathBuf>,
}

impl CommonArgs {
    fn options(self) -> Options {
        Options {
            bootstrap: self.bootstrap,
            sdk_token: self.sdk_token,
            pool: self.pool,
            first: self.first,
            transport: self.transport,
            load: self.load,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command.execute().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kaa-loadgen: {error:#}");
            ExitCode::from(2)
        }
    }
}

impl Command {
    async fn execute(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Keys(args) => grow_pool(args),
            Command::Register(args) => {
                loadgen::register::run(&Run::prepare(args.options()).await?).await
            }
            Command::Idle(args) => loadgen::idle::run(&Run::prepare(args.options()).await?).await,
            Command::Sync(args) => {
                let run = Run::prepare(args.common.options()).await?;
                loadgen::sync::run(&run, args.rate).await
            }
            Command::Listen(args) => {
                loadgen::listen::run(&Run::prepare(args.options()).await?).await
            }
            Command::Logs(args) => {
                let options = LogsOptions {
                    batch: args.batch,
                    rate: args.rate,
                    confirm: args.confirm,
                    retry_after: args.retry_after,
                    duration: args.common.load.duration,
                };
                options.validate()?;
                let run = Run::prepare(args.common.options()).await?;
                loadgen::logs::run(&run, options).await
            }
            Command::MqttIdle(args) => loadgen::mqtt::run(args.options()).await,
            Command::Junk(args) => {
                let options = JunkOptions {
                    target: junk::target(&args.target)?,
                    load: args.load,
                };
                junk::run(options).await
            }
            Command::CassandraBaseline(args) => {
                let options = BaselineOptions {
                    contact_points: args.contact,
                    keyspace: args.keyspace,
                    table: args.table,
                    rows: args.rows,
                    batch: args.batch,
                    concurrency: args.concurrency,
                    endpoints: args.endpoints,
                    shape: args.shape,
                };
                loadgen::cassandra_baseline::run(&options, args.result.as_deref()).await
            }
        }
    }
}

impl MqttArgs {
    fn options(self) -> MqttOptions {
        MqttOptions {
            broker: self.broker,
            load: self.load,
        }
    }
}

fn grow_pool(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let last_line = std::sync::Mutex::new(std::time::Instant::now());
    let progress = |done: usize, missing: usize| {
        let mut last = last_line.lock().expect("progress lock");
        if done == missing || last.elapsed() >= Duration::from_secs(5) {
            *last = std::time::Instant::now();
            eprintln!("kaa-loadgen: {done}/{missing} keys generated");
        }
    };
    let grown = keys::grow(&args.pool, args.count, args.bits, threads, &progress)?;
    let generated = grown.after - grown.before;
    let result = serde_json::json!({
        "pool": args.pool,
        "before": grown.before,
        "after": grown.after,
        "generated": generated,
        "threads": threads,
        "seconds": loadgen::report::seconds(Duration::from_secs_f64(grown.seconds)),
        "keys_per_s": (generated > 0).then(|| (generated as f64 / grown.seconds).round()),
    });
    println!("{result}");
    Ok(ExitCode::SUCCESS)
}
