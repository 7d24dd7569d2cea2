//! kaa-rs integration tests, one binary for fast linking. Every test runs against real servers
//! (from `deploy/local/infra.sh`) or real `kaa-node` processes; none is skipped when a server is
//! missing.

mod admin_api;
mod admin_audit;
mod bounds_log_records;
mod cluster;
mod cluster_lock;
mod confined_appenders;
mod endpoint_auth;
mod endpoint_cluster;
mod endpoint_limits;
mod endpoint_path;
mod endpoint_store;
mod events_api;
mod faults_cassandra_freeze;
mod faults_control_leader;
mod faults_disk_full;
mod faults_metadata_outage;
mod faults_mongodb_outage;
mod faults_partition;
mod fleet;
mod internode_tls;
mod load_balancing;
mod loadgen_smoke;
mod log_collection;
mod login_memory;
mod metadata_events;
mod metadata_store;
mod node_lifecycle;
mod node_setup;
mod owner_configurations;
mod owners_events;
mod role_matrix;
mod schemathesis;
mod sdk_c;
mod sdk_generation;
mod sdk_python;
mod sdk_rust;
mod sdk_support;
mod secrets;
mod session_channels;
mod smoke;
mod stale_changes;
mod support;
mod thrift_interop;
mod timeouts_shutdown_drain;
mod timeouts_store_calls;
mod timeouts_sync_deadline;
mod zookeeper_acl;

/// A name unique to this test run, for databases, tables, keyspaces and znodes.
fn unique(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}
