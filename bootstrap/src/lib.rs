//! The Bootstrap service: hands endpoints the list of live Operations servers.
//!
//! An endpoint sends a `SyncRequest` with a bootstrap section naming the transports it speaks
//! (id and version); the answer lists one `ProtocolMetaData` per live Operations node and
//! matching transport, read from the cluster view (ZooKeeper, or this node when standalone):
//! the access point id (signed CRC32 of the node's Thrift `host:port`), and the connection info
//! with the node's public key, host and port. The nodes come in a random order weighted by
//! their published endpoint counts, fresh for every request, so endpoints that all bootstrap
//! through one server still spread over the cluster and new ones go mostly to the least loaded
//! nodes (SDKs try the list in order). Nothing is stored and no session is kept. The
//! service listens on Kaatcp (default 9888) and HTTP `/BS/Sync` (default 9889), whose answers are
//! signed with this node's key.
//!
//! [`internode`] is its `BootstrapService` inbox on the node's Thrift port.

pub mod internode;

use std::sync::Arc;

use kaa_cluster::Cluster;
use kaa_cluster::membership::ClusterView;
use kaa_idl::endpoint::crypto::access_point_id;
use kaa_idl::endpoint::sync::{
    BootstrapSyncResponse, ProtocolMetaData, ProtocolVersionPair, SyncRequest, SyncResponse,
    SyncResponseResultType,
};
use kaa_transport::http::Paths;
use kaa_transport::{
    Channel, EndpointService, Identified, Listeners, NodeKeys, PushSender, Serving, SyncFailure,
};

/// A running Bootstrap service.
pub struct BootstrapService {
    serving: Serving,
}

impl BootstrapService {
    /// Starts answering on `listeners` from the cluster's live view (their Kaatcp settings say
    /// whether clients may bootstrap without a session key, as the C SDK does).
    pub fn start(cluster: Cluster, keys: NodeKeys, listeners: Listeners) -> std::io::Result<Self> {
        let serving = Serving::start(
            listeners,
            Paths::Bootstrap,
            Arc::new(ServerList { cluster }),
            keys,
        )?;
        tracing::info!("bootstrap service started");
        Ok(Self { serving })
    }

    /// Stops listening and lets answers in flight finish.
    pub async fn stop(self) {
        self.serving.stop().await;
        tracing::info!("bootstrap service stopped");
    }
}

/// Answers bootstrap requests from the cluster view.
struct ServerList {
    cluster: Cluster,
}

impl EndpointService for ServerList {
    type Session = ();
    type Push = ();
    type Identity = ();
    const KEEPS_SESSIONS: bool = false;
    const SIGNS_RESPONSES: bool = true;
    const VERIFIES_SIGNATURES: bool = false;

    fn open(&self, _pushes: PushSender<()>, _identity: Option<()>, _channel: Channel) {}

    async fn identify(&self, _key_hash: &[u8]) -> Result<Identified<()>, SyncFailure> {
        Ok(Identified {
            public_key: None,
            identity: (),
        })
    }

    async fn sync(
        &self,
        _session: &mut (),
        request: SyncRequest,
    ) -> Result<SyncResponse, SyncFailure> {
        let bootstrap = request.bootstrap_sync_request.as_ref().ok_or_else(|| {
            SyncFailure::BadRequest("bootstrap request has no bootstrap section".into())
        })?;
        let mut response = SyncResponse::new(request.request_id, SyncResponseResultType::Success);
        response.bootstrap_sync_response = Some(BootstrapSyncResponse {
            request_id: bootstrap.request_id,
            supported_protocols: server_list(&self.cluster.view(), &bootstrap.supported_protocols),
        });
        Ok(response)
    }

    async fn push(
        &self,
        _session: &mut (),
        _push: (),
    ) -> Result<Option<SyncResponse>, SyncFailure> {
        Ok(None)
    }

    fn close(&self, _session: ()) {}
}

/// One entry per live Operations node and transport it offers in a version the endpoint speaks,
/// the nodes in [`load_weighted_order`].
pub fn server_list(view: &ClusterView, wanted: &[ProtocolVersionPair]) -> Vec<ProtocolMetaData> {
    let nodes: Vec<_> = view.operations.values().collect();
    let draws: Vec<f64> = nodes.iter().map(|_| uniform_draw()).collect();
    let counts: Vec<i32> = nodes
        .iter()
        .map(|node| node.load_info.endpoint_count)
        .collect();
    let mut list = Vec::new();
    for node in load_weighted_order(&counts, &draws)
        .into_iter()
        .map(|i| nodes[i])
    {
        let connection = &node.connection_info;
        let Ok(port) = u16::try_from(connection.thrift_port) else {
            continue;
        };
        let access_point_id = access_point_id(&connection.thrift_host, port);
        for transport in &node.transports {
            for pair in wanted.iter().filter(|p| p.id == transport.id) {
                if pair.version < transport.min_supported_version
                    || pair.version > transport.max_supported_version
                {
                    continue;
                }
                for info in transport
                    .connection_info
                    .iter()
                    .filter(|i| i.version == pair.version)
                {
                    list.push(ProtocolMetaData {
                        access_point_id,
                        protocol_version_info: pair.clone(),
                        connection_info: info.connection_info.clone(),
                    });
                }
            }
        }
    }
    list
}

/// A uniform draw from (0, 1].
fn uniform_draw() -> f64 {
    let bits = getrandom::u64().unwrap_or(u64::MAX) >> 11;
    (bits as f64 + 1.0) / (1u64 << 53) as f64
}

/// The order in which to offer nodes with `endpoint_counts` sessions: a random permutation in
/// which each node comes first with probability proportional to `1 / (1 + its count)`
/// (Efraimidis–Spirakis: sort by `draw^(1 + count)`, largest first; `draws` are uniform in
/// (0, 1], one per node). Equal counts give a uniform shuffle.
pub fn load_weighted_order(endpoint_counts: &[i32], draws: &[f64]) -> Vec<usize> {
    let keys: Vec<f64> = endpoint_counts
        .iter()
        .zip(draws)
        .map(|(&count, &draw)| draw.powf(1.0 + f64::from(count.max(0))))
        .collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]));
    order
}

#[cfg(test)]
mod tests {
    use super::load_weighted_order;

    /// A deterministic stand-in for the random draws: a small linear congruential generator.
    fn draws(seed: &mut u64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 11) as f64 + 1.0) / (1u64 << 53) as f64
            })
            .collect()
    }

    fn first_choices(counts: &[i32], rounds: usize) -> Vec<usize> {
        let mut seed = 7;
        let mut firsts = vec![0; counts.len()];
        for _ in 0..rounds {
            let order = load_weighted_order(counts, &draws(&mut seed, counts.len()));
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(
                sorted,
                (0..counts.len()).collect::<Vec<_>>(),
                "a permutation"
            );
            firsts[order[0]] += 1;
        }
        firsts
    }

    #[test]
    fn equal_loads_spread_evenly() {
        let firsts = first_choices(&[0, 0, 0], 30_000);
        for count in firsts {
            assert!((9_000..11_000).contains(&count), "{count} of 30000");
        }
    }

    #[test]
    fn the_least_loaded_node_comes_first_most_often_in_proportion() {
        // Weights 1/1, 1/10, 1/100: shares 0.901, 0.090, 0.009.
        let firsts = first_choices(&[0, 9, 99], 30_000);
        assert!((26_500..27_600).contains(&firsts[0]), "{firsts:?}");
        assert!((2_400..3_000).contains(&firsts[1]), "{firsts:?}");
        assert!((150..450).contains(&firsts[2]), "{firsts:?}");
    }

    #[test]
    fn negative_counts_count_as_zero() {
        let firsts = first_choices(&[-5, 0], 20_000);
        assert!((9_000..11_000).contains(&firsts[0]), "{firsts:?}");
    }
}
