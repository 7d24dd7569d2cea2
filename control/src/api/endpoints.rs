//! Endpoints as operators see them: credentials (provision, revoke, look up), endpoint profiles
//! (client profile, groups, configuration hash, server profile), and notifications (to a topic,
//! or unicast to one endpoint).
//!
//! An endpoint is named in URLs by its key hash (SHA-1 of its public key) in URL-safe Base64
//! without padding. Writes go to the endpoint store; then the Operations nodes concerned are told:
//! a topic notification goes to every live Operations node (like any change), a message for one
//! endpoint goes through its owner on the hash ring to the node serving its session.

use actix_web::{HttpResponse, get, post, put, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kaa_cluster::routing::{EndpointAddress, EndpointMessage, Hop};
use kaa_idl::endpoint::crypto::{PublicKey, key_hash};
use kaa_model::{Role, redact};
use kaa_store::StoreError;
use kaa_store::endpoint::{
    CredentialStatus, Credentials, EndpointProfile, NotificationKind, UnicastNotification,
};
use kaa_store::metadata::{Application, Page, Topic, now_ms, paged};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody};
use super::schemas::{app_schema, check_document};
use super::scope::{BUILDERS, TENANT_ROLES, tenant_application};
use super::{ApiState, PageOf, PageQuery};

/// Longest time a notification may live.
const MAX_TTL_SECONDS: i64 = 30 * 24 * 3600;

/// An endpoint's credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsView {
    /// Key hash, URL-safe Base64 without padding (the endpoint's id in URLs).
    pub endpoint_key_hash: String,
    /// `AVAILABLE`, `IN_USE` or `REVOKED`.
    pub status: String,
    /// The public key, standard Base64 of its X.509 DER.
    pub public_key: String,
}

impl From<&Credentials> for CredentialsView {
    fn from(c: &Credentials) -> Self {
        Self {
            endpoint_key_hash: URL_SAFE_NO_PAD.encode(&c.endpoint_key_hash),
            status: status_name(c.status).to_owned(),
            public_key: STANDARD.encode(&c.public_key),
        }
    }
}

fn status_name(status: CredentialStatus) -> &'static str {
    match status {
        CredentialStatus::Available => "AVAILABLE",
        CredentialStatus::InUse => "IN_USE",
        CredentialStatus::Revoked => "REVOKED",
    }
}

/// Credentials to provision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredentials {
    /// The endpoint's RSA public key: standard Base64 of its X.509 DER.
    pub public_key: String,
}

/// An endpoint as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// Key hash, URL-safe Base64 without padding.
    pub endpoint_key_hash: String,
    /// Access token the endpoint chose (owners attach endpoints by it); `***` for a TENANT_USER.
    pub access_token: Option<String>,
    /// SDK token of the SDK profile it runs.
    pub sdk_token: String,
    /// Client-profile schema version.
    pub client_profile_version: i32,
    /// The client profile, decoded with its schema (null if it cannot be decoded).
    pub client_profile: Option<Value>,
    /// Server-profile schema version.
    pub server_profile_version: i32,
    /// The server profile.
    pub server_profile: Value,
    /// Ids of the groups it belongs to.
    pub groups: Vec<String>,
    /// SHA-1 of its configuration, hex.
    pub configuration_hash: String,
    /// Topic ids it receives.
    pub subscriptions: Vec<String>,
    /// The Operations node serving (or that last served) it.
    pub node_id: Option<String>,
    /// Its owner, `<tenant id>:<user external id>`, once attached to one.
    pub owner_id: Option<String>,
    /// When it last synced, Unix milliseconds.
    pub last_seen_ms: i64,
    /// Its credentials status.
    pub credentials_status: Option<String>,
}

/// A new server profile for an endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerProfileUpdate {
    /// Server-profile schema version the body follows.
    #[schema(minimum = 1)]
    pub version: i64,
    /// The profile, validated against that schema.
    pub body: Value,
}

/// A notification to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotification {
    /// The body, validated against the notification schema.
    pub body: Value,
    /// Notification schema version (default: the newest).
    #[schema(minimum = 1)]
    pub schema_version: Option<i64>,
    /// Seconds the notification stays deliverable (default 1 day, at most 30 days).
    #[schema(minimum = 1, maximum = 2592000)]
    pub ttl_seconds: Option<i64>,
    /// Unicast only: the topic it belongs to.
    pub topic_id: Option<String>,
}

/// A notification that was stored for delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    /// Id.
    pub id: String,
    /// Topic id.
    pub topic_id: String,
    /// Sequence number in the topic (topic notifications).
    pub seq: Option<i32>,
    /// When it stops being delivered, Unix milliseconds.
    pub expires_at_ms: i64,
}

/// Decodes an endpoint id from a URL.
fn endpoint_key(encoded: &str) -> Result<Vec<u8>, ApiError> {
    URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .filter(|hash| hash.len() == 20)
        .ok_or_else(|| ApiError::not_found("endpoint"))
}

/// `page` with one item more, for [`paged`] to tell whether another page exists.
fn with_one_more(page: Page) -> Page {
    Page {
        offset: page.offset,
        limit: page.limit + 1,
    }
}

/// The caller's application and the endpoint key of path `(application id, endpoint key)`, for
/// a caller with one of `roles`.
async fn app_and_key(
    state: &ApiState,
    caller: &Caller,
    roles: &[Role],
    (app_id, key): (String, String),
) -> Result<(Application, Vec<u8>), ApiError> {
    caller.require(roles)?;
    let app = tenant_application(state, caller, &app_id).await?;
    Ok((app, endpoint_key(&key)?))
}

/// The endpoint's profile if it belongs to `app`.
async fn app_endpoint(
    state: &ApiState,
    app: &Application,
    key: &[u8],
) -> Result<EndpointProfile, ApiError> {
    match state.endpoints.profile(key).await? {
        Some(profile) if profile.application_id == app.id => Ok(profile),
        _ => Err(ApiError::not_found("endpoint")),
    }
}

/// The credentials of endpoint `key` of `app`.
async fn app_credentials(
    state: &ApiState,
    app: &Application,
    key: &[u8],
) -> Result<Credentials, ApiError> {
    state
        .endpoints
        .credentials(&app.id, key)
        .await?
        .ok_or_else(|| ApiError::not_found("credentials"))
}

/// Sends a message to the node serving the endpoint, through its owner on the ring, in the
/// background. If the owner cannot be reached (it just died and the ring has not caught up), the
/// message goes straight to the node the endpoint's profile names; failing that, the endpoint
/// gets the change on its next sync.
pub(super) fn tell_endpoint(
    state: &ApiState,
    app: &Application,
    key: Vec<u8>,
    message: EndpointMessage,
) {
    let router = state.router.clone();
    let endpoints = state.endpoints.clone();
    let address = EndpointAddress {
        tenant_id: app.tenant_id.clone(),
        app_token: app.app_token.clone(),
        key_hash: key,
    };
    tokio::spawn(async move {
        if let Some(owner) = router.owner(&address.key_hash) {
            match router
                .send(&owner, Hop::Global, &address, message.clone())
                .await
            {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, %owner, "endpoint owner unreachable; trying the endpoint's node")
                }
            }
        }
        let node = match endpoints.profile(&address.key_hash).await {
            Ok(Some(profile)) => profile.node_id,
            _ => None,
        };
        let Some(node) = node else {
            return;
        };
        if let Err(error) = router.send(&node, Hop::Local, &address, message).await {
            tracing::warn!(%error, %node, "endpoint message not delivered; the endpoint gets it on its next sync");
        }
    });
}

/// Provisions credentials for an endpoint (TENANT_DEVELOPER); with the `internal` credentials
/// service only provisioned endpoints may register.
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewCredentials,
    responses((status = 201, body = CredentialsView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/credentials")]
pub async fn provision_credentials(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(new): Body<NewCredentials>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let app = tenant_application(&state, &caller, &id).await?;
    let der = STANDARD
        .decode(new.public_key.trim())
        .map_err(|_| ApiError::invalid("public_key", "must be Base64 of an X.509 DER key"))?;
    PublicKey::from_der(&der)
        .map_err(|e| ApiError::invalid("public_key", format!("not an RSA public key: {e}")))?;
    let hash = key_hash(&der).to_vec();
    if let Some(existing) = state.endpoints.credentials(&app.id, &hash).await? {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "conflict",
            format!("credentials exist ({})", status_name(existing.status)),
        ));
    }
    let credentials = Credentials {
        application_id: app.id.clone(),
        endpoint_key_hash: hash,
        public_key: der,
        status: CredentialStatus::Available,
    };
    state.endpoints.provision_credentials(&credentials).await?;
    Ok(HttpResponse::Created().json(CredentialsView::from(&credentials)))
}

/// The application's credentials.
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<CredentialsView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/credentials")]
pub async fn list_credentials(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let app = tenant_application(&state, &caller, &id).await?;
    let page = query.page()?;
    let listed = state
        .endpoints
        .list_credentials(&app.id, with_one_more(page))
        .await?;
    Ok(HttpResponse::Ok().json(PageOf::<CredentialsView>::from(paged(listed, page))))
}

/// One endpoint's credentials.
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = CredentialsView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/credentials/{key}")]
pub async fn get_credentials(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, key) = app_and_key(&state, &caller, &TENANT_ROLES, path.into_inner()).await?;
    let credentials = app_credentials(&state, &app, &key).await?;
    Ok(HttpResponse::Ok().json(CredentialsView::from(&credentials)))
}

/// Revokes an endpoint's credentials (TENANT_DEVELOPER): its session ends with DISCONNECT
/// CREDENTIALS_REVOKED and it cannot connect again.
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = CredentialsView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/credentials/{key}/revoke")]
pub async fn revoke_credentials(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, key) = app_and_key(&state, &caller, &BUILDERS, path.into_inner()).await?;
    let found = state
        .endpoints
        .set_credentials_status(&app.id, &key, CredentialStatus::Revoked)
        .await?;
    if !found {
        return Err(ApiError::not_found("credentials"));
    }
    let credentials = app_credentials(&state, &app, &key).await?;
    tell_endpoint(&state, &app, key, EndpointMessage::Deregistration);
    Ok(HttpResponse::Ok().json(CredentialsView::from(&credentials)))
}

/// `profile` as `caller` may see it: its access token hidden from a TENANT_USER.
async fn endpoint_view(
    state: &ApiState,
    caller: &Caller,
    app: &Application,
    profile: EndpointProfile,
) -> Result<EndpointView, ApiError> {
    let client_profile = if profile.client_profile_version == 0 {
        Some(Value::Object(Default::default()))
    } else {
        match app_schema(
            state,
            &app.id,
            "client_profile",
            i64::from(profile.client_profile_version),
            "client_profile_version",
        )
        .await
        {
            Ok(schema) => schema.decode_to_json(&profile.client_profile).ok(),
            Err(_) => None,
        }
    };
    let credentials = state
        .endpoints
        .credentials(&app.id, &profile.endpoint_key_hash)
        .await?;
    Ok(EndpointView {
        endpoint_key_hash: URL_SAFE_NO_PAD.encode(&profile.endpoint_key_hash),
        access_token: profile.access_token.map(|token| {
            if caller.sees_secrets() {
                token
            } else {
                redact::REDACTED.to_owned()
            }
        }),
        sdk_token: profile.sdk_token,
        client_profile_version: profile.client_profile_version,
        client_profile,
        server_profile_version: profile.server_profile_version,
        server_profile: serde_json::from_str(&profile.server_profile).unwrap_or(Value::Null),
        groups: profile.groups.into_iter().map(|g| g.group_id).collect(),
        configuration_hash: profile
            .configuration_hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        subscriptions: profile.subscriptions,
        node_id: profile.node_id,
        owner_id: profile.owner_id,
        last_seen_ms: profile.last_seen_ms,
        credentials_status: credentials.map(|c| status_name(c.status).to_owned()),
    })
}

/// The application's endpoints.
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<EndpointView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/endpoints")]
pub async fn list_endpoints(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let app = tenant_application(&state, &caller, &id).await?;
    let page = query.page()?;
    let listed = paged(
        state
            .endpoints
            .list_profiles(&app.id, with_one_more(page))
            .await?,
        page,
    );
    let mut items = Vec::new();
    for profile in listed.items {
        items.push(endpoint_view(&state, &caller, &app, profile).await?);
    }
    Ok(HttpResponse::Ok().json(PageOf {
        items,
        next_offset: listed.next,
    }))
}

/// One endpoint: profiles, groups, configuration, credentials status, last seen.
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = EndpointView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/endpoints/{key}")]
pub async fn get_endpoint(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (app, key) = app_and_key(&state, &caller, &TENANT_ROLES, path.into_inner()).await?;
    let profile = app_endpoint(&state, &app, &key).await?;
    Ok(HttpResponse::Ok().json(endpoint_view(&state, &caller, &app, profile).await?))
}

/// Replaces an endpoint's server profile (TENANT_DEVELOPER); its groups and configuration are
/// recomputed and pushed to it.
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path), ("key" = String, Path)), request_body = ServerProfileUpdate,
    responses((status = 200, body = EndpointView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/api/v1/applications/{id}/endpoints/{key}/server-profile")]
pub async fn update_server_profile(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(update): Body<ServerProfileUpdate>,
) -> Result<HttpResponse, ApiError> {
    let (app, key) = app_and_key(&state, &caller, &BUILDERS, path.into_inner()).await?;
    let schema = app_schema(&state, &app.id, "server_profile", update.version, "version").await?;
    check_document(&schema, &update.body, "body")?;
    let version =
        i32::try_from(update.version).map_err(|_| ApiError::invalid("version", "out of range"))?;
    // Retry when a sync of the endpoint writes its profile at the same moment.
    let mut saved = None;
    for _ in 0..5 {
        let mut profile = app_endpoint(&state, &app, &key).await?;
        profile.server_profile_version = version;
        profile.server_profile = update.body.to_string();
        match state.endpoints.save_profile(&profile).await {
            Ok(stored) => {
                saved = Some(stored);
                break;
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    let profile = saved.ok_or_else(|| {
        ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "conflict",
            "the endpoint profile kept changing; try again",
        )
    })?;
    tell_endpoint(&state, &app, key, EndpointMessage::ServerProfile);
    Ok(HttpResponse::Ok().json(endpoint_view(&state, &caller, &app, profile).await?))
}

/// Checks a notification body and encodes it with the application's notification schema.
async fn notification_body(
    state: &ApiState,
    app: &Application,
    new: &NewNotification,
) -> Result<(Vec<u8>, i64), ApiError> {
    let version = match new.schema_version {
        Some(version) => version,
        None => {
            let newest = state
                .metadata
                .store()
                .schemas(
                    &app.id,
                    "notification",
                    kaa_store::metadata::Page {
                        offset: 0,
                        limit: 1,
                    },
                )
                .await?;
            newest.items.first().map(|s| s.version).ok_or_else(|| {
                ApiError::invalid(
                    "schema_version",
                    "the application has no notification schema",
                )
            })?
        }
    };
    let schema = app_schema(state, &app.id, "notification", version, "schema_version").await?;
    check_document(&schema, &new.body, "body")?;
    let encoded = schema
        .encode_json(&new.body)
        .map_err(|e| ApiError::invalid("body", e.to_string()))?;
    let ttl = new.ttl_seconds.unwrap_or(24 * 3600);
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::invalid(
            "ttl_seconds",
            format!("must be between 1 and {MAX_TTL_SECONDS}"),
        ));
    }
    Ok((encoded, now_ms() + ttl * 1000))
}

/// Sends a notification to every endpoint receiving a topic (TENANT_DEVELOPER).
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path), ("topic" = String, Path)), request_body = NewNotification,
    responses((status = 201, body = NotificationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/topics/{topic}/notifications")]
pub async fn send_notification(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(new): Body<NewNotification>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let (id, topic_id) = path.into_inner();
    let app = tenant_application(&state, &caller, &id).await?;
    if new.topic_id.is_some() {
        return Err(ApiError::invalid("topic_id", "the topic is in the path"));
    }
    let topic = state.metadata.get::<Topic>(&app.id, &topic_id).await?;
    let (body, expires_at_ms) = notification_body(&state, &app, &new).await?;
    let notification = state
        .metadata
        .send_topic_notification(&topic, body, expires_at_ms)
        .await?;
    Ok(HttpResponse::Created().json(NotificationView {
        id: notification.id,
        topic_id: topic.id,
        seq: Some(notification.seq),
        expires_at_ms,
    }))
}

/// Sends a notification to one endpoint (TENANT_DEVELOPER).
#[utoipa::path(tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path), ("key" = String, Path)), request_body = NewNotification,
    responses((status = 201, body = NotificationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/endpoints/{key}/notifications")]
pub async fn send_unicast(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(new): Body<NewNotification>,
) -> Result<HttpResponse, ApiError> {
    let (app, key) = app_and_key(&state, &caller, &BUILDERS, path.into_inner()).await?;
    app_endpoint(&state, &app, &key).await?;
    let topic_id = new
        .topic_id
        .clone()
        .ok_or_else(|| ApiError::invalid("topic_id", "a unicast notification names its topic"))?;
    let topic = match state.metadata.get::<Topic>(&app.id, &topic_id).await {
        Ok(topic) => topic,
        Err(_) => {
            return Err(ApiError::invalid(
                "topic_id",
                "no such topic in this application",
            ));
        }
    };
    let (body, expires_at_ms) = notification_body(&state, &app, &new).await?;
    let unicast = UnicastNotification {
        id: uuid::Uuid::now_v7().to_string(),
        endpoint_key_hash: key.clone(),
        topic_id: topic.id.clone(),
        kind: NotificationKind::User,
        body,
        expires_at_ms,
    };
    state.endpoints.save_unicast(&unicast).await?;
    tell_endpoint(
        &state,
        &app,
        key,
        EndpointMessage::Unicast(unicast.id.clone()),
    );
    Ok(HttpResponse::Created().json(NotificationView {
        id: unicast.id,
        topic_id: topic.id,
        seq: None,
        expires_at_ms,
    }))
}
