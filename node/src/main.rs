//! `kaa-node`: one binary that runs any mix of the Control, Operations and Bootstrap services.
//!
//! `kaa-node --config node.toml` runs a cluster node; `kaa-node standalone` runs all three
//! services in one process on embedded storage; `kaa-node print-config` prints the commented
//! default configuration. See [`config`] for how settings are layered. `kaa-node certs init` and
//! `kaa-node certs issue` make the cluster CA and the node certificates of internode mutual TLS.
//! `kaa-node keys init` creates the node's endpoint key pair ahead of its first start;
//! `kaa-node check-deps` tells whether the servers the configuration names answer.

mod admin;
mod check;
mod config;
mod console;
mod internode;
mod node;
mod registration;

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kaa_cluster::rpc::certs::{self, NodeSubject};
use kaa_model::redact;
use kaa_transport::keys::NodeKeys;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, DEFAULT_CONFIG_TOML, LogConfig, LogFormat};

#[derive(Parser)]
#[command(
    name = "kaa-node",
    version,
    about = "kaa-rs node: Control, Operations and Bootstrap services"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run all three services in one process on embedded storage (SQLite), without ZooKeeper.
    Standalone {
        /// Where the node keeps its databases and keys.
        #[arg(long, value_name = "DIR", default_value = "./kaa-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print the commented default configuration.
    PrintConfig,
    /// Make the certificates of internode mutual TLS (`[cluster]` tls_ca, tls_cert, tls_key).
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Manage the node's endpoint key pair (the RSA key Bootstrap and Operations sign and
    /// decrypt with, which SDKs carry).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Validate the configuration and print it with every layer applied, secrets hidden.
    CheckConfig {
        /// Check the standalone preset instead of the cluster defaults.
        #[arg(long)]
        standalone: bool,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Connect to each server the configuration's services depend on (ZooKeeper, the SQL
    /// database, the endpoint store) and say whether it answers; exits 1 if one does not.
    CheckDeps {
        /// How long each check may take.
        #[arg(long, default_value = "10s", value_parser = humantime_serde::re::humantime::parse_duration)]
        timeout: Duration,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Create the cluster CA: DIR/ca.pem and DIR/ca.key (mode 0600; keep it off the nodes).
    Init {
        /// Folder for the CA; an existing CA there is never replaced.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Issue a node certificate signed by the CA: OUT/NAME.pem, OUT/NAME.key (0600), OUT/ca.pem.
    Issue {
        /// Folder of the CA made by `certs init`.
        #[arg(long, value_name = "DIR")]
        ca_dir: PathBuf,
        /// Node name: the certificate's common name and the files' base name.
        #[arg(long)]
        name: String,
        /// An IP address peers dial this node at (its node.thrift_host); repeatable.
        #[arg(long = "ip", value_name = "IP")]
        ips: Vec<IpAddr>,
        /// A DNS name peers dial this node at; repeatable.
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = certs::NODE_VALIDITY_DAYS)]
        days: u32,
        /// Folder for the node's files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create the node's key pair in `<node.data_dir>/keys` as the node does on first start
    /// (an existing one is kept), and print its public key and fingerprint.
    Init {
        /// The node's data dir (default: `node.data_dir` of the configuration).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Install an existing key pair (a Kaa 0.10 server's, say) as the node's, so devices that
    /// carry its public key keep working; into `<node.data_dir>/keys` of the configuration.
    Import {
        /// The private key: PKCS#8, DER or PEM (`-----BEGIN PRIVATE KEY-----`).
        #[arg(long, value_name = "FILE")]
        private: PathBuf,
        /// The public key: X.509 SubjectPublicKeyInfo, DER or PEM; checked against the private
        /// key (derived from it when absent).
        #[arg(long, value_name = "FILE")]
        public: Option<PathBuf>,
        /// Replace a different key the node has (kept as node.private.old / node.public.old).
        #[arg(long)]
        replace: bool,
        /// The node's data dir (default: `node.data_dir` of the configuration).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

impl KeysCommand {
    fn run(self) -> anyhow::Result<String> {
        match self {
            KeysCommand::Init { data_dir, settings } => {
                let data_dir = data_dir_of(data_dir, &settings)?;
                let existed = NodeKeys::exist(&data_dir);
                let keys = NodeKeys::load_or_create(&data_dir)?;
                let done = if existed { "kept the" } else { "created the" };
                Ok(describe_keys(done, &data_dir, &keys))
            }
            KeysCommand::Import {
                private,
                public,
                replace,
                data_dir,
                settings,
            } => {
                let data_dir = data_dir_of(data_dir, &settings)?;
                let read = |path: &PathBuf| {
                    std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
                };
                let private = read(&private)?;
                let public = public.as_ref().map(read).transpose()?;
                let keys = NodeKeys::import(&data_dir, &private, public.as_deref(), replace)?;
                Ok(describe_keys("installed the", &data_dir, &keys))
            }
        }
    }
}

/// `--data-dir`, or `node.data_dir` of the configuration; created (0700) as the node creates it.
fn data_dir_of(data_dir: Option<PathBuf>, settings: &SettingsArgs) -> anyhow::Result<PathBuf> {
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => settings.load(Config::default())?.node.data_dir,
    };
    node::create_data_dir(&data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create the data dir {}: {e}", data_dir.display()))?;
    Ok(data_dir)
}

/// What `keys` did, with the public key (base64 of its X.509 DER, as SDKs carry it) and its
/// fingerprint as the admin UI's cluster page shows it.
fn describe_keys(done: &str, data_dir: &std::path::Path, keys: &NodeKeys) -> String {
    use base64::Engine as _;
    format!(
        "{done} node key pair in {}\npublic key (X.509, base64): {}\n\
         fingerprint (SHA-256, openssl dgst -sha256 -c): {}\n\
         SHA-1 (hex): {}",
        data_dir.join("keys").display(),
        base64::engine::general_purpose::STANDARD.encode(keys.public_der()),
        keys.fingerprint(),
        kaa_idl::endpoint::crypto::sha1(keys.public_der())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

impl CertsCommand {
    fn run(self) -> Result<String, certs::CertError> {
        match self {
            CertsCommand::Init { dir } => {
                let cert = certs::init_ca(&dir)?;
                Ok(format!(
                    "cluster CA: {} (key {})",
                    cert.display(),
                    dir.join(certs::CA_KEY_FILE).display()
                ))
            }
            CertsCommand::Issue {
                ca_dir,
                name,
                ips,
                dns,
                days,
                out,
            } => {
                let files = certs::issue(&ca_dir, &NodeSubject { name, ips, dns }, days, &out)?;
                Ok(format!(
                    "[cluster]\ntls_ca = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
                    files.ca.display(),
                    files.cert.display(),
                    files.key.display()
                ))
            }
        }
    }
}

#[derive(Args, Default)]
struct SettingsArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', value_name = "FILE", env = "KAA_CONFIG")]
    config: Option<PathBuf>,
    /// Override one key, e.g. `--set admin.port=8081`; repeatable; wins over file and env.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

impl SettingsArgs {
    fn load(&self, base: Config) -> anyhow::Result<Config> {
        let config = Config::load(base, self.config.as_deref(), &self.overrides)?;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.command {
        Some(Command::PrintConfig) => {
            print!("{DEFAULT_CONFIG_TOML}");
            return ExitCode::SUCCESS;
        }
        Some(Command::Certs(command)) => {
            return match command.run() {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail("cannot make certificates", &error.into()),
            };
        }
        Some(Command::Keys(command)) => {
            return match command.run() {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail("cannot set up the node key pair", &error),
            };
        }
        Some(Command::CheckDeps { timeout, settings }) => {
            return match settings.load(Config::default()) {
                Ok(config) => check_deps(&config, timeout),
                Err(error) => fail("invalid configuration", &error),
            };
        }
        Some(Command::CheckConfig {
            standalone,
            settings,
        }) => {
            let base = if standalone {
                Config::standalone("./kaa-data".as_ref())
            } else {
                Config::default()
            };
            return match settings.load(base).map(|c| c.redacted_toml()) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail("invalid configuration", &error),
            };
        }
        Some(Command::Standalone { data_dir, settings }) => {
            settings.load(Config::standalone(&data_dir))
        }
        None => cli.settings.load(Config::default()),
    };
    let config = match config {
        Ok(config) => config,
        Err(error) => return fail("invalid configuration", &error),
    };
    init_tracing(&config.log);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail("cannot start the async runtime", &error.into()),
    };
    match runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        node::run(config, shutdown).await
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{}", redact::text(&format!("{error:#}")));
            fail("node failed", &error)
        }
    }
}

/// `kaa-node check-deps`: one line per dependency, exit 1 if one failed.
fn check_deps(config: &Config, timeout: Duration) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail("cannot start the async runtime", &error.into()),
    };
    let checked = runtime.block_on(check::check_deps(config, timeout));
    if checked.is_empty() {
        println!("nothing to check: standalone Bootstrap depends on no server");
    }
    for line in &checked {
        println!("{line}");
    }
    if checked.iter().all(|c| c.outcome.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fail(context: &str, error: &anyhow::Error) -> ExitCode {
    eprintln!(
        "kaa-node: {context}: {}",
        redact::text(&format!("{error:#}"))
    );
    ExitCode::FAILURE
}

/// The first SIGINT or SIGTERM starts a graceful shutdown; a second one exits at once.
async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    for count in 1.. {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        if count == 1 {
            tracing::info!("signal received, shutting down gracefully (again to force)");
            shutdown.cancel();
        } else {
            tracing::warn!("second signal, exiting now");
            std::process::exit(130);
        }
    }
}

fn init_tracing(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
