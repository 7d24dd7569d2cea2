//! `/api/v1/applications` and what hangs under an application: endpoint groups and the change
//! log. Every application route first checks that the application belongs to the caller's tenant
//! (404 otherwise).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use kaa_model::Role;
use kaa_store::metadata::{Application, Change, EndpointGroup};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody};
use super::openapi::{CredentialsServiceName, Name};
use super::scope::{
    BUILDERS, TENANT_ROLES, delete_in_app, get_in_app, list_in_app, tenant_application,
};
use super::{ApiState, PageOf, PageQuery, check_name};

/// An application.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    /// Id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique in the tenant.
    pub name: String,
    /// The token endpoint SDKs carry.
    pub app_token: String,
    /// `trustful` or `internal`.
    #[schema(value_type = CredentialsServiceName)]
    pub credentials_service: String,
    /// Sequence number of the last change.
    pub seq: i64,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&Application> for ApplicationView {
    fn from(a: &Application) -> Self {
        Self {
            id: a.id.clone(),
            tenant_id: a.tenant_id.clone(),
            name: a.name.clone(),
            app_token: a.app_token.clone(),
            credentials_service: a.credentials_service.clone(),
            seq: a.seq,
            created_ms: a.created_ms,
        }
    }
}

/// A new application.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    /// Name, unique in the tenant.
    #[schema(value_type = Name)]
    pub name: String,
    /// `trustful` (any endpoint key is accepted, the default) or `internal` (only provisioned
    /// credentials).
    #[schema(value_type = Option<CredentialsServiceName>)]
    pub credentials_service: Option<String>,
}

/// Changes to an application.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationChanges {
    /// New name.
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// New credentials service.
    #[schema(value_type = Option<CredentialsServiceName>)]
    pub credentials_service: Option<String>,
}

fn check_credentials_service(value: Option<&str>) -> Result<(), ApiError> {
    match value {
        None | Some("trustful" | "internal") => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "credentials_service",
            "must be trustful or internal",
        )),
    }
}

/// The tenant's applications.
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = PageOf<ApplicationView>), (status = 403, body = ErrorBody)))]
#[get("/api/v1/applications")]
pub async fn list_applications(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let apps = state
        .metadata
        .store()
        .applications(caller.tenant()?, query.page()?)
        .await?;
    Ok(HttpResponse::Ok().json(PageOf::<ApplicationView>::from(apps)))
}

/// Creates an application with its group `all` (TENANT_ADMIN).
#[utoipa::path(tag = "applications", security(("bearer" = [])), request_body = NewApplication,
    responses((status = 201, body = ApplicationView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications")]
pub async fn create_application(
    state: web::Data<ApiState>,
    caller: Caller,
    Body(new): Body<NewApplication>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::TenantAdmin])?;
    check_name("name", &new.name)?;
    check_credentials_service(new.credentials_service.as_deref())?;
    let credentials = new.credentials_service.as_deref().unwrap_or("trustful");
    let app = state
        .metadata
        .create_application(caller.tenant()?, &new.name, credentials)
        .await?;
    Ok(HttpResponse::Created().json(ApplicationView::from(&app)))
}

/// One application.
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}")]
pub async fn get_application(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    Ok(HttpResponse::Ok().json(ApplicationView::from(
        &tenant_application(&state, &caller, &id).await?,
    )))
}

/// Renames an application or changes its credentials service (TENANT_ADMIN).
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(("id" = String, Path)), request_body = ApplicationChanges,
    responses((status = 200, body = ApplicationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/api/v1/applications/{id}")]
pub async fn update_application(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(changes): Body<ApplicationChanges>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::TenantAdmin])?;
    let app = tenant_application(&state, &caller, &id).await?;
    if let Some(name) = &changes.name {
        check_name("name", name)?;
    }
    check_credentials_service(changes.credentials_service.as_deref())?;
    let app = state
        .metadata
        .update_application(
            &app.id,
            changes.name.as_deref(),
            changes.credentials_service.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ApplicationView::from(&app)))
}

/// One entry of the change log.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    /// The application's sequence number of the change.
    pub seq: i64,
    /// What changed.
    pub entity: String,
    /// Its id.
    pub entity_id: String,
    /// `insert`, `update` or `delete`.
    pub op: String,
    /// When, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&Change> for ChangeView {
    fn from(c: &Change) -> Self {
        Self {
            seq: c.seq,
            entity: c.entity.clone(),
            entity_id: c.entity_id.clone(),
            op: c.op.clone(),
            created_ms: c.created_ms,
        }
    }
}

/// `?since=&limit=` of the change log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Changes after this sequence number (default 0: from the start).
    #[param(minimum = 0)]
    pub since: Option<i64>,
    /// Most changes to return (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The application's changes after `since`, oldest first (TENANT_ADMIN, TENANT_DEVELOPER).
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(("id" = String, Path), ChangesQuery),
    responses((status = 200, body = Vec<ChangeView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/changes")]
pub async fn list_changes(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::TenantAdmin, Role::TenantDeveloper])?;
    let app = tenant_application(&state, &caller, &id).await?;
    let since = query.since.unwrap_or(0);
    let limit = query.limit.unwrap_or(100);
    if since < 0 {
        return Err(ApiError::invalid("since", "must not be negative"));
    }
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let changes = state
        .metadata
        .store()
        .changes_since(&app.id, since, limit)
        .await?;
    Ok(HttpResponse::Ok().json(changes.iter().map(ChangeView::from).collect::<Vec<_>>()))
}

/// An endpoint group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Name, unique in the application.
    pub name: String,
    /// Merge weight, unique in the application; `all` has 0.
    pub weight: i64,
    /// Free text.
    pub description: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&EndpointGroup> for GroupView {
    fn from(g: &EndpointGroup) -> Self {
        Self {
            id: g.id.clone(),
            app_id: g.app_id.clone(),
            name: g.name.clone(),
            weight: g.weight,
            description: g.description.clone(),
            created_ms: g.created_ms,
        }
    }
}

/// A new endpoint group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// Name, unique in the application.
    #[schema(value_type = Name)]
    pub name: String,
    /// Merge weight: positive and unique in the application.
    #[schema(minimum = 1)]
    pub weight: i64,
    /// Free text, at most 1024 characters.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
}

/// The application's endpoint groups, by weight.
#[utoipa::path(tag = "groups", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<GroupView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/groups")]
pub async fn list_groups(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_in_app::<EndpointGroup, _>(&state, &caller, &id, &query, |g| GroupView::from(g)).await
}

/// Creates an endpoint group (TENANT_DEVELOPER).
#[utoipa::path(tag = "groups", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/groups")]
pub async fn create_group(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(new): Body<NewGroup>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let app = tenant_application(&state, &caller, &id).await?;
    check_name("name", &new.name)?;
    if new.weight <= 0 {
        return Err(ApiError::invalid(
            "weight",
            "must be positive (0 belongs to the group all)",
        ));
    }
    let description = new.description.unwrap_or_default();
    if description.chars().count() > 1024 {
        return Err(ApiError::invalid(
            "description",
            "must be at most 1024 characters",
        ));
    }
    let group = state
        .metadata
        .create_group(&app.id, &new.name, new.weight, &description)
        .await?;
    Ok(HttpResponse::Created().json(GroupView::from(&group)))
}

/// One endpoint group.
#[utoipa::path(tag = "groups", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path)),
    responses((status = 200, body = GroupView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/groups/{group}")]
pub async fn get_group(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    get_in_app::<EndpointGroup, _>(&state, &caller, path.into_inner(), |g| GroupView::from(g)).await
}

/// Deletes an endpoint group other than `all` (TENANT_DEVELOPER).
#[utoipa::path(tag = "groups", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/groups/{group}")]
pub async fn delete_group(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    delete_in_app::<EndpointGroup>(&state, &caller, path.into_inner()).await
}
