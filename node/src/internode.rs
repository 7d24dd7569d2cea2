//! The node's side of internode Thrift: the server on `node.thrift_port` and how it is secured.
//!
//! The node composes; the services answer. Every node serves `KaaNodeService`, its console
//! ([`crate::console`]). An Operations node also serves `OperationsService`, the Operations
//! service's inbox ([`kaa_operations::internode`]), and a Bootstrap node `BootstrapService`, the
//! Bootstrap service's ([`kaa_bootstrap::internode`]). Each service's counters
//! (`kaa_internode_*` on `/metrics`, `stats` on the console) are registered on every node.
//!
//! [`security`] decides how the port is secured: mutual TLS with the `[cluster]` files, a
//! standalone node's own CA and certificate when it was given none, or plaintext when the
//! operator explicitly asks for it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::Context;
use kaa_bootstrap::internode::{BootstrapInbox, InboxMetrics as BootstrapMetrics};
use kaa_cluster::Cluster;
use kaa_cluster::rpc::certs::{self, NodeSubject, TlsFiles};
use kaa_cluster::rpc::{Processors, Security, ServerSettings, ThriftServer};
use kaa_model::Service;
use kaa_operations::OperationsService;
use kaa_operations::internode::InboxMetrics as OperationsMetrics;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::console::{InboxCounters, NodeFacts, NodeHandler};

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

/// The internode Thrift server and the tasks consuming what it receives.
pub struct Internode {
    server: ThriftServer,
    consumers: TaskTracker,
}

impl Internode {
    /// Starts serving on `node.thrift_host:node.thrift_port`: `KaaNodeService` always, and the
    /// inboxes of `operations` and of the Bootstrap service when the node runs them. Registers
    /// the `kaa_internode_*` counters in `registry`; `shutdown` is the node's root token.
    pub async fn start(
        config: &Config,
        node_id: &str,
        cluster: &Cluster,
        shutdown: CancellationToken,
        registry: &mut Registry,
        operations: Option<&OperationsService>,
    ) -> anyhow::Result<Self> {
        let counters = InboxCounters {
            operations: OperationsMetrics::register(registry),
            bootstrap: BootstrapMetrics::register(registry),
        };
        let (operations_metrics, bootstrap_metrics) =
            (counters.operations.clone(), counters.bootstrap.clone());
        let node = NodeFacts::new(config, node_id, cluster, counters, shutdown);
        let consumers = TaskTracker::new();
        let mut processors = Processors::default().kaa_node(NodeHandler(node.clone()));
        if let Some(operations) = operations {
            processors = processors.operations(operations.inbox(operations_metrics));
        }
        if config.services().contains(Service::Bootstrap) {
            let (inbox, logging) = BootstrapInbox::new(bootstrap_metrics);
            consumers.spawn(logging);
            processors = processors.bootstrap(inbox);
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
