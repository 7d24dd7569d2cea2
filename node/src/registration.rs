//! What this node publishes about itself in the cluster, built from its config: its descriptor,
//! and the Kaa records of its Operations and Bootstrap services with their transports.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kaa_cluster::membership::{LoadSource, NodeDescriptor, Registration};
use kaa_idl::zk::{
    BootstrapNodeInfo, ConnectionInfo, LoadInfo, OperationsNodeInfo, TRANSPORT_HTTP, TRANSPORT_TCP,
    TransportConnectionInfo, TransportMetaData, VersionConnectionInfo, transport_id,
};
use kaa_model::Service;

use crate::config::{Config, EndpointServiceConfig};

/// The registration of the node described by `config`.
pub fn registration(config: &Config) -> Registration {
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let host = config.node.thrift_host.clone();
    let connection_info = ConnectionInfo {
        thrift_host: host.clone(),
        thrift_port: config.node.thrift_port.into(),
        public_key: None,
    };
    let services = config.services();
    let descriptor = NodeDescriptor {
        id: config.node_id(),
        services: services.iter().collect(),
        admin_url: format!("http://{host}:{}", config.admin.port),
        thrift_host: host.clone(),
        thrift_port: config.node.thrift_port,
        started_ms,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let operations = services
        .contains(Service::Operations)
        .then(|| OperationsNodeInfo {
            connection_info: connection_info.clone(),
            load_info: current_load(),
            time_started: started_ms,
            transports: transports(&host, &config.operations),
        });
    let bootstrap = services
        .contains(Service::Bootstrap)
        .then(|| BootstrapNodeInfo {
            connection_info,
            transports: transports(&host, &config.bootstrap),
            time_started: started_ms,
        });
    Registration {
        descriptor,
        operations,
        bootstrap,
    }
}

/// Kaa's TCP and HTTP transport records for a service's ports (protocol version 1). The public
/// key in each blob is empty until the node has its key pair.
fn transports(host: &str, service: &EndpointServiceConfig) -> Vec<TransportMetaData> {
    [
        (TRANSPORT_TCP, service.tcp_port),
        (TRANSPORT_HTTP, service.http_port),
    ]
    .into_iter()
    .map(|(name, port)| TransportMetaData {
        id: transport_id(name),
        min_supported_version: 1,
        max_supported_version: 1,
        connection_info: vec![VersionConnectionInfo {
            version: 1,
            connection_info: TransportConnectionInfo {
                public_key: Vec::new(),
                host: host.to_owned(),
                port: port.into(),
            }
            .encode(),
        }],
    })
    .collect()
}

/// The load an Operations node reports: endpoint sessions (none until endpoints connect) and the
/// host's one-minute load average.
pub fn load_source() -> LoadSource {
    Arc::new(current_load)
}

fn current_load() -> LoadInfo {
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    LoadInfo {
        endpoint_count: 0,
        load_average,
    }
}
