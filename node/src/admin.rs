//! The admin HTTP server every node runs: `/health`, `/ready` and `/metrics`.
//!
//! `/health` answers 200 while the process is alive. `/ready` runs every readiness probe the
//! node's components registered (storage, ZooKeeper) concurrently and answers 200 only if all
//! pass, 503 otherwise, naming each probe's state; it also answers 503 once shutdown begins, so a
//! load balancer drains the node first. `/metrics` renders the node's Prometheus registry.
//! `/cluster` shows this node's live view of the cluster (nodes, services, leader, Operations
//! load, the hash ring) and `/cluster/owner?key=K` names the Operations node that owns key `K`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use kaa_cluster::Cluster;
use kaa_control::api::ApiState;
use kaa_idl::zk::{ConnectionInfo, TransportConnectionInfo, TransportMetaData};
use kaa_model::ServiceSet;
use kaa_model::health::Probe;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

/// How long one readiness probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Labels of the admin request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

/// What the admin handlers share.
pub struct AdminState {
    node_id: String,
    services: ServiceSet,
    probes: Vec<Arc<dyn Probe>>,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    draining: CancellationToken,
    cluster: Cluster,
}

impl AdminState {
    /// Builds the state; `registry` already holds the node's metrics, and the admin request
    /// counter is added to it here. Cancelling `draining` makes `/ready` answer 503.
    pub fn new(
        node_id: String,
        services: ServiceSet,
        probes: Vec<Arc<dyn Probe>>,
        mut registry: Registry,
        draining: CancellationToken,
        cluster: Cluster,
    ) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "kaa_admin_requests",
            "Admin HTTP requests served, by route and status",
            requests.clone(),
        );
        Self {
            node_id,
            services,
            probes,
            registry,
            requests,
            draining,
            cluster,
        }
    }
}

/// A running admin server.
pub struct AdminServer {
    handle: ServerHandle,
    /// The addresses it listens on (the real port when 0 was configured).
    pub addrs: Vec<SocketAddr>,
}

impl AdminServer {
    /// Binds `host:port` and starts serving on the current tokio runtime.
    ///
    /// `api` is Control's admin API, mounted under `/api/v1` when the node runs Control.
    pub fn start(
        host: &str,
        port: u16,
        state: AdminState,
        api: Option<ApiState>,
    ) -> std::io::Result<Self> {
        let state = web::Data::new(state);
        let api = api.map(kaa_control::api::configure);
        let server = HttpServer::new(move || {
            let api = api.clone();
            App::new()
                .app_data(state.clone())
                .configure(move |cfg| {
                    if let Some(api) = api {
                        api(cfg);
                    }
                })
                .wrap(from_fn(guard_admin_api))
                .wrap(from_fn(count_requests))
                .route("/health", web::get().to(health))
                .route("/ready", web::get().to(ready))
                .route("/metrics", web::get().to(metrics))
                .route("/cluster", web::get().to(cluster))
                .route("/cluster/owner", web::get().to(ring_owner))
                .default_service(web::to(no_route))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(5)
        .bind((host, port))?;
        let addrs = server.addrs();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { handle, addrs })
    }

    /// Stops accepting, lets in-flight requests finish, then returns.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

async fn count_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let state = request.app_data::<web::Data<AdminState>>().cloned();
    let response = next.call(request).await?;
    if let Some(state) = state {
        let status = response.status().as_u16();
        state
            .requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
    }
    Ok(response)
}

/// Admin API requests (`/api/…`) are served by the Control leader only; elsewhere they get an
/// answer naming the leader (docs/decisions/004-admin-requests-on-standby.md).
async fn guard_admin_api(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let refusal = match request.app_data::<web::Data<AdminState>>() {
        Some(state) if request.path().starts_with("/api/") => api_refusal(state),
        _ => None,
    };
    match refusal {
        Some(response) => Ok(request.into_response(response)),
        None => Ok(next.call(request).await?.map_into_boxed_body()),
    }
}

fn api_refusal(state: &AdminState) -> Option<HttpResponse> {
    if !state.services.contains(kaa_model::Service::Control) {
        return Some(HttpResponse::NotFound().json(json!({
            "error": "no_control",
            "message": "this node does not run the Control service",
        })));
    }
    if state.cluster.is_leader() {
        return None;
    }
    let view = state.cluster.view();
    let leader = view.leader_id().and_then(|id| view.nodes.get(id));
    let mut response = HttpResponse::ServiceUnavailable();
    if let Some(leader) = leader {
        response.insert_header(("X-Kaa-Leader", leader.admin_url.as_str()));
    }
    Some(response.json(json!({
        "error": "not_leader",
        "message": "this Control node is a standby; send admin requests to the leader",
        "leader": leader.map(|l| json!({ "id": l.id, "admin_url": l.admin_url })),
    })))
}

/// Anything unrouted: a JSON 404, so API clients always get the API's error shape.
async fn no_route(request: actix_web::HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "error": "no_route",
        "message": format!("no {} {} here", request.method(), request.path()),
    }))
}

async fn health(state: web::Data<AdminState>) -> HttpResponse {
    let services: Vec<&str> = state.services.iter().map(|s| s.name()).collect();
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "node": state.node_id,
        "services": services,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn ready(state: web::Data<AdminState>) -> HttpResponse {
    if state.draining.is_cancelled() {
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "ready": false, "reason": "shutting down" }));
    }
    let results = futures::future::join_all(state.probes.iter().map(|probe| async move {
        let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe.check()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        };
        (probe.name().to_owned(), outcome)
    }))
    .await;
    let all_ready = results.iter().all(|(_, outcome)| outcome.is_ok());
    let checks: Map<String, Value> = results
        .into_iter()
        .map(|(name, outcome)| {
            let value = match outcome {
                Ok(()) => json!({ "ok": true }),
                Err(reason) => json!({ "ok": false, "error": reason }),
            };
            (name, value)
        })
        .collect();
    let body = json!({ "ready": all_ready, "checks": checks });
    if all_ready {
        HttpResponse::Ok().json(body)
    } else {
        tracing::debug!(%body, "not ready");
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: web::Data<AdminState>) -> HttpResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(error) => {
            tracing::error!(%error, "cannot encode metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn transports_json(transports: &[TransportMetaData]) -> Vec<Value> {
    transports
        .iter()
        .flat_map(|t| {
            t.connection_info.iter().map(move |v| {
                let endpoint = TransportConnectionInfo::decode(&v.connection_info).ok();
                json!({
                    "id": t.id,
                    "version": v.version,
                    "host": endpoint.as_ref().map(|e| e.host.clone()),
                    "port": endpoint.as_ref().map(|e| e.port),
                })
            })
        })
        .collect()
}

/// One Operations or Bootstrap registration as JSON.
fn service_record(
    id: &str,
    connection: &ConnectionInfo,
    time_started: i64,
    transports: &[TransportMetaData],
) -> Value {
    json!({
        "id": id,
        "thrift": format!("{}:{}", connection.thrift_host, connection.thrift_port),
        "time_started": time_started,
        "transports": transports_json(transports),
    })
}

async fn cluster(state: web::Data<AdminState>) -> HttpResponse {
    let view = state.cluster.view();
    let operations: Vec<Value> = view
        .operations
        .iter()
        .map(|(id, info)| {
            let mut record = service_record(
                id,
                &info.connection_info,
                info.time_started,
                &info.transports,
            );
            record["endpoint_count"] = info.load_info.endpoint_count.into();
            record["load_average"] = info.load_info.load_average.into();
            record
        })
        .collect();
    let bootstrap: Vec<Value> = view
        .bootstrap
        .iter()
        .map(|(id, info)| {
            service_record(
                id,
                &info.connection_info,
                info.time_started,
                &info.transports,
            )
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "node": state.node_id,
        "clustered": state.cluster.is_clustered(),
        "leader": view.leader_id(),
        "this_node_leads": state.cluster.is_leader(),
        "nodes": view.nodes.values().collect::<Vec<_>>(),
        "operations": operations,
        "bootstrap": bootstrap,
        "ring": view.ring.nodes().collect::<Vec<_>>(),
    }))
}

#[derive(serde::Deserialize)]
struct OwnerQuery {
    key: String,
}

async fn ring_owner(state: web::Data<AdminState>, query: web::Query<OwnerQuery>) -> HttpResponse {
    let view = state.cluster.view();
    match view.ring.owner(&query.key) {
        Some(owner) => HttpResponse::Ok().json(json!({ "key": query.key, "owner": owner })),
        None => HttpResponse::ServiceUnavailable()
            .json(json!({ "error": "no_operations_node", "message": "no live Operations node" })),
    }
}
