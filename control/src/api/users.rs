//! `/api/v1/users` and `/api/v1/me`.
//!
//! Who manages whom: a KAA_ADMIN manages KAA_ADMINs and TENANT_ADMINs; a TENANT_ADMIN manages the
//! users of its tenant. Everyone reads and may change their own password. Users a caller may not
//! manage answer 404.
//!
//! Changing one's own password needs the current one (checked as a login is, lockout included)
//! and ends one's other sessions; a password an administrator sets ends every session of that
//! user.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use kaa_model::Role;
use kaa_store::metadata::User;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::audit::AuditAction;
use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody};
use super::guard::{Checked, check_credentials};
use super::openapi::{Name, Password, RoleName};
use super::password::{check_password, hash_password};
use super::{ApiState, PageOf, PageQuery, check_name};

/// A user, without secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Tenant; null for KAA_ADMIN.
    pub tenant_id: Option<String>,
    /// Login name.
    pub username: String,
    /// Role.
    #[schema(value_type = RoleName, example = "TENANT_DEVELOPER")]
    pub role: Role,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            tenant_id: u.tenant_id.clone(),
            username: u.username.clone(),
            role: u.role,
            created_ms: u.created_ms,
        }
    }
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Unique login name.
    #[schema(value_type = Name)]
    pub username: String,
    /// 8 to 1024 characters.
    #[schema(value_type = Password)]
    pub password: String,
    /// Role.
    #[schema(value_type = RoleName, example = "TENANT_DEVELOPER")]
    pub role: Role,
    /// Tenant (KAA_ADMIN creating a TENANT_ADMIN); a TENANT_ADMIN's users join its own tenant.
    pub tenant_id: Option<String>,
}

/// Changes to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    /// New role (not by the user themself).
    #[schema(value_type = Option<RoleName>)]
    pub role: Option<Role>,
    /// New password, 8 to 1024 characters. Ends the user's sessions (but the one changing its
    /// own password).
    #[schema(value_type = Option<Password>)]
    pub password: Option<String>,
    /// The caller's current password: required with `password` to change one's own.
    pub current_password: Option<String>,
}

/// `?tenant_id=` of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// KAA_ADMIN: list this tenant's users instead of the KAA_ADMINs.
    pub tenant_id: Option<String>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Most items to return (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Whether `caller` may manage `target`.
fn manages(caller: &Caller, target: &User) -> bool {
    match caller.user.role {
        Role::KaaAdmin => matches!(target.role, Role::KaaAdmin | Role::TenantAdmin),
        Role::TenantAdmin => {
            target.tenant_id.is_some() && target.tenant_id == caller.user.tenant_id
        }
        _ => false,
    }
}

/// The caller.
#[utoipa::path(tag = "users", security(("bearer" = [])), responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
#[get("/api/v1/me")]
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(UserView::from(&caller.user))
}

/// Lists users: a KAA_ADMIN sees the KAA_ADMINs, or one tenant's users with `tenant_id`; a
/// TENANT_ADMIN sees its tenant's users.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = PageOf<UserView>), (status = 403, body = ErrorBody)))]
#[get("/api/v1/users")]
pub async fn list_users(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::KaaAdmin, Role::TenantAdmin])?;
    let page = PageQuery {
        offset: query.offset,
        limit: query.limit,
    }
    .page()?;
    let tenant = match caller.user.role {
        Role::KaaAdmin => query.tenant_id.clone(),
        _ => {
            let own = caller.tenant()?.to_owned();
            if query.tenant_id.as_ref().is_some_and(|t| *t != own) {
                return Err(ApiError::forbidden());
            }
            Some(own)
        }
    };
    let mut users = state
        .metadata
        .store()
        .users(tenant.as_deref(), page)
        .await?;
    // A KAA_ADMIN manages only the TENANT_ADMINs of a tenant.
    users
        .items
        .retain(|u| manages(&caller, u) || u.id == caller.user.id);
    Ok(HttpResponse::Ok().json(PageOf::<UserView>::from(users)))
}

/// Creates a user within the caller's authority.
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, description = "Too many password hashes at once (`busy`)", body = ErrorBody)))]
#[post("/api/v1/users")]
pub async fn create_user(
    state: web::Data<ApiState>,
    caller: Caller,
    Body(new): Body<NewUser>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::KaaAdmin, Role::TenantAdmin])?;
    check_name("username", &new.username)?;
    check_password("password", &new.password)?;
    let tenant = match (caller.user.role, new.role) {
        (Role::KaaAdmin, Role::KaaAdmin) => {
            if new.tenant_id.is_some() {
                return Err(ApiError::invalid(
                    "tenant_id",
                    "a KAA_ADMIN belongs to no tenant",
                ));
            }
            None
        }
        (Role::KaaAdmin, Role::TenantAdmin) => {
            let tenant = new
                .tenant_id
                .clone()
                .ok_or_else(|| ApiError::invalid("tenant_id", "a TENANT_ADMIN needs a tenant"))?;
            state
                .metadata
                .store()
                .tenant(&tenant)
                .await
                .map_err(|_| ApiError::invalid("tenant_id", "no such tenant"))?;
            Some(tenant)
        }
        (Role::KaaAdmin, _) => {
            return Err(ApiError::invalid(
                "role",
                "a KAA_ADMIN creates KAA_ADMINs and TENANT_ADMINs; tenant admins create the rest",
            ));
        }
        (_, Role::KaaAdmin) => return Err(ApiError::forbidden()),
        (_, _) => {
            let own = caller.tenant()?.to_owned();
            if new.tenant_id.as_ref().is_some_and(|t| *t != own) {
                return Err(ApiError::forbidden());
            }
            Some(own)
        }
    };
    let hash = hash_password(new.password).await?;
    let user = state
        .metadata
        .store()
        .create_user(tenant.as_deref(), &new.username, new.role, &hash)
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

async fn visible_user(state: &ApiState, caller: &Caller, id: &str) -> Result<User, ApiError> {
    let user = state.metadata.store().user(id).await?;
    if user.id == caller.user.id || manages(caller, &user) {
        Ok(user)
    } else {
        Err(ApiError::not_found("user"))
    }
}

/// One user.
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
#[get("/api/v1/users/{id}")]
pub async fn get_user(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UserView::from(&visible_user(&state, &caller, &id).await?)))
}

/// Changes a user's role or password; users may change their own password, giving the current
/// one. A new password ends the user's other sessions (all of them when set by an administrator).
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("id" = String, Path)), request_body = UserChanges,
    responses((status = 200, body = UserView),
        (status = 403, description = "Not allowed, or the current password is wrong (`wrong_credentials`, field `current_password`)", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Too many failed password checks (`too_many_attempts`); try again after `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt may be made"))),
        (status = 503, description = "Too many password hashes at once (`busy`)", body = ErrorBody)))]
#[patch("/api/v1/users/{id}")]
pub async fn update_user(
    state: web::Data<ApiState>,
    request: HttpRequest,
    caller: Caller,
    id: web::Path<String>,
    Body(changes): Body<UserChanges>,
) -> Result<HttpResponse, ApiError> {
    let user = visible_user(&state, &caller, &id).await?;
    let own = user.id == caller.user.id;
    if let Some(role) = changes.role {
        if !manages(&caller, &user) || own {
            return Err(ApiError::forbidden());
        }
        let allowed = match caller.user.role {
            Role::KaaAdmin => role == user.role,
            _ => role.is_tenant_role(),
        };
        if !allowed {
            return Err(ApiError::invalid(
                "role",
                format!("a {} cannot give this role", caller.user.role),
            ));
        }
    }
    let hash = match changes.password {
        Some(password) => {
            AuditAction::PASSWORD_CHANGE.note(&request);
            check_password("password", &password)?;
            if own {
                let current = changes.current_password.ok_or_else(|| {
                    ApiError::invalid("current_password", "required to change your own password")
                })?;
                let stored = Some(caller.user.password_hash.clone());
                match check_credentials(&state, &request, &user.username, current, stored).await? {
                    Checked::Right => {}
                    Checked::Wrong => {
                        return Err(ApiError::new(
                            StatusCode::FORBIDDEN,
                            "wrong_credentials",
                            "the current password is wrong",
                        )
                        .field("current_password"));
                    }
                    Checked::LockedOut(response) => return Ok(response),
                }
            }
            Some(hash_password(password).await?)
        }
        None => None,
    };
    // Whoever set the password ends the user's sessions, but the one that changed its own.
    let keep = own.then_some(caller.session.as_str());
    let updated = state
        .metadata
        .store()
        .update_user(&user.id, changes.role, hash.as_deref(), keep)
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(&updated)))
}

/// Deletes a user (not oneself).
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/v1/users/{id}")]
pub async fn delete_user(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = visible_user(&state, &caller, &id).await?;
    if user.id == caller.user.id || !manages(&caller, &user) {
        return Err(ApiError::forbidden());
    }
    state.metadata.store().delete_user(&user.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
