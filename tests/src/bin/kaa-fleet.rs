//! `kaa-fleet`: a device fleet for tests on real hosts. `run` starts many SDK endpoints that
//! log records with confirm delivery (events to a JSON-lines file, a JSON summary at the end);
//! `count` checks the rows a Cassandra log appender stored against a run's summary. See
//! `kaa_tests::fleet`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kaa_sdk::client::BootstrapServer;
use kaa_tests::fleet::count::{CountOptions, count};
use kaa_tests::fleet::run::{RunOptions, run};
use kaa_tests::fleet::{parse_duration, parse_public_key};

#[derive(Parser)]
#[command(
    name = "kaa-fleet",
    about = "A fleet of SDK endpoints uploading logs, and a check of what was stored"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run endpoints that log one record per interval until SIGTERM/SIGINT or the stop file;
    /// print a JSON summary.
    Run(RunArgs),
    /// Count the (endpoint, seq) rows of a Cassandra table; with --acked, check that every
    /// record a run saw acknowledged is there (exit 1 if any is lost).
    Count(CountArgs),
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

#[derive(clap::Args)]
struct RunArgs {
    /// A Kaatcp bootstrap server (repeatable; tried in order).
    #[arg(long = "bootstrap", value_name = "HOST:PORT", required = true)]
    bootstrap: Vec<String>,
    /// The public key of the bootstrap server at the same position (repeatable): base64 text
    /// as `kaa-node keys init` prints it, DER or PEM. Servers without one bootstrap in
    /// plaintext.
    #[arg(long = "bootstrap-key", value_name = "FILE")]
    bootstrap_key: Vec<PathBuf>,
    /// The SDK token of the application's SDK profile.
    #[arg(long)]
    sdk_token: String,
    /// How many endpoints.
    #[arg(long, default_value_t = 10)]
    endpoints: usize,
    /// Per-run SDK state, one sub-dir per endpoint (emptied at the start).
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
    /// Key pairs kept across runs (default: <state-dir>/keys).
    #[arg(long, value_name = "DIR")]
    key_cache: Option<PathBuf>,
    /// Each endpoint appends one record per interval.
    #[arg(long, default_value = "500ms", value_parser = duration)]
    log_interval: Duration,
    /// Start the endpoints one after another over this long (0: all at once).
    #[arg(long, default_value = "0s", value_parser = duration)]
    ramp: Duration,
    /// Kaatcp keepalive in seconds (the SDK pings at half of it).
    #[arg(long, default_value_t = 4)]
    keep_alive: u16,
    /// SDK network timeout.
    #[arg(long, default_value = "3s", value_parser = duration)]
    timeout: Duration,
    /// SDK pause after a failure (doubling with each failure in a row).
    #[arg(long, default_value = "500ms", value_parser = duration)]
    retry_delay: Duration,
    /// Longest SDK pause between attempts.
    #[arg(long, default_value = "2s", value_parser = duration)]
    max_retry_delay: Duration,
    /// Write every SDK event as a JSON line here.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Stop appending when this file appears.
    #[arg(long, value_name = "FILE")]
    stop_file: Option<PathBuf>,
    /// After appending stopped, wait this long at most for outstanding acknowledgements.
    #[arg(long, default_value = "60s", value_parser = duration)]
    drain: Duration,
    /// Write the summary here too.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
}

#[derive(clap::Args)]
struct CountArgs {
    /// A Cassandra contact point (repeatable).
    #[arg(long = "cassandra", value_name = "HOST:PORT", required = true)]
    cassandra: Vec<String>,
    /// The table's keyspace (a log appender's: kaa_logs_<tenant>).
    #[arg(long)]
    keyspace: String,
    /// The table, with columns `endpoint` and `seq`.
    #[arg(long)]
    table: String,
    /// Read consistency (one, quorum, local_quorum, all, …).
    #[arg(long, default_value = "quorum")]
    consistency: String,
    /// A `kaa-fleet run` summary: report acknowledged records missing from the table.
    #[arg(long, value_name = "SUMMARY_FILE")]
    acked: Option<PathBuf>,
}

impl RunArgs {
    fn options(self) -> anyhow::Result<(RunOptions, Option<PathBuf>)> {
        anyhow::ensure!(
            self.bootstrap_key.len() <= self.bootstrap.len(),
            "more --bootstrap-key than --bootstrap"
        );
        let mut bootstrap = Vec::new();
        for (at, address) in self.bootstrap.into_iter().enumerate() {
            let public_key = match self.bootstrap_key.get(at) {
                Some(file) => {
                    let bytes = std::fs::read(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    Some(parse_public_key(&bytes).with_context(|| file.display().to_string())?)
                }
                None => None,
            };
            bootstrap.push(BootstrapServer {
                address,
                http_address: None,
                public_key,
            });
        }
        let key_cache = self
            .key_cache
            .unwrap_or_else(|| self.state_dir.join("keys"));
        Ok((
            RunOptions {
                bootstrap,
                sdk_token: self.sdk_token,
                endpoints: self.endpoints,
                state_dir: self.state_dir,
                key_cache,
                log_interval: self.log_interval,
                ramp: self.ramp,
                keep_alive: self.keep_alive,
                timeout: self.timeout,
                retry_delay: self.retry_delay,
                max_retry_delay: self.max_retry_delay,
                events: self.events,
                stop_file: self.stop_file,
                drain: self.drain,
            },
            self.summary,
        ))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command.execute().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kaa-fleet: {error:#}");
            ExitCode::from(2)
        }
    }
}

impl Command {
    async fn execute(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(args) => {
                let (options, summary_file) = args.options()?;
                let summary = run(options).await?;
                let text = summary.to_string();
                println!("{text}");
                if let Some(file) = summary_file {
                    std::fs::write(&file, format!("{text}\n"))
                        .with_context(|| format!("writing {}", file.display()))?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Count(args) => {
                let acked = match &args.acked {
                    Some(file) => Some(
                        serde_json::from_slice(
                            &std::fs::read(file)
                                .with_context(|| format!("reading {}", file.display()))?,
                        )
                        .with_context(|| format!("{} is not JSON", file.display()))?,
                    ),
                    None => None,
                };
                let report = count(CountOptions {
                    contact_points: args.cassandra,
                    keyspace: args.keyspace,
                    table: args.table,
                    consistency: kaa_store::endpoint::parse_consistency(&args.consistency)?,
                    acked,
                })
                .await?;
                println!("{report}");
                let lost = report["lost"].as_u64().unwrap_or(0);
                Ok(if lost > 0 {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                })
            }
        }
    }
}
