//! What this node publishes about itself in the cluster, built from its config: its descriptor,
//! and the Kaa records of its Operations and Bootstrap services with their transports.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use kaa_cluster::membership::{LoadSource, NodeDescriptor, Registration};
use kaa_idl::zk::{
    BootstrapNodeInfo, ConnectionInfo, LoadInfo, OperationsNodeInfo, TRANSPORT_HTTP, TRANSPORT_TCP,
    TransportConnectionInfo, TransportMetaData, VersionConnectionInfo, transport_id,
};
use kaa_model::Service;

use crate::config::{Config, EndpointServiceConfig};

/// The registration of the node described by `config`.
pub fn registration(config: &Config, public_key: &[u8]) -> Registration {
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let host = config.node.thrift_host.clone();
    let connection_info = ConnectionInfo {
        thrift_host: host.clone(),
        thrift_port: config.node.thrift_port.into(),
        public_key: Some(public_key.to_vec()),
    };
    let services = config.services();
    // With admin.tls_certificate the admin port speaks HTTPS only (validate() makes sure the key
    // is set too); the URL a standby names in X-Kaa-Leader must say so.
    let admin_scheme = if config.admin.tls_certificate.is_empty() {
        "http"
    } else {
        "https"
    };
    let descriptor = NodeDescriptor {
        id: config.node_id(),
        services: services.iter().collect(),
        admin_url: format!("{admin_scheme}://{host}:{}", config.admin.port),
        thrift_host: host.clone(),
        thrift_port: config.node.thrift_port,
        started_ms,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let operations = services
        .contains(Service::Operations)
        .then(|| OperationsNodeInfo {
            connection_info: connection_info.clone(),
            load_info: current_load(0),
            time_started: started_ms,
            transports: transports(
                config.operations.public_host(&config.node),
                public_key,
                &config.operations,
            ),
        });
    let bootstrap = services
        .contains(Service::Bootstrap)
        .then(|| BootstrapNodeInfo {
            connection_info,
            transports: transports(
                config.bootstrap.public_host(&config.node),
                public_key,
                &config.bootstrap,
            ),
            time_started: started_ms,
        });
    Registration {
        descriptor,
        operations,
        bootstrap,
    }
}

/// Kaa's TCP and HTTP transport records for a service's ports (protocol version 1), each blob
/// carrying the node's public key.
fn transports(
    host: &str,
    public_key: &[u8],
    service: &EndpointServiceConfig,
) -> Vec<TransportMetaData> {
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
                public_key: public_key.to_vec(),
                host: host.to_owned(),
                port: port.into(),
            }
            .encode(),
        }],
    })
    .collect()
}

/// The load an Operations node reports: its endpoint sessions (`sessions`, kept by the
/// Operations service) and the host's one-minute load average.
pub fn load_source(sessions: Arc<AtomicUsize>) -> LoadSource {
    Arc::new(move || current_load(sessions.load(Ordering::Relaxed)))
}

fn current_load(endpoint_sessions: usize) -> LoadInfo {
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    LoadInfo {
        endpoint_count: i32::try_from(endpoint_sessions).unwrap_or(i32::MAX),
        load_average,
    }
}

#[cfg(test)]
mod tests {
    use kaa_idl::zk::TransportConnectionInfo;

    use super::*;

    #[test]
    fn transports_advertise_the_public_host_and_the_node_key() {
        let mut config = Config::default();
        config.node.thrift_host = "10.0.0.5".into();
        config.operations.public_host = "devices.example.org".into();
        let registration = registration(&config, b"key");
        let operations = registration.operations.unwrap();
        assert_eq!(operations.connection_info.thrift_host, "10.0.0.5");
        for transport in &operations.transports {
            let info =
                TransportConnectionInfo::decode(&transport.connection_info[0].connection_info)
                    .unwrap();
            assert_eq!(info.host, "devices.example.org");
            assert_eq!(info.public_key, b"key");
        }
        // Bootstrap has no public host of its own here: the node's host.
        let bootstrap = registration.bootstrap.unwrap();
        let info = TransportConnectionInfo::decode(
            &bootstrap.transports[0].connection_info[0].connection_info,
        )
        .unwrap();
        assert_eq!(info.host, "10.0.0.5");
        assert_eq!(config.operations.bind_host(&config.node), "10.0.0.5");
    }

    #[test]
    fn the_admin_url_says_https_when_the_admin_port_has_tls() {
        let mut config = Config::default();
        config.node.thrift_host = "10.0.0.5".into();
        config.admin.port = 8443;
        assert_eq!(
            registration(&config, b"key").descriptor.admin_url,
            "http://10.0.0.5:8443"
        );
        config.admin.tls_certificate = "/etc/kaa/admin.pem".into();
        config.admin.tls_private_key = "/etc/kaa/admin.key".into();
        assert_eq!(
            registration(&config, b"key").descriptor.admin_url,
            "https://10.0.0.5:8443"
        );
    }
}
