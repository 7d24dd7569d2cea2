//! SDK downloads (`GET …/sdk-profiles/{profile}/sdk?target=rust|c|python`) and the cluster as
//! SDKs see it (`GET /api/v1/cluster`: every node with its services, public hosts, ports and
//! public keys — what a generated SDK's bootstrap list embeds).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kaa_idl::zk::{
    TRANSPORT_HTTP, TRANSPORT_TCP, TransportConnectionInfo, TransportMetaData, transport_id,
};
use kaa_model::Role;
use kaa_sdk_generator::Target;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiState;
use super::caller::Caller;
use super::error::{ApiError, ErrorBody};
use super::scope::tenant_application;
use crate::sdk::SdkError;

/// Who may download SDKs.
const SDK_ROLES: [Role; 2] = [Role::TenantAdmin, Role::TenantDeveloper];

/// Which SDK.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SdkQuery {
    /// `rust`, `c` or `python`.
    pub target: Option<String>,
}

/// Generates (or serves the cached) SDK archive of an SDK profile: a `tar.gz` holding the
/// runtime, code generated from the pinned schemas, the SDK token and the bootstrap list of the
/// live cluster (TENANT_ADMIN, TENANT_DEVELOPER).
#[utoipa::path(tag = "sdk profiles", security(("bearer" = [])),
    params(("id" = String, Path), ("profile" = String, Path), SdkQuery),
    responses((status = 200, description = "the archive", content_type = "application/gzip", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/sdk-profiles/{profile}/sdk")]
pub async fn download_sdk(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<SdkQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&SDK_ROLES)?;
    let target: Target = match query.target.as_deref() {
        None => return Err(ApiError::invalid("target", "required: rust, c or python")),
        Some(target) => target
            .parse()
            .map_err(|_| ApiError::invalid("target", "must be rust, c or python"))?,
    };
    let (app_id, profile_id) = path.into_inner();
    let app = tenant_application(&state, &caller, &app_id).await?;
    let profile = state
        .metadata
        .store()
        .sdk_profile(&app.id, &profile_id)
        .await?;
    let view = state.cluster.view();
    let generated = state
        .sdks
        .archive(state.metadata.store(), &view, &app, &profile, target)
        .await
        .map_err(|error| match error {
            SdkError::NoBootstrap => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_bootstrap",
                error.to_string(),
            ),
            SdkError::Store(error) => error.into(),
            other => {
                tracing::error!(error = %other, sdk_token = %profile.sdk_token, "SDK generation failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "generation_failed", other.to_string())
            }
        })?;
    Ok(HttpResponse::Ok()
        .content_type("application/gzip")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", generated.archive.file_name),
        ))
        .insert_header((
            "X-Kaa-Sdk-Cache",
            if generated.cached { "hit" } else { "miss" },
        ))
        .body(generated.archive.bytes.clone()))
}

/// A transport a node serves endpoints on.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransportView {
    /// `tcp` (Kaatcp) or `http`.
    pub protocol: String,
    /// The host endpoints connect to.
    pub host: String,
    /// The port endpoints connect to.
    pub port: i32,
    /// The node's RSA public key, base64 of the X.509 DER.
    pub public_key: String,
}

/// An endpoint-facing service of a node.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointServiceView {
    /// Its transports.
    pub transports: Vec<TransportView>,
}

/// One node of the cluster.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterNodeView {
    /// Node id.
    pub id: String,
    /// Services it runs (`control`, `operations`, `bootstrap`).
    pub services: Vec<String>,
    /// Its admin URL.
    pub admin_url: String,
    /// Its internode Thrift address.
    pub thrift: String,
    /// kaa-rs version.
    pub version: String,
    /// Whether it is the active Control.
    pub leader: bool,
    /// Its Operations service as endpoints reach it, when it runs and is live.
    pub operations: Option<EndpointServiceView>,
    /// Its Bootstrap service as endpoints reach it, when it runs and is live.
    pub bootstrap: Option<EndpointServiceView>,
}

/// The cluster.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterViewBody {
    /// Every registered node, by id.
    pub nodes: Vec<ClusterNodeView>,
}

fn endpoint_service(transports: &[TransportMetaData]) -> EndpointServiceView {
    let tcp = transport_id(TRANSPORT_TCP);
    let http = transport_id(TRANSPORT_HTTP);
    EndpointServiceView {
        transports: transports
            .iter()
            .flat_map(|t| t.connection_info.iter().map(move |v| (t.id, v)))
            .filter_map(|(id, version)| {
                let info = TransportConnectionInfo::decode(&version.connection_info).ok()?;
                let protocol = if id == tcp {
                    "tcp"
                } else if id == http {
                    "http"
                } else {
                    "other"
                };
                Some(TransportView {
                    protocol: protocol.into(),
                    host: info.host,
                    port: info.port,
                    public_key: BASE64.encode(&info.public_key),
                })
            })
            .collect(),
    }
}

/// The cluster's nodes with their services, public hosts, ports and public keys: what generated
/// SDKs embed (any signed-in user).
#[utoipa::path(tag = "cluster", security(("bearer" = [])),
    responses((status = 200, body = ClusterViewBody), (status = 401, body = ErrorBody)))]
#[get("/api/v1/cluster")]
pub async fn cluster(state: web::Data<ApiState>, _caller: Caller) -> HttpResponse {
    let view = state.cluster.view();
    let leader = view.leader_id().map(str::to_owned);
    let nodes = view
        .nodes
        .values()
        .map(|node| ClusterNodeView {
            id: node.id.clone(),
            services: node.services.iter().map(|s| s.to_string()).collect(),
            admin_url: node.admin_url.clone(),
            thrift: format!("{}:{}", node.thrift_host, node.thrift_port),
            version: node.version.clone(),
            leader: leader.as_deref() == Some(node.id.as_str()),
            operations: view
                .operations
                .get(&node.id)
                .map(|info| endpoint_service(&info.transports)),
            bootstrap: view
                .bootstrap
                .get(&node.id)
                .map(|info| endpoint_service(&info.transports)),
        })
        .collect();
    HttpResponse::Ok().json(ClusterViewBody { nodes })
}
