//! Profile filters and configurations of an endpoint group, under
//! `/api/v1/applications/{id}/groups/{group}/profile-filters` and `…/configurations`.
//!
//! Both are written as drafts (editable, deletable), then activated; activating one deprecates
//! the one it replaces for the same schema versions, and deactivating takes it out of effect.
//! A filter's expression is compiled and a configuration is validated against its configuration
//! schema before anything is stored. Every activation and deactivation is logged and announced.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use kaa_model::filter::ProfileFilter;
use kaa_store::metadata::{DocumentKind, EndpointGroup, GROUP_ALL, GroupDocument};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody};
use super::openapi::{DocumentBody, DocumentStatusName};
use super::schemas::{app_schema, check_document};
use super::scope::{BUILDERS, TENANT_ROLES, app_group, tenant_application};
use super::{ApiState, PageOf, PageQuery};

/// A profile filter or a configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    /// Id.
    pub id: String,
    /// Group.
    pub group_id: String,
    /// Configurations: the configuration schema version; filters: the client-profile schema
    /// version (0 = any).
    pub schema_version: i64,
    /// Filters: the server-profile schema version (0 = any).
    pub server_schema_version: i64,
    /// The configuration (a JSON object) or the filter expression (a string).
    #[schema(value_type = DocumentBody)]
    pub body: Value,
    /// `draft`, `active` or `deprecated`.
    #[schema(value_type = DocumentStatusName)]
    pub status: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// Activation time, Unix milliseconds.
    pub activated_ms: Option<i64>,
}

impl From<&GroupDocument> for DocumentView {
    fn from(d: &GroupDocument) -> Self {
        let body = match d.kind {
            DocumentKind::Configuration => serde_json::from_str(&d.body).unwrap_or(Value::Null),
            DocumentKind::ProfileFilter => Value::String(d.body.clone()),
        };
        Self {
            id: d.id.clone(),
            group_id: d.group_id.clone(),
            schema_version: d.schema_version,
            server_schema_version: d.server_schema_version,
            body,
            status: d.status.name().to_owned(),
            created_ms: d.created_ms,
            activated_ms: d.activated_ms,
        }
    }
}

/// A new configuration draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConfiguration {
    /// The configuration schema version it follows.
    #[schema(minimum = 1)]
    pub schema_version: i64,
    /// The configuration, a JSON document of that schema.
    #[schema(value_type = Object)]
    pub body: Value,
}

/// A new profile filter draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFilter {
    /// Client-profile schema version it applies to (absent or 0: any).
    #[schema(minimum = 0)]
    pub client_profile_version: Option<i64>,
    /// Server-profile schema version it applies to (absent or 0: any).
    #[schema(minimum = 0)]
    pub server_profile_version: Option<i64>,
    /// The expression, e.g. `cp.model == "T-1000" && sp.tier >= 2`.
    pub body: String,
}

/// A draft's new body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftChanges {
    /// The new configuration document (a JSON object), or the new filter expression (a string).
    #[schema(value_type = DocumentBody)]
    pub body: Value,
}

/// Checks `body` for a document of `kind` and returns its stored text.
async fn checked_body(
    state: &ApiState,
    app_id: &str,
    kind: DocumentKind,
    schema_version: i64,
    body: &Value,
) -> Result<String, ApiError> {
    match kind {
        DocumentKind::Configuration => {
            let schema = app_schema(
                state,
                app_id,
                "configuration",
                schema_version,
                "schema_version",
            )
            .await?;
            check_document(&schema, body, "body")?;
            Ok(body.to_string())
        }
        DocumentKind::ProfileFilter => {
            let expression = body
                .as_str()
                .ok_or_else(|| ApiError::invalid("body", "a filter is an expression string"))?;
            ProfileFilter::compile(expression)
                .map_err(|error| ApiError::invalid("body", error.to_string()))?;
            Ok(expression.to_owned())
        }
    }
}

async fn check_version(
    state: &ApiState,
    app_id: &str,
    kind: &'static str,
    field: &str,
    version: Option<i64>,
) -> Result<i64, ApiError> {
    match version {
        None | Some(0) => Ok(0),
        Some(v) if v < 0 => Err(ApiError::invalid(field, "must be positive")),
        Some(v) => {
            state
                .metadata
                .store()
                .schema(app_id, kind, v)
                .await
                .map_err(|_| {
                    ApiError::invalid(field, format!("no {kind} schema of version {v}"))
                })?;
            Ok(v)
        }
    }
}

async fn group_document(
    state: &ApiState,
    caller: &Caller,
    kind: DocumentKind,
    path: (String, String, String),
) -> Result<(EndpointGroup, GroupDocument), ApiError> {
    let (app_id, group_id, document_id) = path;
    let group = app_group(state, caller, &app_id, &group_id).await?;
    let document = state
        .metadata
        .document_in(&group.id, kind, &document_id)
        .await?;
    Ok((group, document))
}

async fn list(
    state: &ApiState,
    caller: &Caller,
    kind: DocumentKind,
    path: (String, String),
    query: &PageQuery,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let group = app_group(state, caller, &path.0, &path.1).await?;
    let documents = state
        .metadata
        .store()
        .documents(&group.id, kind, query.page()?)
        .await?;
    Ok(HttpResponse::Ok().json(PageOf::<DocumentView>::from(documents)))
}

async fn get_one(
    state: &ApiState,
    caller: &Caller,
    kind: DocumentKind,
    path: (String, String, String),
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let (_, document) = group_document(state, caller, kind, path).await?;
    Ok(HttpResponse::Ok().json(DocumentView::from(&document)))
}

async fn edit(
    state: &ApiState,
    caller: &Caller,
    kind: DocumentKind,
    path: (String, String, String),
    body: &Value,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let (group, document) = group_document(state, caller, kind, path).await?;
    let text = checked_body(state, &group.app_id, kind, document.schema_version, body).await?;
    let document = state
        .metadata
        .store()
        .update_draft(kind, &document.id, &text)
        .await?;
    Ok(HttpResponse::Ok().json(DocumentView::from(&document)))
}

async fn remove(
    state: &ApiState,
    caller: &Caller,
    kind: DocumentKind,
    path: (String, String, String),
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let (_, document) = group_document(state, caller, kind, path).await?;
    state
        .metadata
        .store()
        .delete_draft(kind, &document.id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_active(
    state: &ApiState,
    caller: &Caller,
    kind: DocumentKind,
    path: (String, String, String),
    active: bool,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let (group, document) = group_document(state, caller, kind, path).await?;
    let document = state
        .metadata
        .set_document_active(&group, kind, &document.id, active)
        .await?;
    Ok(HttpResponse::Ok().json(DocumentView::from(&document)))
}

// ---- configurations ----

/// A group's configurations, newest first.
#[utoipa::path(tag = "configurations", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<DocumentView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/groups/{group}/configurations")]
pub async fn list_configurations(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list(
        &state,
        &caller,
        DocumentKind::Configuration,
        path.into_inner(),
        &query,
    )
    .await
}

/// Writes a configuration draft, validated against its schema (TENANT_DEVELOPER).
#[utoipa::path(tag = "configurations", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path)), request_body = NewConfiguration,
    responses((status = 201, body = DocumentView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/groups/{group}/configurations")]
pub async fn create_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(new): Body<NewConfiguration>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let (app_id, group_id) = path.into_inner();
    let group = app_group(&state, &caller, &app_id, &group_id).await?;
    if new.schema_version < 1 {
        return Err(ApiError::invalid("schema_version", "must be positive"));
    }
    let text = checked_body(
        &state,
        &group.app_id,
        DocumentKind::Configuration,
        new.schema_version,
        &new.body,
    )
    .await?;
    let document = state
        .metadata
        .store()
        .create_document(
            &group.id,
            DocumentKind::Configuration,
            new.schema_version,
            0,
            &text,
        )
        .await?;
    Ok(HttpResponse::Created().json(DocumentView::from(&document)))
}

/// One configuration.
#[utoipa::path(tag = "configurations", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)),
    responses((status = 200, body = DocumentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/groups/{group}/configurations/{document}")]
pub async fn get_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    get_one(
        &state,
        &caller,
        DocumentKind::Configuration,
        path.into_inner(),
    )
    .await
}

/// Replaces a configuration draft's document (TENANT_DEVELOPER).
#[utoipa::path(tag = "configurations", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)), request_body = DraftChanges,
    responses((status = 200, body = DocumentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/api/v1/applications/{id}/groups/{group}/configurations/{document}")]
pub async fn update_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    Body(changes): Body<DraftChanges>,
) -> Result<HttpResponse, ApiError> {
    edit(
        &state,
        &caller,
        DocumentKind::Configuration,
        path.into_inner(),
        &changes.body,
    )
    .await
}

/// Deletes a configuration draft (TENANT_DEVELOPER).
#[utoipa::path(tag = "configurations", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/groups/{group}/configurations/{document}")]
pub async fn delete_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    remove(
        &state,
        &caller,
        DocumentKind::Configuration,
        path.into_inner(),
    )
    .await
}

/// Activates a configuration draft (TENANT_DEVELOPER).
#[utoipa::path(tag = "configurations", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)),
    responses((status = 200, body = DocumentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/groups/{group}/configurations/{document}/activate")]
pub async fn activate_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    set_active(
        &state,
        &caller,
        DocumentKind::Configuration,
        path.into_inner(),
        true,
    )
    .await
}

/// Takes an active configuration out of effect (TENANT_DEVELOPER).
#[utoipa::path(tag = "configurations", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)),
    responses((status = 200, body = DocumentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/groups/{group}/configurations/{document}/deactivate")]
pub async fn deactivate_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    set_active(
        &state,
        &caller,
        DocumentKind::Configuration,
        path.into_inner(),
        false,
    )
    .await
}

// ---- profile filters ----

/// A group's profile filters, newest first.
#[utoipa::path(tag = "profile filters", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<DocumentView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/groups/{group}/profile-filters")]
pub async fn list_filters(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list(
        &state,
        &caller,
        DocumentKind::ProfileFilter,
        path.into_inner(),
        &query,
    )
    .await
}

/// A filter expression and sample profiles to try it on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterTest {
    /// The expression, e.g. `cp.model == "T-1000" && sp.tier >= 2`.
    pub body: String,
    /// A sample client profile (`cp`), as JSON.
    #[schema(value_type = Object)]
    pub client_profile: Value,
    /// A sample server profile (`sp`), as JSON (default: empty).
    #[schema(value_type = Object)]
    #[serde(default)]
    pub server_profile: Value,
}

/// Whether a filter selects an endpoint with the sample profiles.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilterTestResult {
    /// True if an endpoint with these profiles would join the group.
    pub matches: bool,
}

/// Tries a filter expression on sample profiles without saving anything: a compile or
/// evaluation error comes back as 422 at `body` with its line and column.
#[utoipa::path(tag = "profile filters", security(("bearer" = [])), params(("id" = String, Path)), request_body = FilterTest,
    responses((status = 200, body = FilterTestResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/profile-filters/test")]
pub async fn test_filter(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(test): Body<FilterTest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    tenant_application(&state, &caller, &id).await?;
    let filter = ProfileFilter::compile(&test.body)
        .map_err(|error| ApiError::invalid("body", error.to_string()))?;
    let server_profile = match test.server_profile {
        Value::Null => Value::Object(Default::default()),
        other => other,
    };
    let matches = filter
        .matches(&test.client_profile, &server_profile)
        .map_err(|error| ApiError::invalid("body", error.to_string()))?;
    Ok(HttpResponse::Ok().json(FilterTestResult { matches }))
}

/// Writes a profile filter draft; the expression is compiled first (TENANT_DEVELOPER). The
/// group `all` takes no filter: every endpoint is in it.
#[utoipa::path(tag = "profile filters", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path)), request_body = NewFilter,
    responses((status = 201, body = DocumentView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/groups/{group}/profile-filters")]
pub async fn create_filter(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(new): Body<NewFilter>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let (app_id, group_id) = path.into_inner();
    let group = app_group(&state, &caller, &app_id, &group_id).await?;
    if group.name == GROUP_ALL && group.weight == 0 {
        return Err(ApiError::invalid(
            "group",
            "the group all matches every endpoint and takes no filter",
        ));
    }
    let client = check_version(
        &state,
        &group.app_id,
        "client_profile",
        "client_profile_version",
        new.client_profile_version,
    )
    .await?;
    let server = check_version(
        &state,
        &group.app_id,
        "server_profile",
        "server_profile_version",
        new.server_profile_version,
    )
    .await?;
    let text = checked_body(
        &state,
        &group.app_id,
        DocumentKind::ProfileFilter,
        client,
        &Value::String(new.body),
    )
    .await?;
    let document = state
        .metadata
        .store()
        .create_document(
            &group.id,
            DocumentKind::ProfileFilter,
            client,
            server,
            &text,
        )
        .await?;
    Ok(HttpResponse::Created().json(DocumentView::from(&document)))
}

/// One profile filter.
#[utoipa::path(tag = "profile filters", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)),
    responses((status = 200, body = DocumentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/groups/{group}/profile-filters/{document}")]
pub async fn get_filter(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    get_one(
        &state,
        &caller,
        DocumentKind::ProfileFilter,
        path.into_inner(),
    )
    .await
}

/// Replaces a profile filter draft's expression (TENANT_DEVELOPER).
#[utoipa::path(tag = "profile filters", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)), request_body = DraftChanges,
    responses((status = 200, body = DocumentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/api/v1/applications/{id}/groups/{group}/profile-filters/{document}")]
pub async fn update_filter(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    Body(changes): Body<DraftChanges>,
) -> Result<HttpResponse, ApiError> {
    edit(
        &state,
        &caller,
        DocumentKind::ProfileFilter,
        path.into_inner(),
        &changes.body,
    )
    .await
}

/// Deletes a profile filter draft (TENANT_DEVELOPER).
#[utoipa::path(tag = "profile filters", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/groups/{group}/profile-filters/{document}")]
pub async fn delete_filter(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    remove(
        &state,
        &caller,
        DocumentKind::ProfileFilter,
        path.into_inner(),
    )
    .await
}

/// Activates a profile filter draft (TENANT_DEVELOPER).
#[utoipa::path(tag = "profile filters", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)),
    responses((status = 200, body = DocumentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/groups/{group}/profile-filters/{document}/activate")]
pub async fn activate_filter(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    set_active(
        &state,
        &caller,
        DocumentKind::ProfileFilter,
        path.into_inner(),
        true,
    )
    .await
}

/// Takes an active profile filter out of effect (TENANT_DEVELOPER).
#[utoipa::path(tag = "profile filters", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("document" = String, Path)),
    responses((status = 200, body = DocumentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/groups/{group}/profile-filters/{document}/deactivate")]
pub async fn deactivate_filter(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    set_active(
        &state,
        &caller,
        DocumentKind::ProfileFilter,
        path.into_inner(),
        false,
    )
    .await
}
