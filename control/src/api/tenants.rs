//! `/api/v1/tenants`: KAA_ADMIN manages tenants; tenant users may read their own.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use kaa_model::Role;
use kaa_store::metadata::Tenant;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody};
use super::openapi::Name;
use super::{ApiState, PageOf, PageQuery, check_name};

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            created_ms: t.created_ms,
        }
    }
}

/// A new tenant, or a rename.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantBody {
    /// Unique name.
    #[schema(value_type = Name)]
    pub name: String,
}

/// Lists tenants (KAA_ADMIN).
#[utoipa::path(tag = "tenants", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = PageOf<TenantView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/api/v1/tenants")]
pub async fn list_tenants(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::KaaAdmin])?;
    let page = state.metadata.store().tenants(query.page()?).await?;
    Ok(HttpResponse::Ok().json(PageOf::<TenantView>::from(page)))
}

/// Creates a tenant (KAA_ADMIN).
#[utoipa::path(tag = "tenants", security(("bearer" = [])), request_body = TenantBody,
    responses((status = 201, body = TenantView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/tenants")]
pub async fn create_tenant(
    state: web::Data<ApiState>,
    caller: Caller,
    Body(body): Body<TenantBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::KaaAdmin])?;
    check_name("name", &body.name)?;
    let tenant = state.metadata.store().create_tenant(&body.name).await?;
    Ok(HttpResponse::Created().json(TenantView::from(&tenant)))
}

/// Whether the caller may see tenant `id`.
fn visible(caller: &Caller, id: &str) -> bool {
    caller.user.role == Role::KaaAdmin || caller.user.tenant_id.as_deref() == Some(id)
}

/// One tenant (KAA_ADMIN, or a member of it).
#[utoipa::path(tag = "tenants", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = ErrorBody)))]
#[get("/api/v1/tenants/{id}")]
pub async fn get_tenant(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !visible(&caller, &id) {
        return Err(ApiError::not_found("tenant"));
    }
    Ok(HttpResponse::Ok().json(TenantView::from(&state.metadata.store().tenant(&id).await?)))
}

/// Renames a tenant (KAA_ADMIN).
#[utoipa::path(tag = "tenants", security(("bearer" = [])), params(("id" = String, Path)), request_body = TenantBody,
    responses((status = 200, body = TenantView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/api/v1/tenants/{id}")]
pub async fn update_tenant(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(body): Body<TenantBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::KaaAdmin])?;
    check_name("name", &body.name)?;
    Ok(HttpResponse::Ok().json(TenantView::from(
        &state
            .metadata
            .store()
            .rename_tenant(&id, &body.name)
            .await?,
    )))
}

/// Deletes a tenant that has no users or applications left (KAA_ADMIN).
#[utoipa::path(tag = "tenants", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/api/v1/tenants/{id}")]
pub async fn delete_tenant(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::KaaAdmin])?;
    state.metadata.store().delete_tenant(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}
