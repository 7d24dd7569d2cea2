//! An application's log appenders (`…/log-appenders`), user verifiers (`…/user-verifiers`) and
//! SDK profiles (`…/sdk-profiles`), under `/api/v1/applications/{id}`.
//!
//! Each appender and verifier type has its own settings, checked field by field before anything
//! is stored (`settings.columns[1].source`). Changes to appenders and verifiers are logged and
//! announced; SDK profiles are read by Operations when endpoints register.

use actix_web::{HttpResponse, delete, get, post, web};
use kaa_model::appender::{
    CassandraSettings, FileSettings, HEADER_FIELDS, InvalidSetting, MongoSettings, RestSettings,
};
use kaa_model::redact;
use kaa_model::verifier::HttpVerifierSettings;
use kaa_store::metadata::{LogAppender, SdkProfile, UserVerifier};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody, parse_value};
use super::openapi::{AppenderTypeName, HeaderFieldName, Name, VerifierTypeName};
use super::scope::{BUILDERS, delete_in_app, get_in_app, list_in_app, tenant_application};
use super::{ApiState, PageOf, PageQuery, check_name};

/// Stored settings as `caller` may see them: passwords, tokens and credentials in URLs are
/// [`redact`]ed for a TENANT_USER, who watches but does not build.
fn settings_view(stored: &str, caller: &Caller) -> Value {
    let mut settings = serde_json::from_str(stored).unwrap_or(Value::Null);
    if !caller.sees_secrets() {
        redact::json(&mut settings);
    }
    settings
}

// ---- log appenders ----

/// A log appender.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppenderView {
    /// Id.
    pub id: String,
    /// Name, unique in the application.
    pub name: String,
    /// `cassandra`, `mongodb`, `file` or `rest`.
    #[serde(rename = "type")]
    #[schema(value_type = AppenderTypeName)]
    pub appender_type: String,
    /// Lowest log schema version it takes.
    pub min_log_version: i64,
    /// Highest log schema version it takes; null: no upper bound.
    pub max_log_version: Option<i64>,
    /// Endpoints get SUCCESS only after this appender stored their logs.
    pub confirm_delivery: bool,
    /// Header fields written with each record.
    #[schema(value_type = Vec<HeaderFieldName>)]
    pub header_fields: Vec<String>,
    /// Type-specific settings. A TENANT_USER sees secrets in them (URL passwords, secret query
    /// parameters, values under names such as `password` or `token`) as `***`.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl AppenderView {
    /// `a` as `caller` may see it: secrets in its settings hidden from a TENANT_USER.
    fn new(a: &LogAppender, caller: &Caller) -> Self {
        Self {
            id: a.id.clone(),
            name: a.name.clone(),
            appender_type: a.appender_type.clone(),
            min_log_version: a.min_log_version,
            max_log_version: (a.max_log_version > 0).then_some(a.max_log_version),
            confirm_delivery: a.confirm_delivery,
            header_fields: serde_json::from_str(&a.header_fields).unwrap_or_default(),
            settings: settings_view(&a.settings, caller),
            created_ms: a.created_ms,
        }
    }
}

/// A new log appender.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppender {
    /// Name, unique in the application.
    #[schema(value_type = Name)]
    pub name: String,
    /// `cassandra`, `mongodb`, `file` or `rest`.
    #[serde(rename = "type")]
    #[schema(value_type = AppenderTypeName)]
    pub appender_type: String,
    /// Lowest log schema version it takes (default 1).
    #[schema(minimum = 1)]
    pub min_log_version: Option<i64>,
    /// Highest log schema version it takes, not below the lowest (default: no upper bound).
    #[schema(minimum = 1)]
    pub max_log_version: Option<i64>,
    /// Acknowledge logs only once stored here (default false).
    #[serde(default)]
    pub confirm_delivery: bool,
    /// Header fields to write: KEYHASH, VERSION, TIMESTAMP, TOKEN, LSVERSION (default all).
    #[schema(value_type = Option<Vec<HeaderFieldName>>)]
    pub header_fields: Option<Vec<String>>,
    /// Settings of the type: cassandra `{table, columns: [{name, source}], ttl_seconds?,
    /// contact_points?}` (in the tenant's keyspace `kaa_logs_<tenant id hex>`), mongodb
    /// `{collection, ttl_seconds?, url?}` (in the tenant's database of the same name), file
    /// `{path, max_file_bytes?, max_files?}` (`path` a bare file name, kept by each Operations
    /// node under its file appender root, `<tenant id>/<application id>/`), rest
    /// `{url, timeout_ms?, retries?}`. Contact points and URLs reach only public addresses
    /// unless the operator allows more.
    #[schema(value_type = Object)]
    pub settings: Value,
}

impl From<InvalidSetting> for ApiError {
    fn from(error: InvalidSetting) -> Self {
        ApiError::invalid(&error.field, error.message)
    }
}

/// Checks settings of `appender_type`; returns them as stored.
fn check_appender_settings(appender_type: &str, settings: &Value) -> Result<String, ApiError> {
    match appender_type {
        "cassandra" => parse_value::<CassandraSettings>("settings", settings)?.check()?,
        "mongodb" => parse_value::<MongoSettings>("settings", settings)?.check()?,
        "file" => parse_value::<FileSettings>("settings", settings)?.check()?,
        "rest" => parse_value::<RestSettings>("settings", settings)?.check()?,
        _ => {
            return Err(ApiError::invalid(
                "type",
                "must be cassandra, mongodb, file or rest",
            ));
        }
    }
    Ok(settings.to_string())
}

/// The application's log appenders.
#[utoipa::path(tag = "log appenders", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<AppenderView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/log-appenders")]
pub async fn list_appenders(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_in_app::<LogAppender, _>(&state, &caller, &id, &query, |a| {
        AppenderView::new(a, &caller)
    })
    .await
}

/// Adds a log appender (TENANT_DEVELOPER).
#[utoipa::path(tag = "log appenders", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewAppender,
    responses((status = 201, body = AppenderView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/log-appenders")]
pub async fn create_appender(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(new): Body<NewAppender>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let app = tenant_application(&state, &caller, &id).await?;
    check_name("name", &new.name)?;
    let settings = check_appender_settings(&new.appender_type, &new.settings)?;
    let min = new.min_log_version.unwrap_or(1);
    if min < 1 {
        return Err(ApiError::invalid("min_log_version", "must be at least 1"));
    }
    let max = new.max_log_version.unwrap_or(0);
    if new.max_log_version.is_some() && max < min {
        return Err(ApiError::invalid(
            "max_log_version",
            "must not be below min_log_version",
        ));
    }
    let header = new
        .header_fields
        .unwrap_or_else(|| HEADER_FIELDS.iter().map(|f| (*f).to_owned()).collect());
    if let Some((i, _)) = header
        .iter()
        .enumerate()
        .find(|(_, f)| !HEADER_FIELDS.contains(&f.as_str()))
    {
        return Err(ApiError::invalid(
            &format!("header_fields[{i}]"),
            "must be KEYHASH, VERSION, TIMESTAMP, TOKEN or LSVERSION",
        ));
    }
    let appender = state
        .metadata
        .create_appender(LogAppender {
            id: String::new(),
            app_id: app.id.clone(),
            name: new.name,
            appender_type: new.appender_type,
            min_log_version: min,
            max_log_version: max,
            confirm_delivery: new.confirm_delivery,
            header_fields: serde_json::to_string(&header).unwrap_or_default(),
            settings,
            created_ms: 0,
        })
        .await?;
    Ok(HttpResponse::Created().json(AppenderView::new(&appender, &caller)))
}

/// One log appender.
#[utoipa::path(tag = "log appenders", security(("bearer" = [])), params(("id" = String, Path), ("appender" = String, Path)),
    responses((status = 200, body = AppenderView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/log-appenders/{appender}")]
pub async fn get_appender(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    get_in_app::<LogAppender, _>(&state, &caller, path.into_inner(), |a| {
        AppenderView::new(a, &caller)
    })
    .await
}

/// Removes a log appender (TENANT_DEVELOPER).
#[utoipa::path(tag = "log appenders", security(("bearer" = [])), params(("id" = String, Path), ("appender" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/log-appenders/{appender}")]
pub async fn delete_appender(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    delete_in_app::<LogAppender>(&state, &caller, path.into_inner()).await
}

// ---- user verifiers ----

/// A user verifier.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifierView {
    /// Id.
    pub id: String,
    /// Name, unique in the application.
    pub name: String,
    /// `trustful` or `http`.
    #[serde(rename = "type")]
    #[schema(value_type = VerifierTypeName)]
    pub verifier_type: String,
    /// The token SDKs name it by.
    pub verifier_token: String,
    /// Type-specific settings. A TENANT_USER sees secrets in them (URL passwords, secret query
    /// parameters, values under names such as `password` or `token`) as `***`.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl VerifierView {
    /// `v` as `caller` may see it: secrets in its settings hidden from a TENANT_USER.
    fn new(v: &UserVerifier, caller: &Caller) -> Self {
        Self {
            id: v.id.clone(),
            name: v.name.clone(),
            verifier_type: v.verifier_type.clone(),
            verifier_token: v.verifier_token.clone(),
            settings: settings_view(&v.settings, caller),
            created_ms: v.created_ms,
        }
    }
}

/// A new user verifier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVerifier {
    /// Name, unique in the application.
    #[schema(value_type = Name)]
    pub name: String,
    /// `trustful` (accepts any owner) or `http` (checks the access token at a URL).
    #[serde(rename = "type")]
    #[schema(value_type = VerifierTypeName)]
    pub verifier_type: String,
    /// http: `{url, timeout_ms?}`; trustful: none.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// The application's user verifiers.
#[utoipa::path(tag = "user verifiers", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<VerifierView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/user-verifiers")]
pub async fn list_verifiers(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_in_app::<UserVerifier, _>(&state, &caller, &id, &query, |v| {
        VerifierView::new(v, &caller)
    })
    .await
}

/// Adds a user verifier (TENANT_DEVELOPER).
#[utoipa::path(tag = "user verifiers", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewVerifier,
    responses((status = 201, body = VerifierView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/user-verifiers")]
pub async fn create_verifier(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(new): Body<NewVerifier>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let app = tenant_application(&state, &caller, &id).await?;
    check_name("name", &new.name)?;
    let settings = new
        .settings
        .unwrap_or_else(|| Value::Object(Default::default()));
    match new.verifier_type.as_str() {
        "trustful" if settings.as_object().is_some_and(|o| o.is_empty()) => {}
        "trustful" => {
            return Err(ApiError::invalid(
                "settings",
                "a trustful verifier takes no settings",
            ));
        }
        "http" => {
            parse_value::<HttpVerifierSettings>("settings", &settings)?.check()?;
        }
        _ => return Err(ApiError::invalid("type", "must be trustful or http")),
    }
    let verifier = state
        .metadata
        .create_verifier(
            &app.id,
            &new.name,
            &new.verifier_type,
            &settings.to_string(),
        )
        .await?;
    Ok(HttpResponse::Created().json(VerifierView::new(&verifier, &caller)))
}

/// Removes a user verifier (TENANT_DEVELOPER).
#[utoipa::path(tag = "user verifiers", security(("bearer" = [])), params(("id" = String, Path), ("verifier" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/user-verifiers/{verifier}")]
pub async fn delete_verifier(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    delete_in_app::<UserVerifier>(&state, &caller, path.into_inner()).await
}

// ---- SDK profiles ----

/// An SDK profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct SdkProfileView {
    /// Id.
    pub id: String,
    /// Name, unique in the application.
    pub name: String,
    /// The token generated SDKs carry.
    pub sdk_token: String,
    /// Pinned client-profile schema version (null: none).
    pub client_profile_version: Option<i64>,
    /// Pinned server-profile schema version (null: none).
    pub server_profile_version: Option<i64>,
    /// Pinned configuration schema version (null: none).
    pub configuration_version: Option<i64>,
    /// Pinned notification schema version (null: none).
    pub notification_version: Option<i64>,
    /// Pinned log schema version (null: none).
    pub log_version: Option<i64>,
    /// Event maps the SDK speaks.
    pub event_map_ids: Vec<String>,
    /// Token of the default user verifier.
    pub default_verifier_token: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

fn version(v: i64) -> Option<i64> {
    (v > 0).then_some(v)
}

impl From<&SdkProfile> for SdkProfileView {
    fn from(p: &SdkProfile) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            sdk_token: p.sdk_token.clone(),
            client_profile_version: version(p.client_profile_version),
            server_profile_version: version(p.server_profile_version),
            configuration_version: version(p.configuration_version),
            notification_version: version(p.notification_version),
            log_version: version(p.log_version),
            event_map_ids: serde_json::from_str(&p.event_map_ids).unwrap_or_default(),
            default_verifier_token: p.default_verifier_token.clone(),
            created_ms: p.created_ms,
        }
    }
}

/// A new SDK profile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSdkProfile {
    /// Name, unique in the application.
    #[schema(value_type = Name)]
    pub name: String,
    /// Client-profile schema version to pin.
    #[schema(minimum = 1)]
    pub client_profile_version: Option<i64>,
    /// Server-profile schema version to pin.
    #[schema(minimum = 1)]
    pub server_profile_version: Option<i64>,
    /// Configuration schema version to pin.
    #[schema(minimum = 1)]
    pub configuration_version: Option<i64>,
    /// Notification schema version to pin.
    #[schema(minimum = 1)]
    pub notification_version: Option<i64>,
    /// Log schema version to pin.
    #[schema(minimum = 1)]
    pub log_version: Option<i64>,
    /// Event maps of the application the SDK speaks, at most 64.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub event_map_ids: Vec<String>,
    /// The default user verifier, by id or token.
    pub default_verifier: Option<String>,
    /// The SDK token to use instead of a new one: that of an existing Kaa 0.10 SDK (Kaa's
    /// 27-character URL-safe Base64), so its devices keep working; 1 to 64 of `A-Z a-z 0-9 - _`,
    /// unique across the cluster (409 when taken).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub sdk_token: Option<String>,
}

/// Checks a requested SDK token's form: what Kaa 0.10 tokens and file names both allow.
fn check_sdk_token(token: &str) -> Result<(), ApiError> {
    let well_formed = (1..=64).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "sdk_token",
            "must be 1 to 64 of A-Z a-z 0-9 - _",
        ))
    }
}

async fn pinned(
    state: &ApiState,
    app_id: &str,
    kind: &str,
    field: &str,
    version: Option<i64>,
) -> Result<i64, ApiError> {
    match version {
        None => Ok(0),
        Some(v) if v < 1 => Err(ApiError::invalid(field, "must be at least 1")),
        Some(v) => match state.metadata.store().schema(app_id, kind, v).await {
            Ok(_) => Ok(v),
            Err(kaa_store::StoreError::NotFound(_)) => Err(ApiError::invalid(
                field,
                format!("no {kind} schema of version {v}"),
            )),
            Err(error) => Err(error.into()),
        },
    }
}

/// The application's SDK profiles.
#[utoipa::path(tag = "sdk profiles", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<SdkProfileView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/sdk-profiles")]
pub async fn list_sdk_profiles(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_in_app::<SdkProfile, _>(&state, &caller, &id, &query, |p| SdkProfileView::from(p)).await
}

/// Creates an SDK profile with a new SDK token, or the one given (TENANT_DEVELOPER).
#[utoipa::path(tag = "sdk profiles", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewSdkProfile,
    responses((status = 201, body = SdkProfileView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/sdk-profiles")]
pub async fn create_sdk_profile(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(new): Body<NewSdkProfile>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let app = tenant_application(&state, &caller, &id).await?;
    check_name("name", &new.name)?;
    if let Some(token) = &new.sdk_token {
        check_sdk_token(token)?;
    }
    let default_verifier_token = match &new.default_verifier {
        Some(verifier) => Some(
            state
                .metadata
                .get::<UserVerifier>(&app.id, verifier)
                .await
                .map_err(|_| {
                    ApiError::invalid(
                        "default_verifier",
                        "no such user verifier in this application",
                    )
                })?
                .verifier_token,
        ),
        None => None,
    };
    if new.event_map_ids.len() > 64 {
        return Err(ApiError::invalid("event_map_ids", "at most 64 event maps"));
    }
    for (i, map_id) in new.event_map_ids.iter().enumerate() {
        if !state
            .metadata
            .store()
            .event_map_exists(&app.id, map_id)
            .await?
        {
            return Err(ApiError::invalid(
                &format!("event_map_ids[{i}]"),
                "no such event map in this application",
            ));
        }
    }
    let profile = SdkProfile {
        id: String::new(),
        app_id: app.id.clone(),
        name: new.name.clone(),
        sdk_token: new.sdk_token.clone().unwrap_or_default(),
        client_profile_version: pinned(
            &state,
            &app.id,
            "client_profile",
            "client_profile_version",
            new.client_profile_version,
        )
        .await?,
        server_profile_version: pinned(
            &state,
            &app.id,
            "server_profile",
            "server_profile_version",
            new.server_profile_version,
        )
        .await?,
        configuration_version: pinned(
            &state,
            &app.id,
            "configuration",
            "configuration_version",
            new.configuration_version,
        )
        .await?,
        notification_version: pinned(
            &state,
            &app.id,
            "notification",
            "notification_version",
            new.notification_version,
        )
        .await?,
        log_version: pinned(&state, &app.id, "log", "log_version", new.log_version).await?,
        event_map_ids: serde_json::to_string(&new.event_map_ids).unwrap_or_else(|_| "[]".into()),
        default_verifier_token,
        created_ms: 0,
    };
    let profile = state
        .metadata
        .store()
        .create_sdk_profile(profile)
        .await
        .map_err(|error| match error {
            kaa_store::StoreError::Conflict("SDK token") => ApiError::new(
                actix_web::http::StatusCode::CONFLICT,
                "conflict",
                "another SDK profile already has this SDK token",
            )
            .field("sdk_token"),
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(SdkProfileView::from(&profile)))
}

/// Removes an SDK profile (TENANT_DEVELOPER).
#[utoipa::path(tag = "sdk profiles", security(("bearer" = [])), params(("id" = String, Path), ("profile" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/sdk-profiles/{profile}")]
pub async fn delete_sdk_profile(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    delete_in_app::<SdkProfile>(&state, &caller, path.into_inner()).await
}
