//! The node's side of internode Thrift: what it answers on `node.thrift_port`.
//!
//! Every node serves `KaaNodeService` ([`NodeHandler`]): its id, its memory, a small console
//! ([`Command`]) and a remote graceful shutdown, which cancels the same root token as SIGTERM.
//! An Operations node also serves `OperationsService`, a Bootstrap node `BootstrapService`. Their
//! handlers run on the server's connection tasks, so they do only quick work: Control's change
//! notifications and endpoint messages (unicast notification, server profile, deregistration)
//! go straight to the Operations service's [`Changes`], which invalidates caches and queues
//! pushes for the sessions concerned; event-routing messages and listener queries go to its event
//! routing, redirection rules to its load-balancing rules. Bootstrap server lists are counted and
//! queued to a logging task (Bootstrap reads the live list from ZooKeeper). Calls whose handling
//! has no use here (Kaa's entity route messages, user configuration updates) are logged.
//!
//! `stats` on the console and `kaa_internode_*` on `/metrics` count what arrived.
//!
//! [`security`] decides how the port is secured: mutual TLS with the `[cluster]` files, a
//! standalone node's own CA and certificate when it was given none, or plaintext when the
//! operator explicitly asks for it.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use kaa_cluster::Cluster;
use kaa_cluster::routing::{EndpointAddress, EndpointMessage, Hop};
use kaa_cluster::rpc::certs::{self, NodeSubject, TlsFiles};
use kaa_cluster::rpc::{Processors, Security, ServerSettings, ThriftServer};
use kaa_control::announce::ChangeAnnouncer;
use kaa_idl::thrift::bootstrap::{BootstrapServiceSyncHandler, ThriftOperationsServer};
use kaa_idl::thrift::kaa_node::{
    CliThriftException, CommandResult, CommandStatus, KaaNodeServiceSyncHandler, MemoryUsage,
};
use kaa_idl::thrift::operations::{
    Message, Notification, Operation, OperationsServiceSyncHandler, RedirectionRule,
    ThriftActorClassifier, ThriftEndpointDeregistrationMessage, ThriftEntityAddress,
    ThriftEntityRouteMessage, ThriftOwnerChangeMessage, ThriftServerProfileUpdateMessage,
    ThriftUnicastNotificationMessage, UserConfigurationUpdate,
};
use kaa_model::Service;
use kaa_operations::Changes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use thrift::{ApplicationError, ApplicationErrorKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::config::Config;

/// Where a standalone node given no `[cluster]` files keeps its own CA and certificate, under
/// `node.data_dir`.
pub const STANDALONE_TLS_DIR: &str = "internode-tls";

/// How this node secures internode Thrift, on its server and in every client. Plaintext is
/// logged as a warning on every start.
pub fn security(config: &Config) -> anyhow::Result<Security> {
    let cluster = &config.cluster;
    if cluster.insecure_plaintext {
        warn!(
            port = config.node.thrift_port,
            "internode thrift is plaintext (cluster.insecure_plaintext): anyone who reaches node.thrift_port can shut this node down, run console commands and send it messages"
        );
        return Ok(Security::Plaintext);
    }
    // Validation refuses a cluster node without files, so only a standalone node gets here
    // without them.
    let files = if cluster.tls_ca.is_empty() {
        let dir = config.node.data_dir.join(STANDALONE_TLS_DIR);
        let files = certs::standalone(&dir, &standalone_subject(&config.node.thrift_host))
            .with_context(|| {
                format!(
                    "cannot make the standalone node's internode certificates in {}",
                    dir.display()
                )
            })?;
        info!(
            ca = %files.ca.display(),
            "internode thrift uses this standalone node's own CA; `kaa-node certs issue --ca-dir` it for clients"
        );
        files
    } else {
        TlsFiles {
            ca: config.expand(&cluster.tls_ca).into(),
            cert: config.expand(&cluster.tls_cert).into(),
            key: config.expand(&cluster.tls_key).into(),
        }
    };
    Security::mutual_tls(&files)
        .context("cannot set up internode TLS (cluster.tls_ca, cluster.tls_cert, cluster.tls_key)")
}

/// A standalone node's certificate names its Thrift host and the loopback addresses, where
/// local tools reach it.
fn standalone_subject(thrift_host: &str) -> NodeSubject {
    let mut subject = NodeSubject {
        name: "node".into(),
        ips: vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
        dns: vec!["localhost".into()],
    };
    match thrift_host.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() && !subject.ips.contains(&ip) => subject.ips.push(ip),
        Ok(_) => {}
        Err(_) if thrift_host != "localhost" => subject.dns.push(thrift_host.to_owned()),
        Err(_) => {}
    }
    subject
}

/// How many received messages may wait for their consumer before calls are refused.
const QUEUE_CAPACITY: usize = 1024;

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

/// The internode Thrift server and the tasks consuming what it receives.
pub struct Internode {
    server: ThriftServer,
    consumers: TaskTracker,
}

impl Internode {
    /// Starts serving on `node.thrift_host:node.thrift_port`: `KaaNodeService` always, and
    /// `OperationsService` / `BootstrapService` when the node runs those services. Registers the
    /// `kaa_internode_*` counters in `registry`; `shutdown` is the node's root token.
    pub async fn start(
        config: &Config,
        node_id: &str,
        cluster: &Cluster,
        shutdown: CancellationToken,
        registry: &mut Registry,
        operations: Option<Changes>,
    ) -> anyhow::Result<Self> {
        let counters = Counters::register(registry);
        let node = Arc::new(NodeFacts {
            node_id: node_id.to_owned(),
            mode: format!("{:?}", config.node.mode).to_lowercase(),
            services: config.services().to_string(),
            config_toml: config.redacted_toml(),
            started: Instant::now(),
            thrift_addr: OnceLock::new(),
            counters: counters.clone(),
            announcer: config
                .services()
                .contains(Service::Control)
                .then(|| ChangeAnnouncer::new(cluster.clone())),
            shutdown,
        });
        let consumers = TaskTracker::new();
        let mut processors = Processors::default().kaa_node(NodeHandler(node.clone()));
        if let Some(changes) = operations {
            processors = processors.operations(OperationsHandler {
                changes,
                notifications: counters.notifications.clone(),
                redirection_rules: counters.redirection_rules.clone(),
                event_messages: counters.event_messages.clone(),
            });
        }
        if config.services().contains(Service::Bootstrap) {
            let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
            consumers.spawn(log_server_lists(receiver));
            processors = processors.bootstrap(BootstrapHandler {
                server_lists: sender,
                counter: counters.server_list_updates.clone(),
            });
        }
        consumers.close();

        let (host, port) = (&config.node.thrift_host, config.node.thrift_port);
        let settings = ServerSettings::default();
        let server = ThriftServer::start(host, port, processors, settings, cluster.internode())
            .await
            .context("cannot start the thrift server (node.thrift_host, node.thrift_port)")?;
        let _ = node.thrift_addr.set(server.local_addr());
        Ok(Self { server, consumers })
    }

    /// Stops the server once the calls it has received are answered; the consumers then drain
    /// their queues and end.
    pub async fn stop(self) {
        // Stopping drops the handlers, and with them the senders the consumers wait on.
        self.server.stop().await;
        self.consumers.wait().await;
    }
}

/// What the console reports, shared by the handlers.
struct NodeFacts {
    node_id: String,
    mode: String,
    services: String,
    config_toml: String,
    started: Instant,
    thrift_addr: OnceLock<SocketAddr>,
    counters: Counters,
    /// Present on Control nodes.
    announcer: Option<ChangeAnnouncer>,
    shutdown: CancellationToken,
}

/// The internode counters, also on `/metrics`.
#[derive(Clone)]
struct Counters {
    notifications: Counter,
    redirection_rules: Counter,
    event_messages: Counter,
    server_list_updates: Counter,
}

impl Counters {
    fn register(registry: &mut Registry) -> Self {
        let counters = Self {
            notifications: Counter::default(),
            redirection_rules: Counter::default(),
            event_messages: Counter::default(),
            server_list_updates: Counter::default(),
        };
        registry.register(
            "kaa_internode_notifications",
            "Metadata change notifications received from Control (OperationsService.onNotification)",
            counters.notifications.clone(),
        );
        registry.register(
            "kaa_internode_redirection_rules",
            "Load-balancing redirection rules received from the Control leader (OperationsService.setRedirectionRule)",
            counters.redirection_rules.clone(),
        );
        registry.register(
            "kaa_internode_event_messages",
            "Event-routing messages (route updates and events) received from Operations nodes (OperationsService.sendMessages)",
            counters.event_messages.clone(),
        );
        registry.register(
            "kaa_internode_server_list_updates",
            "Operations server lists received (BootstrapService.onOperationsServerListUpdate)",
            counters.server_list_updates.clone(),
        );
        counters
    }
}

/// Why an internode call failed, and how each failure goes on the wire: a declared
/// `CliThriftException` for `KaaNodeService`, an application exception for the services that
/// declare none.
#[derive(Debug, thiserror::Error)]
enum InternodeError {
    /// The process's memory figures cannot be read.
    #[error("cannot read memory figures: {0}")]
    Memory(#[source] std::io::Error),
    /// A consumer is too far behind; the caller should retry later.
    #[error("{0} queue is full")]
    QueueFull(&'static str),
}

impl From<InternodeError> for thrift::Error {
    fn from(error: InternodeError) -> Self {
        match error {
            InternodeError::Memory(_) => CliThriftException::new(1, error.to_string()).into(),
            InternodeError::QueueFull(_) => thrift::Error::Application(ApplicationError::new(
                ApplicationErrorKind::InternalError,
                error.to_string(),
            )),
        }
    }
}

/// `KaaNodeService`.
struct NodeHandler(Arc<NodeFacts>);

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
        let memory = Memory::read().map_err(InternodeError::Memory)?;
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
            Err(error) => return Err(format!("{}\n", InternodeError::Memory(error))),
        },
        Command::Stats => format!(
            "notifications_received: {}\nserver_list_updates_received: {}\n",
            node.counters.notifications.get(),
            node.counters.server_list_updates.get(),
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

/// `OperationsService`: applies Control's notifications and endpoint messages to the local
/// Operations service; accepts the rest.
struct OperationsHandler {
    changes: Changes,
    notifications: Counter,
    redirection_rules: Counter,
    event_messages: Counter,
}

impl OperationsServiceSyncHandler for OperationsHandler {
    fn handle_on_notification(&self, notification: Notification) -> thrift::Result<()> {
        self.notifications.inc();
        info!(
            op = ?notification.op,
            app = ?notification.app_id,
            app_seq = ?notification.app_seq_number,
            topic = ?notification.topic_id,
            "metadata change notification received"
        );
        self.changes.on_notification(&notification);
        Ok(())
    }

    fn handle_set_redirection_rule(&self, rule: RedirectionRule) -> thrift::Result<()> {
        self.redirection_rules.inc();
        self.changes.on_redirection_rule(&rule);
        Ok(())
    }

    fn handle_send_messages(&self, messages: Vec<Message>) -> thrift::Result<()> {
        self.event_messages.inc_by(messages.len() as u64);
        self.changes.on_event_messages(messages).map_err(|error| {
            thrift::Error::Application(ApplicationError::new(
                ApplicationErrorKind::InternalError,
                error.to_string(),
            ))
        })
    }

    fn handle_find_event_listeners(
        &self,
        user_id: String,
        event_class_fqns: Vec<String>,
        requester: Vec<u8>,
    ) -> thrift::Result<Vec<Vec<u8>>> {
        Ok(self
            .changes
            .find_event_listeners(&user_id, &event_class_fqns, &requester))
    }

    fn handle_on_owner_change(&self, message: ThriftOwnerChangeMessage) -> thrift::Result<()> {
        self.to_endpoint(
            message.address,
            message.actor_classifier,
            EndpointMessage::OwnerChanged {
                by_access_token: message.by_endpoint_access_token.unwrap_or_default(),
            },
        );
        Ok(())
    }

    fn handle_send_user_configuration_updates(
        &self,
        updates: Vec<UserConfigurationUpdate>,
    ) -> thrift::Result<()> {
        info!(
            count = updates.len(),
            "user configuration updates received and ignored: kaa-rs tells the owner's endpoints through the endpoint route"
        );
        Ok(())
    }

    fn handle_on_entity_route_messages(
        &self,
        messages: Vec<ThriftEntityRouteMessage>,
    ) -> thrift::Result<()> {
        info!(
            count = messages.len(),
            "entity route messages received and ignored: kaa-rs routes endpoint messages through the ring owner"
        );
        Ok(())
    }

    fn handle_on_unicast_notification(
        &self,
        message: ThriftUnicastNotificationMessage,
    ) -> thrift::Result<()> {
        let id = message.notification_id.unwrap_or_default();
        self.to_endpoint(
            message.address,
            message.actor_classifier,
            EndpointMessage::Unicast(id),
        );
        Ok(())
    }

    fn handle_on_server_profile_update(
        &self,
        message: ThriftServerProfileUpdateMessage,
    ) -> thrift::Result<()> {
        self.to_endpoint(
            message.address,
            message.actor_classifier,
            EndpointMessage::ServerProfile,
        );
        Ok(())
    }

    fn handle_on_endpoint_deregistration(
        &self,
        message: ThriftEndpointDeregistrationMessage,
    ) -> thrift::Result<()> {
        self.to_endpoint(
            message.address,
            message.actor_classifier,
            EndpointMessage::Deregistration,
        );
        Ok(())
    }
}

impl OperationsHandler {
    /// Hands a message for one endpoint to the Operations service (global: this node owns the
    /// endpoint and forwards it; local: its session is here).
    fn to_endpoint(
        &self,
        address: Option<ThriftEntityAddress>,
        classifier: Option<ThriftActorClassifier>,
        message: EndpointMessage,
    ) {
        let Some(address) = address else {
            warn!(?message, "endpoint message without an endpoint address");
            return;
        };
        let Some(key_hash) = address.entity_id else {
            warn!(?message, "endpoint message without an endpoint id");
            return;
        };
        let hop = match classifier {
            Some(ThriftActorClassifier::LOCAL) => Hop::Local,
            _ => Hop::Global,
        };
        debug!(?message, ?hop, "endpoint message received");
        self.changes.on_endpoint_message(
            hop,
            EndpointAddress {
                tenant_id: address.tenant_id.unwrap_or_default(),
                app_token: address.application_token.unwrap_or_default(),
                key_hash,
            },
            message,
        );
    }
}

/// `BootstrapService`: counts and queues the Operations server lists.
struct BootstrapHandler {
    server_lists: mpsc::Sender<Vec<ThriftOperationsServer>>,
    counter: Counter,
}

impl BootstrapServiceSyncHandler for BootstrapHandler {
    fn handle_on_operations_server_list_update(
        &self,
        servers: Vec<ThriftOperationsServer>,
    ) -> thrift::Result<()> {
        self.counter.inc();
        self.server_lists
            .try_send(servers)
            .map_err(|_| InternodeError::QueueFull("server list"))?;
        Ok(())
    }
}

/// Where the Bootstrap service will take its server list from; for now it logs them.
async fn log_server_lists(mut lists: mpsc::Receiver<Vec<ThriftOperationsServer>>) {
    while let Some(servers) = lists.recv().await {
        let ids: Vec<&str> = servers.iter().filter_map(|s| s.id.as_deref()).collect();
        if ids.len() < servers.len() {
            warn!(
                count = servers.len(),
                "operations server list has entries without an id"
            );
        }
        info!(?ids, "operations server list received");
    }
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
            counters: Counters::register(&mut Registry::default()),
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

        node.counters.notifications.inc();
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
