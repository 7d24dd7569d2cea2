//! The admin HTTP server every node runs: `/health`, `/ready` and `/metrics`.
//!
//! `/health` answers 200 while the process is alive. `/ready` runs every readiness probe the
//! node's components registered (storage, ZooKeeper) concurrently and answers 200 only if all
//! pass, 503 otherwise, naming each probe's state (a failure's text with passwords in URLs
//! hidden); it also answers 503 once shutdown begins, so a load balancer drains the node first.
//! `/metrics` renders the node's Prometheus registry.
//! `/cluster` shows this node's live view of the cluster (nodes, services, leader, Operations
//! load, the hash ring) and `/cluster/owner?key=K` names the Operations node that owns key `K`.
//!
//! On Control nodes it also serves the admin web UI (the built `admin-ui/dist`) at `/`: files by
//! path, and `index.html` for any other GET outside `/api/`, `/health`, `/ready`, `/metrics`
//! and `/cluster`, so the single-page app's own paths load on refresh. Unknown paths under
//! those prefixes, and anything not GET or HEAD, get the JSON `no_route` 404.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
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
    /// Binds `host:port` and starts serving on the current tokio runtime, HTTPS only when `tls`
    /// is given.
    ///
    /// `api` is Control's admin API, mounted under `/api/v1` when the node runs Control; `ui`
    /// is the folder of the built admin UI, served at `/`.
    pub fn start(
        host: &str,
        port: u16,
        tls: Option<Arc<kaa_transport::tls::ServerConfig>>,
        state: AdminState,
        api: Option<ApiState>,
        ui: Option<PathBuf>,
    ) -> std::io::Result<Self> {
        let state = web::Data::new(state);
        let ui = ui.map(|dir| web::Data::new(UiDir(dir)));
        let api = api.map(kaa_control::api::configure);
        let server = HttpServer::new(move || {
            let api = api.clone();
            let ui = ui.clone();
            App::new()
                .app_data(state.clone())
                .configure(move |cfg| {
                    if let Some(ui) = ui {
                        cfg.app_data(ui);
                    }
                })
                .configure(move |cfg| {
                    if let Some(api) = api {
                        api(cfg);
                    }
                })
                .wrap(from_fn(kaa_control::api::audit::record))
                .wrap(from_fn(kaa_control::api::request_limit::bound))
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
        .shutdown_timeout(5);
        let server = match tls {
            Some(config) => server.bind_rustls_0_23((host, port), (*config).clone())?,
            None => server.bind((host, port))?,
        };
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
    let response = next.call(request).await;
    if let Some(state) = state {
        // An error (a request given up at its limit) is answered with its status too.
        let status = match &response {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        let status = status.as_u16();
        state
            .requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
    }
    response
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

/// The folder of the built admin UI.
struct UiDir(PathBuf);

/// Paths that belong to the API and the node's own endpoints, never to the UI.
fn reserved_path(path: &str) -> bool {
    ["/api", "/health", "/ready", "/metrics", "/cluster"]
        .iter()
        .any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// The file under the UI folder that `path` names, if `path` is a plain relative path (no `..`,
/// no root, no backslashes); `/` names `index.html`.
fn ui_file(dir: &Path, path: &str) -> Option<PathBuf> {
    let relative = path.trim_start_matches('/');
    if relative.is_empty() {
        return Some(dir.join("index.html"));
    }
    if relative.contains('\\') || relative.contains('\0') {
        return None;
    }
    let relative = Path::new(relative);
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(relative))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A GET of the UI: the file itself, or `index.html` for the app's own paths. Hashed files
/// under `assets/` are cached for good; everything else is revalidated.
async fn serve_ui(dir: &Path, path: &str) -> Option<HttpResponse> {
    let file = ui_file(dir, path)?;
    let is_asset = path.starts_with("/assets/");
    let (file, body) = match read_file(file.clone()).await {
        Some(body) => (file, body),
        // A missing asset is a 404; any other path is one of the app's routes.
        None if is_asset => return None,
        None => {
            let index = dir.join("index.html");
            match read_file(index.clone()).await {
                Some(body) => (index, body),
                None => return Some(ui_missing(dir)),
            }
        }
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type(&file))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"));
    if is_asset {
        response.insert_header(("Cache-Control", "public, max-age=31536000, immutable"));
    } else {
        response.insert_header(("Cache-Control", "no-cache"));
    }
    if file.extension().is_some_and(|e| e == "html") {
        response
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ));
    }
    Some(response.body(body))
}

async fn read_file(path: PathBuf) -> Option<Vec<u8>> {
    web::block(move || {
        if path.is_file() {
            std::fs::read(&path).ok()
        } else {
            None
        }
    })
    .await
    .ok()
    .flatten()
}

fn ui_missing(dir: &Path) -> HttpResponse {
    tracing::warn!(ui_dir = %dir.display(), "admin UI requested but not built");
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><title>kaa-rs</title><p>The admin UI is not built: no index.html in \
             <code>{}</code>. Run <code>make ui</code> in the repository (or set \
             <code>control.ui_dir</code>). The admin API is at <code>/api/v1</code>.</p>",
            html_escape(&dir.display().to_string())
        ))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Anything unrouted: the admin UI for GETs outside the API on a node that serves it, otherwise a
/// JSON 404, so API clients always get the API's error shape.
async fn no_route(request: actix_web::HttpRequest) -> HttpResponse {
    let method = request.method();
    if (method == actix_web::http::Method::GET || method == actix_web::http::Method::HEAD)
        && !reserved_path(request.path())
        && let Some(ui) = request.app_data::<web::Data<UiDir>>()
        && let Some(response) = serve_ui(&ui.0, request.path()).await
    {
        return response;
    }
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
                Err(reason) => json!({ "ok": false, "error": kaa_model::redact::text(&reason) }),
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

#[cfg(test)]
mod tests {
    use actix_web::test as actix_test;
    use actix_web::{App, web};

    use super::*;

    #[test]
    fn reserved_paths_are_never_the_ui() {
        for path in [
            "/api",
            "/api/v1/nope",
            "/health",
            "/ready",
            "/metrics",
            "/cluster/x",
        ] {
            assert!(reserved_path(path), "{path}");
        }
        for path in ["/", "/tenants", "/healthy", "/apix", "/assets/a.js"] {
            assert!(!reserved_path(path), "{path}");
        }
    }

    #[test]
    fn ui_files_stay_inside_the_folder() {
        let dir = Path::new("/srv/ui");
        assert_eq!(ui_file(dir, "/"), Some(dir.join("index.html")));
        assert_eq!(ui_file(dir, "/assets/a.js"), Some(dir.join("assets/a.js")));
        assert_eq!(ui_file(dir, "/../etc/passwd"), None);
        assert_eq!(ui_file(dir, "/assets/../../x"), None);
        assert_eq!(ui_file(dir, "/a\\..\\b"), None);
        assert_eq!(ui_file(dir, "//etc/passwd"), Some(dir.join("etc/passwd")));
    }

    #[actix_web::test]
    async fn serves_files_falls_back_to_index_and_keeps_json_404s() {
        let dir = std::env::temp_dir().join(format!("kaa-ui-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html>app").unwrap();
        std::fs::write(dir.join("assets/app.js"), "console.log(1)").unwrap();
        let app = actix_test::init_service(
            App::new()
                .app_data(web::Data::new(UiDir(dir.clone())))
                .default_service(web::to(no_route)),
        )
        .await;
        let get = |path: &str| actix_test::TestRequest::get().uri(path).to_request();

        let response = actix_test::call_service(&app, get("/")).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("content-security-policy"));
        assert_eq!(actix_test::read_body(response).await, "<!doctype html>app");

        let response = actix_test::call_service(&app, get("/assets/app.js")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/javascript; charset=utf-8"
        );

        let response = actix_test::call_service(&app, get("/applications/42/groups")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(actix_test::read_body(response).await, "<!doctype html>app");

        for path in ["/assets/missing.js", "/api/v1/nothing", "/metrics/x"] {
            let response = actix_test::call_service(&app, get(path)).await;
            assert_eq!(response.status(), 404, "{path}");
            let body: Value = actix_test::read_body_json(response).await;
            assert_eq!(body["error"], "no_route", "{path}");
        }
        let post = actix_test::TestRequest::post().uri("/tenants").to_request();
        assert_eq!(actix_test::call_service(&app, post).await.status(), 404);

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
