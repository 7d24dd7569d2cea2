//! Composition of one node: coordination, the enabled services, the admin server, and their
//! ordered shutdown.
//!
//! Start-up order: data dir → coordination (ZooKeeper session supervisor, or in-process) →
//! services in [`Service::ALL`] order, each after its storage answers → internode Thrift server
//! → admin server.
//! Shutdown, on the first SIGINT/SIGTERM (or `KaaNodeService.shutdown`), runs in phases, each
//! bounded by `shutdown.phase_timeout`: (1) drain: `/ready` turns 503 and the services stop in
//! reverse order; (2) stop Thrift, after answering the calls it has received; (3) leave
//! ZooKeeper: the session closes, so this node's ephemeral znodes vanish at once; (4) background
//! tasks finish; (5) the admin server stops.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use kaa_bootstrap::BootstrapService;
use kaa_cluster::Cluster;
use kaa_cluster::acl::ZkAccess;
use kaa_cluster::zookeeper::ZkSettings;
use kaa_control::ControlService;
use kaa_model::Service;
use kaa_model::health::Probe;
use kaa_model::outbound::OutboundPolicy;
use kaa_operations::catalog::UnknownTokenSettings;
use kaa_operations::events::EventLimits;
use kaa_operations::logs::record::DecodeLimits;
use kaa_operations::logs::{FileRoot, LogCollectionSettings, StoreDefaults};
use kaa_operations::{OperationsService, OperationsSettings};
use kaa_store::StoreError;
use kaa_store::endpoint::EndpointStore;
use kaa_store::metadata::MetadataStore;
use kaa_store::sql::SqlDatabase;
use kaa_transport::http::HttpSettings;
use kaa_transport::key_work::KeyWork;
use kaa_transport::limits::{Admission, ConnectionCaps, LimitMetrics};
use kaa_transport::tcp::TcpSettings;
use kaa_transport::{Listeners, NodeKeys};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::admin::{AdminServer, AdminState};
use crate::config::{Config, EndpointServiceConfig, Mode};
use crate::internode::{self, Internode};
use crate::registration;

/// The services that are running, each owning what it opened.
#[derive(Default)]
struct RunningServices {
    control: Option<ControlService>,
    operations: Option<OperationsService>,
    bootstrap: Option<BootstrapService>,
}

impl RunningServices {
    fn probes(&self) -> Vec<Arc<dyn Probe>> {
        let mut probes = Vec::new();
        if let Some(control) = &self.control {
            probes.extend(control.probes());
        }
        if let Some(operations) = &self.operations {
            probes.extend(operations.probes());
        }
        probes
    }

    /// Stops in reverse start order: Bootstrap stops advertising first, Control last.
    async fn stop(self) {
        if let Some(bootstrap) = self.bootstrap {
            bootstrap.stop().await;
        }
        if let Some(operations) = self.operations {
            operations.stop().await;
        }
        if let Some(control) = self.control {
            control.stop().await;
        }
    }
}

/// Runs a node until `shutdown` is cancelled, then shuts it down in order.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let node_id = config.node_id();
    let services = config.services();
    info!(node = %node_id, mode = ?config.node.mode, %services, "starting kaa-node");
    create_data_dir(&config.node.data_dir).with_context(|| {
        format!(
            "cannot create node.data_dir {}",
            config.node.data_dir.display()
        )
    })?;

    let background = TaskTracker::new();
    let leave_cluster = CancellationToken::new();
    let keys = NodeKeys::load_or_create(&config.node.data_dir)
        .context("cannot load or create the node key pair (node.data_dir)")?
        .with_key_work(KeyWork::new(
            config.endpoint_limits.key_workers,
            config.endpoint_limits.key_queue,
        ));
    let limit_metrics = LimitMetrics::default();
    let registration = registration::registration(&config, keys.public_der());
    let session_count = Arc::new(AtomicUsize::new(0));
    let thrift_security = internode::security(&config)?;
    let (cluster, mut fatal) = match config.node.mode {
        Mode::Standalone => (Cluster::standalone(registration, thrift_security), None),
        Mode::Cluster => {
            let access = config.zookeeper.access();
            if access == ZkAccess::Open {
                warn!(
                    "zookeeper.insecure_open_acl is set: anyone who reaches ZooKeeper can change this cluster's znodes, register a fake Operations node and take the Control lock (set zookeeper.auth)"
                );
            }
            let settings = ZkSettings {
                connect: config.zookeeper.connect.clone(),
                chroot: config.zookeeper.chroot.clone(),
                session_timeout: config.zookeeper.session_timeout,
                access,
            };
            let (cluster, fatal) = Cluster::join(
                settings,
                registration,
                thrift_security,
                registration::load_source(session_count.clone()),
                config.zookeeper.load_report_interval,
                leave_cluster.clone(),
                &background,
            )?;
            (cluster, Some(fatal))
        }
    };

    let started = tokio::select! {
        started = start_services(&config, &cluster, &keys, &session_count, &limit_metrics) => started?,
        _ = shutdown.cancelled() => {
            info!("shutdown requested during start-up");
            leave_cluster.cancel();
            background.close();
            background.wait().await;
            return Ok(());
        }
    };
    let mut probes = started.probes();
    probes.extend(cluster.probe());

    let draining = CancellationToken::new();
    let mut registry = node_metrics(&node_id, &config);
    if let Some(operations) = &started.operations {
        operations.register_metrics(&mut registry);
    }
    if let Some(control) = &started.control {
        control.register_metrics(&mut registry);
    }
    if started.operations.is_some() || started.bootstrap.is_some() {
        limit_metrics.register(&mut registry);
        keys.key_work().register(&mut registry);
    }

    // Internode Thrift: KaaNodeService, plus the services this node runs.
    let internode = Internode::start(
        &config,
        &node_id,
        &cluster,
        shutdown.clone(),
        &mut registry,
        started.operations.as_ref(),
    )
    .await?;
    let state = AdminState::new(
        node_id.clone(),
        services,
        probes,
        registry,
        draining.clone(),
        cluster,
    );
    let api = started.control.as_ref().map(ControlService::api);
    let ui = if started.control.is_some() {
        config.control.ui_dir()
    } else {
        None
    };
    match &ui {
        Some(dir) => info!(ui_dir = %dir.display(), "serving the admin UI"),
        None if started.control.is_some() => info!(
            "admin UI not found (no {}/index.html; `make ui` builds it, control.ui_dir points to it)",
            crate::config::DEFAULT_UI_DIR
        ),
        None => {}
    }
    let admin_tls = tls_config(
        &config,
        &config.admin.tls_certificate,
        &config.admin.tls_private_key,
        "admin",
    )?;
    if admin_tls.is_none() {
        warn!(
            port = config.admin.port,
            "the admin port speaks plain HTTP: passwords and tokens cross the network in the clear unless a TLS proxy fronts it (set admin.tls_certificate and admin.tls_private_key)"
        );
    }
    let admin = AdminServer::start(
        &config.admin.host,
        config.admin.port,
        admin_tls,
        state,
        api,
        ui,
    )
    .with_context(|| format!("cannot listen on admin.port {}", config.admin.port))?;
    for addr in &admin.addrs {
        info!(%addr, "admin server listening");
    }
    info!(node = %node_id, "node started");

    let fatal_error = tokio::select! {
        _ = shutdown.cancelled() => None,
        Some(error) = async { fatal.as_mut()?.recv().await } => Some(error),
    };
    match &fatal_error {
        None => info!("shutdown requested"),
        Some(error) => tracing::error!(%error, "cannot stay in the cluster, shutting down"),
    }
    let deadline = config.shutdown.phase_timeout;
    draining.cancel();
    // Stopping Operations drains the log appender queues, which has a deadline of its own.
    let drain = deadline + config.log_collection.drain_timeout;
    phase("drain and stop services", drain, started.stop()).await;
    phase("stop thrift", deadline, internode.stop()).await;
    leave_cluster.cancel();
    background.close();
    phase(
        "leave zookeeper and finish background tasks",
        deadline,
        background.wait(),
    )
    .await;
    phase("stop admin server", deadline, admin.stop()).await;
    info!("node stopped");
    match fatal_error {
        None => Ok(()),
        Some(error) => Err(error.into()),
    }
}

/// Opens each enabled service's storage (retrying until `node.startup_timeout`) and starts it.
async fn start_services(
    config: &Config,
    cluster: &Cluster,
    keys: &NodeKeys,
    session_count: &Arc<AtomicUsize>,
    limit_metrics: &LimitMetrics,
) -> anyhow::Result<RunningServices> {
    let mut running = RunningServices::default();
    let patience = config.node.startup_timeout;
    for service in config.services().iter() {
        match service {
            Service::Control => {
                let url = config.expand(&config.sql.url);
                let max = config.sql.max_connections;
                let metadata = retry("metadata database (sql.url)", patience, || {
                    SqlDatabase::connect_with(&url, max, config.sql.timeouts())
                })
                .await?;
                let endpoints = open_endpoint_store(config, patience).await?;
                running.control = Some(
                    ControlService::start(
                        metadata,
                        endpoints,
                        cluster.clone(),
                        config.control.rebalance(),
                        config.control.security(),
                    )
                    .await?,
                );
            }
            Service::Operations => {
                let store = open_endpoint_store(config, patience).await?;
                let url = config.expand(&config.sql.url);
                let database = retry("metadata database (sql.url)", patience, || {
                    SqlDatabase::connect_with(
                        &url,
                        config.sql.max_connections,
                        config.sql.timeouts(),
                    )
                })
                .await?;
                let metadata = MetadataStore::open(database)
                    .await
                    .context("cannot open the metadata store (sql.url)")?;
                let listeners =
                    bind(config, &config.operations, "operations", limit_metrics).await?;
                let settings = OperationsSettings {
                    node_id: config.node_id(),
                    allow_plaintext: config.operations.allow_plaintext,
                    session_count: session_count.clone(),
                    logs: LogCollectionSettings {
                        queue_batches: config.log_collection.queue_batches,
                        queue_bytes: config.log_collection.queue_bytes,
                        decode_limits: DecodeLimits {
                            record_bytes: config.log_collection.max_record_bytes,
                            batch_bytes: config.log_collection.max_batch_bytes,
                        },
                        delivery_wait: config.log_collection.delivery_wait,
                        drain_timeout: config.log_collection.drain_timeout,
                        writers: config.log_collection.writers_per_appender,
                        defaults: StoreDefaults::of(&config.endpoint_backend()),
                        files: FileRoot {
                            path: config.operations.file_appender_root(&config.node),
                            max_file_bytes: config.operations.file_appender_max_file_bytes,
                            max_files: config.operations.file_appender_max_files,
                        },
                    },
                    sync_deadline: config.sync.deadline,
                    events: EventLimits {
                        endpoint_queue_bytes: config.events.endpoint_queue_bytes,
                        route_queue_bytes: config.events.route_queue_bytes,
                    },
                    outbound: OutboundPolicy::new(&config.operations.outbound_allow)
                        .context("operations.outbound_allow")?,
                    change_check_interval: config.metadata_cache.change_check_interval,
                    unknown_sdk_tokens: UnknownTokenSettings {
                        ttl: config.metadata_cache.unknown_sdk_token_ttl,
                        max: config.metadata_cache.unknown_sdk_token_max,
                    },
                };
                running.operations = Some(OperationsService::start(
                    store,
                    metadata,
                    keys.clone(),
                    listeners,
                    cluster.clone(),
                    settings,
                )?);
            }
            Service::Bootstrap => {
                let listeners = bind(config, &config.bootstrap, "bootstrap", limit_metrics).await?;
                running.bootstrap = Some(BootstrapService::start(
                    cluster.clone(),
                    keys.clone(),
                    listeners,
                )?);
            }
        }
    }
    Ok(running)
}

/// Connects to the endpoint store (retrying until `patience` runs out) and creates its tables.
async fn open_endpoint_store(config: &Config, patience: Duration) -> anyhow::Result<EndpointStore> {
    let backend = config.endpoint_backend();
    let store = retry("endpoint store (endpoint_store)", patience, || {
        EndpointStore::connect_with(&backend, config.endpoint_store.timeouts())
    })
    .await?;
    store
        .prepare()
        .await
        .context("cannot create the endpoint store's tables")?;
    Ok(store)
}

/// Binds a service's Kaatcp and HTTP ports on the node's host (the error names the config key),
/// with the limits of `[endpoint_limits]` in front of them, counted in `metrics`.
async fn bind(
    config: &Config,
    service: &EndpointServiceConfig,
    section: &'static str,
    metrics: &LimitMetrics,
) -> anyhow::Result<Listeners> {
    let host = service.bind_host(&config.node);
    let tcp = tokio::net::TcpListener::bind((host, service.tcp_port))
        .await
        .with_context(|| format!("cannot listen on {section}.tcp_port {}", service.tcp_port))?;
    let http = std::net::TcpListener::bind((host, service.http_port))
        .with_context(|| format!("cannot listen on {section}.http_port {}", service.http_port))?;
    let tls = tls_config(
        config,
        &service.tls_certificate,
        &service.tls_private_key,
        section,
    )?;
    let limits = &config.endpoint_limits;
    let caps = ConnectionCaps {
        total: limits.max_connections,
        per_source: limits.max_connections_per_address,
    };
    Ok(Listeners {
        tcp,
        http,
        tls,
        admission: Admission::new(caps, metrics.service(section)),
        tcp_settings: TcpSettings {
            max_frame: limits.max_frame_bytes,
            allow_plaintext: service.allow_plaintext,
            connect_deadline: limits.connect_deadline,
            max_keepalive: limits.max_keepalive,
        },
        http_settings: HttpSettings {
            max_body: limits.http_max_body,
            workers: limits.http_workers,
            request_deadline: limits.connect_deadline,
            ..HttpSettings::default()
        },
    })
}

/// The TLS server side of a listener from its `<section>.tls_certificate` and `tls_private_key`
/// files, or `None` when they are not set.
fn tls_config(
    config: &Config,
    certificate: &str,
    private_key: &str,
    section: &str,
) -> anyhow::Result<Option<std::sync::Arc<kaa_transport::tls::ServerConfig>>> {
    if certificate.is_empty() {
        return Ok(None);
    }
    let server = kaa_transport::tls::server_config(
        std::path::Path::new(&config.expand(certificate)),
        std::path::Path::new(&config.expand(private_key)),
    )
    .with_context(|| format!("cannot set up TLS ({section}.tls_certificate)"))?;
    Ok(Some(server))
}

/// Creates the data dir (and missing parents) readable by the node's user only (0700): it holds
/// the node's private key and, standalone, its databases. An existing dir is left as the operator
/// made it, with a warning when others may read it.
pub(crate) fn create_data_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        warn!(
            data_dir = %dir.display(),
            mode = format!("{mode:o}"),
            "node.data_dir is open to other users; chmod 700 it"
        );
    }
    Ok(())
}

/// Calls `connect` until it succeeds or `patience` runs out, backing off between attempts.
async fn retry<T, F, Fut>(what: &str, patience: Duration, mut connect: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let started = Instant::now();
    let mut backoff = Duration::from_millis(200);
    loop {
        match connect().await {
            Ok(value) => return Ok(value),
            Err(error) if started.elapsed() + backoff < patience => {
                let error = kaa_model::redact::text(&error.to_string()).into_owned();
                warn!(%error, retry_in = ?backoff, "{what} not reachable yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(error) => bail!("{what} not reachable after {patience:?}: {error}"),
        }
    }
}

/// Runs one shutdown phase, giving up on it after `deadline`.
async fn phase(name: &str, deadline: Duration, work: impl Future<Output = ()>) {
    let started = Instant::now();
    match tokio::time::timeout(deadline, work).await {
        Ok(()) => info!(phase = name, elapsed = ?started.elapsed(), "shutdown phase done"),
        Err(_) => warn!(
            phase = name,
            ?deadline,
            "shutdown phase hit its deadline, moving on"
        ),
    }
}

/// The node-level metrics: who this node is and when it started.
fn node_metrics(node_id: &str, config: &Config) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "kaa_node",
        "Identity of this node",
        Info::new(vec![
            ("node_id", node_id.to_owned()),
            ("version", env!("CARGO_PKG_VERSION").to_owned()),
            ("services", config.services().to_string()),
            ("mode", format!("{:?}", config.node.mode).to_lowercase()),
        ]),
    );
    let start_time = Gauge::<i64>::default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    start_time.set(now.as_secs() as i64);
    registry.register(
        "kaa_node_start_time_seconds",
        "Unix time the node started",
        start_time,
    );
    registry
}
