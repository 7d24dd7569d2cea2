//! The node's console: `KaaNodeService`, which every node serves on its Thrift port.
//!
//! [`NodeHandler`] answers the node's id, its memory (read from `/proc` and the cgroup limit),
//! a remote graceful shutdown, which cancels the same root token as SIGTERM, and console lines
//! ([`Command`]): status, memory, the internode counters, the effective configuration with its
//! secrets redacted, a resync announced from the Control leader, shutdown.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kaa_bootstrap::internode::InboxMetrics as BootstrapMetrics;
use kaa_cluster::Cluster;
use kaa_control::announce::ChangeAnnouncer;
use kaa_idl::thrift::kaa_node::{
    CliThriftException, CommandResult, CommandStatus, KaaNodeServiceSyncHandler, MemoryUsage,
};
use kaa_idl::thrift::operations::{Notification, Operation};
use kaa_model::Service;
use kaa_operations::internode::InboxMetrics as OperationsMetrics;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Config;

/// The console commands `executeCommand` runs (Kaa had `help`, `memory`, `threads`, `shutdown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Help,
    Status,
    Memory,
    Stats,
    Config,
    Resync,
    Shutdown,
}

impl Command {
    const ALL: [Command; 7] = [
        Command::Help,
        Command::Status,
        Command::Memory,
        Command::Stats,
        Command::Config,
        Command::Resync,
        Command::Shutdown,
    ];

    fn name(self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::Status => "status",
            Command::Memory => "memory",
            Command::Stats => "stats",
            Command::Config => "config",
            Command::Resync => "resync",
            Command::Shutdown => "shutdown",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Command::Help => "list the commands",
            Command::Status => "node id, version, mode, services, uptime, Thrift address, memory",
            Command::Memory => "memory of the process and its limit",
            Command::Stats => "internode messages received since start",
            Command::Config => "the effective configuration (TOML, passwords hidden)",
            Command::Resync => {
                "Control leader: tell every live Operations node to reload application metadata"
            }
            Command::Shutdown => "shut the node down gracefully",
        }
    }
}

/// What the console reports, shared by the handler and the Thrift server's wiring.
pub struct NodeFacts {
    node_id: String,
    mode: String,
    services: String,
    config_toml: String,
    started: Instant,
    /// Set once the Thrift server listens.
    pub thrift_addr: OnceLock<SocketAddr>,
    counters: InboxCounters,
    /// Present on Control nodes.
    announcer: Option<ChangeAnnouncer>,
    shutdown: CancellationToken,
}

impl NodeFacts {
    /// The facts of this node; `counters` are the services' inbox counters `stats` reports,
    /// `shutdown` the node's root token.
    pub fn new(
        config: &Config,
        node_id: &str,
        cluster: &Cluster,
        counters: InboxCounters,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            node_id: node_id.to_owned(),
            mode: format!("{:?}", config.node.mode).to_lowercase(),
            services: config.services().to_string(),
            config_toml: config.redacted_toml(),
            started: Instant::now(),
            thrift_addr: OnceLock::new(),
            counters,
            announcer: config
                .services()
                .contains(Service::Control)
                .then(|| ChangeAnnouncer::new(cluster.clone())),
            shutdown,
        })
    }
}

/// The services' internode counters (also on `/metrics`), registered on every node.
pub struct InboxCounters {
    /// `OperationsService`'s.
    pub operations: OperationsMetrics,
    /// `BootstrapService`'s.
    pub bootstrap: BootstrapMetrics,
}

/// Why a `KaaNodeService` call failed; it goes on the wire as a declared `CliThriftException`.
#[derive(Debug, thiserror::Error)]
enum ConsoleError {
    /// The process's memory figures cannot be read.
    #[error("cannot read memory figures: {0}")]
    Memory(#[source] std::io::Error),
}

impl From<ConsoleError> for thrift::Error {
    fn from(error: ConsoleError) -> Self {
        CliThriftException::new(1, error.to_string()).into()
    }
}

/// `KaaNodeService`.
pub struct NodeHandler(pub Arc<NodeFacts>);

impl KaaNodeServiceSyncHandler for NodeHandler {
    fn handle_server_name(&self) -> thrift::Result<String> {
        Ok(self.0.node_id.clone())
    }

    fn handle_shutdown(&self) -> thrift::Result<()> {
        info!("shutdown requested over thrift");
        self.0.shutdown.cancel();
        Ok(())
    }

    /// Kaa reported the JVM heap; a native process has no heap to collect, so `force_gc` changes
    /// nothing. `max` is what the process may use, `total` what it holds (resident), `free` the
    /// difference.
    fn handle_get_memory_usage(&self, _force_gc: bool) -> thrift::Result<MemoryUsage> {
        let memory = Memory::read().map_err(ConsoleError::Memory)?;
        let to_long = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
        Ok(MemoryUsage::new(
            to_long(memory.limit),
            to_long(memory.resident),
            to_long(memory.limit.saturating_sub(memory.resident)),
        ))
    }

    fn handle_execute_command(&self, command_line: String) -> thrift::Result<CommandResult> {
        debug!(command = %command_line, "console command over thrift");
        let (status, message) = match run_command(&self.0, &command_line) {
            Ok(output) => (CommandStatus::OK, output),
            Err(output) => (CommandStatus::ERROR, output),
        };
        Ok(CommandResult::new(status, message))
    }
}

/// Runs one console line; `Err` holds the error output.
fn run_command(node: &Arc<NodeFacts>, line: &str) -> Result<String, String> {
    let mut words = line.split_whitespace();
    let Some(name) = words.next() else {
        return Err(format!("no command given\n\n{}", help()));
    };
    let Some(command) = Command::ALL.into_iter().find(|c| c.name() == name) else {
        return Err(format!("unknown command {name:?}\n\n{}", help()));
    };
    match words.next() {
        None => {}
        Some("-h" | "--help") => return Ok(format!("{name}: {}\n", command.description())),
        Some(extra) => return Err(format!("{name} takes no arguments, got {extra:?}\n")),
    }
    Ok(match command {
        Command::Help => help(),
        Command::Status => status(node),
        Command::Memory => match Memory::read() {
            Ok(memory) => memory.report(),
            Err(error) => return Err(format!("{}\n", ConsoleError::Memory(error))),
        },
        Command::Stats => format!(
            "notifications_received: {}\nserver_list_updates_received: {}\n",
            node.counters.operations.notifications.get(),
            node.counters.bootstrap.server_list_updates.get(),
        ),
        Command::Config => node.config_toml.clone(),
        Command::Resync => resync(node)?,
        Command::Shutdown => {
            info!("shutdown requested from the thrift console");
            node.shutdown.cancel();
            "shutdown started\n".to_owned()
        }
    })
}

/// Announces an application-metadata update to every live Operations node, in the background
/// (handlers must not block); the reply names the nodes it goes to.
fn resync(node: &Arc<NodeFacts>) -> Result<String, String> {
    let Some(announcer) = &node.announcer else {
        return Err("this node does not run Control\n".to_owned());
    };
    let targets = announcer.targets().map_err(|error| format!("{error}\n"))?;
    let ids: Vec<String> = targets.iter().map(|(id, _)| id.clone()).collect();
    let notification = Notification {
        op: Some(Operation::APP_UPDATE),
        ..Notification::default()
    };
    let node = Arc::clone(node);
    tokio::spawn(async move {
        let announcer = node.announcer.as_ref().expect("checked above");
        for (id, result) in announcer.announce(targets, notification).await {
            match result {
                Ok(()) => info!(operations_node = %id, "resync announced"),
                Err(error) => warn!(operations_node = %id, %error, "resync not delivered"),
            }
        }
    });
    Ok(format!(
        "announcing a resync to {} operations node(s): {}\n",
        ids.len(),
        ids.join(", ")
    ))
}

fn help() -> String {
    let mut text = String::from("commands:\n");
    for command in Command::ALL {
        let _ = writeln!(text, "  {:<10} {}", command.name(), command.description());
    }
    text.push_str("\n<command> -h prints one command's help\n");
    text
}

fn status(node: &NodeFacts) -> String {
    let thrift = node
        .thrift_addr
        .get()
        .map_or_else(|| "starting".to_owned(), ToString::to_string);
    let resident = Memory::read().map_or_else(|_| "unknown".to_owned(), |m| mib(m.resident));
    format!(
        "node: {}\nversion: {}\nmode: {}\nservices: {}\nuptime: {}\nthrift: {thrift}\nresident_memory: {resident}\n",
        node.node_id,
        env!("CARGO_PKG_VERSION"),
        node.mode,
        node.services,
        uptime(node.started.elapsed()),
    )
}

/// `1d 2h 3m 4s`, leading zero units left out.
fn uptime(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    let mut text = String::new();
    for (value, unit) in [(days, "d"), (hours, "h"), (minutes, "m")] {
        if value > 0 || !text.is_empty() {
            let _ = write!(text, "{value}{unit} ");
        }
    }
    let _ = write!(text, "{seconds}s");
    text
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The process's memory, from `/proc/self/status`, and what it may use.
struct Memory {
    resident: u64,
    peak_resident: u64,
    virtual_size: u64,
    threads: u64,
    /// The cgroup's `memory.max` if it sets one, else the machine's memory.
    limit: u64,
}

impl Memory {
    fn read() -> std::io::Result<Self> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let meminfo = std::fs::read_to_string("/proc/meminfo")?;
        let cgroup_max = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok();
        let field = |text: &str, name: &str| -> std::io::Result<u64> {
            proc_field(text, name).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("no {name} field"))
            })
        };
        let machine = field(&meminfo, "MemTotal")?;
        // memory.max is bytes or "max" (no limit).
        let cgroup = cgroup_max.and_then(|text| text.trim().parse::<u64>().ok());
        Ok(Self {
            resident: field(&status, "VmRSS")?,
            peak_resident: field(&status, "VmHWM")?,
            virtual_size: field(&status, "VmSize")?,
            threads: proc_field(&status, "Threads").unwrap_or(0),
            limit: cgroup.map_or(machine, |cgroup| cgroup.min(machine)),
        })
    }

    fn report(&self) -> String {
        format!(
            "resident: {}\npeak_resident: {}\nvirtual: {}\nthreads: {}\nlimit: {}\n",
            mib(self.resident),
            mib(self.peak_resident),
            mib(self.virtual_size),
            self.threads,
            mib(self.limit),
        )
    }
}

/// A `Name:   value [kB]` field of a `/proc` file, in bytes when it is in kB.
fn proc_field(text: &str, name: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|line| line.split(':').next() == Some(name))?;
    let mut words = line.split(':').nth(1)?.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    Some(match words.next() {
        Some("kB") => value * 1024,
        _ => value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(config: &Config) -> Arc<NodeFacts> {
        Arc::new(NodeFacts {
            node_id: "node-1".into(),
            mode: "standalone".into(),
            services: config.services().to_string(),
            config_toml: config.redacted_toml(),
            started: Instant::now(),
            thrift_addr: OnceLock::new(),
            counters: InboxCounters {
                operations: OperationsMetrics::default(),
                bootstrap: BootstrapMetrics::default(),
            },
            announcer: None,
            shutdown: CancellationToken::new(),
        })
    }

    #[test]
    fn config_command_prints_toml_without_passwords_or_zookeeper_credentials() {
        let mut config = Config::default();
        config.zookeeper.auth = "kaa:zk-secret".into();
        assert!(
            config.sql.url.contains(":kaa@"),
            "the default has a password"
        );
        let node = facts(&config);
        let output = run_command(&node, "config").unwrap();
        assert!(output.contains("url = \"postgres://kaa:***@"), "{output}");
        assert!(!output.contains(":kaa@"), "{output}");
        assert!(!output.contains("zk-secret"), "{output}");
        toml::from_str::<toml::Value>(&output).expect("valid TOML");
    }

    #[test]
    fn commands_report_and_errors_list_the_commands() {
        let node = facts(&Config::default());
        let help = run_command(&node, "help").unwrap();
        for command in Command::ALL {
            assert!(help.contains(command.name()), "{help}");
        }
        let status = run_command(&node, " status ").unwrap();
        assert!(status.contains("node: node-1"), "{status}");
        assert!(
            status.contains("services: control,operations,bootstrap"),
            "{status}"
        );
        assert!(run_command(&node, "memory").unwrap().contains("resident: "));

        node.counters.operations.notifications.inc();
        let stats = run_command(&node, "stats").unwrap();
        assert!(stats.contains("notifications_received: 1"), "{stats}");

        assert!(
            run_command(&node, "stats -h")
                .unwrap()
                .starts_with("stats: ")
        );
        assert!(
            run_command(&node, "bogus")
                .unwrap_err()
                .contains("commands:")
        );
        assert!(run_command(&node, "").unwrap_err().contains("commands:"));
        assert!(run_command(&node, "status now").is_err());
    }

    #[test]
    fn shutdown_command_cancels_the_root_token() {
        let node = facts(&Config::default());
        run_command(&node, "shutdown").unwrap();
        assert!(node.shutdown.is_cancelled());
    }

    #[test]
    fn proc_fields_are_read_in_bytes() {
        let status = "Name:\tkaa-node\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t7\n";
        assert_eq!(proc_field(status, "VmRSS"), Some(1024 * 1024));
        assert_eq!(proc_field(status, "VmHWM"), Some(2048 * 1024));
        assert_eq!(proc_field(status, "Threads"), Some(7));
        assert_eq!(proc_field(status, "VmSwap"), None);
    }

    #[test]
    fn uptime_leaves_out_leading_zero_units() {
        assert_eq!(uptime(Duration::from_secs(5)), "5s");
        assert_eq!(uptime(Duration::from_secs(3_605)), "1h 0m 5s");
        assert_eq!(uptime(Duration::from_secs(90_061)), "1d 1h 1m 1s");
    }
}
