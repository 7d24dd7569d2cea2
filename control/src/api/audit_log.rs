//! `GET /api/v1/audit`: the audit log ([`super::audit`] records it), newest first. A KAA_ADMIN
//! reads every entry; a TENANT_ADMIN reads the entries of its tenant's users.

use actix_web::{HttpResponse, get, web};
use kaa_model::Role;
use kaa_store::metadata::{AuditEntry, AuditFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::error::{ApiError, ErrorBody};
use super::openapi::RoleName;
use super::{ApiState, PageOf, PageQuery};

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    /// Id.
    pub id: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Who acted; null for a failed login naming no user.
    pub user_id: Option<String>,
    /// Their login name then.
    pub username: Option<String>,
    /// Their role then.
    #[schema(value_type = Option<RoleName>)]
    pub role: Option<String>,
    /// Their tenant; null for a KAA_ADMIN.
    pub tenant_id: Option<String>,
    /// `login`, `login_failed`, `logout`, `password_change` or `change`.
    pub action: String,
    /// HTTP method of the request.
    pub method: String,
    /// Request path, without the query.
    pub path: String,
    /// Response status.
    pub status: i64,
    /// The record created or changed, when known.
    pub entity_id: Option<String>,
    /// Peer address the request came from.
    pub address: Option<String>,
}

impl From<&AuditEntry> for AuditEntryView {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id.clone(),
            at_ms: e.at_ms,
            user_id: e.user_id.clone(),
            username: e.username.clone(),
            role: e.role.clone(),
            tenant_id: e.tenant_id.clone(),
            action: e.action.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            entity_id: e.entity_id.clone(),
            address: e.address.clone(),
        }
    }
}

/// `?offset=&limit=` and the filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// KAA_ADMIN: entries of this tenant's users only.
    pub tenant_id: Option<String>,
    /// Entries of this user only.
    pub user_id: Option<String>,
    /// Entries of this action only (`login`, `login_failed`, `logout`, `password_change`,
    /// `change`).
    pub action: Option<String>,
    /// Entries at or after this time, Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Entries before this time, Unix milliseconds.
    pub until_ms: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Most items to return (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The audit log, newest first: every entry for a KAA_ADMIN, its tenant's for a TENANT_ADMIN.
#[utoipa::path(tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = PageOf<AuditEntryView>), (status = 403, body = ErrorBody)))]
#[get("/api/v1/audit")]
pub async fn list_audit(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::KaaAdmin, Role::TenantAdmin])?;
    let query = query.into_inner();
    let page = PageQuery {
        offset: query.offset,
        limit: query.limit,
    }
    .page()?;
    let tenant_id = match caller.user.role {
        Role::KaaAdmin => query.tenant_id,
        _ => {
            let own = caller.tenant()?.to_owned();
            if query.tenant_id.as_ref().is_some_and(|t| *t != own) {
                return Err(ApiError::forbidden());
            }
            Some(own)
        }
    };
    let filter = AuditFilter {
        tenant_id,
        user_id: query.user_id,
        action: query.action,
        since_ms: query.since_ms,
        until_ms: query.until_ms,
    };
    let entries = state.metadata.store().audit(&filter, page).await?;
    Ok(HttpResponse::Ok().json(PageOf::<AuditEntryView>::from(entries)))
}
