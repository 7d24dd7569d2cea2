//! Logging in and out, and the first administrator.
//!
//! Passwords are stored as Argon2id PHC strings, hashed on a small fixed pool of threads
//! ([`super::password`]). A login returns a random bearer token; only its SHA-256 is stored (in
//! the shared metadata database, so a session survives a Control failover);
//! [`Caller`] resolves the token of each request to its user.
//!
//! Every password check goes through the login guard, [`check_credentials`].

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use kaa_model::Role;
use kaa_store::metadata::{MetadataStore, now_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiState;
use super::audit::{Actor, AuditAction};
use super::caller::{Caller, bearer, token_hash};
use super::error::{ApiError, Body, ErrorBody};
use super::guard::{Checked, check_credentials, new_token};
use super::password::{check_password, hash_password};
use super::users::UserView;

/// How long a session lasts.
const SESSION_MS: i64 = 12 * 60 * 60 * 1000;

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the session ends, Unix milliseconds.
    pub expires_ms: i64,
    /// Who logged in.
    pub user: UserView,
}

/// Logs in.
#[utoipa::path(
    tag = "auth",
    request_body = Login,
    responses(
        (status = 200, description = "Logged in", body = Session),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins of this user name or from this address (`too_many_attempts`); try again after `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt may be made"))),
        (status = 503, description = "Too many logins at once (`busy`); try again in a moment", body = ErrorBody),
    )
)]
#[post("/api/v1/auth/login")]
pub async fn login(
    state: web::Data<ApiState>,
    request: HttpRequest,
    Body(login): Body<Login>,
) -> Result<HttpResponse, ApiError> {
    let user = state.metadata.store().user_by_name(&login.username).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let checked =
        check_credentials(&state, &request, &login.username, login.password, hash).await?;
    let user = match (checked, user) {
        (Checked::LockedOut(response), _) => return Ok(response),
        (Checked::Right, Some(user)) => user,
        (_, user) => {
            // Audited under the user it was for; a name that is no user's is not recorded (it
            // may be a password typed in the wrong field).
            if let Some(user) = &user {
                Actor::note(&request, user);
            }
            AuditAction::LOGIN_FAILED.note(&request);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong_credentials",
                "wrong user name or password",
            ));
        }
    };
    let token = new_token()?;
    let expires_ms = now_ms() + SESSION_MS;
    state
        .metadata
        .store()
        .create_session(&token_hash(&token), &user.id, expires_ms)
        .await?;
    tracing::info!(user = %user.username, role = %user.role, "admin login");
    Actor::note(&request, &user);
    AuditAction::LOGIN.note(&request);
    Ok(HttpResponse::Ok().json(Session {
        token,
        expires_ms,
        user: UserView::from(&user),
    }))
}

/// Logs out: the token stops working.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No valid session", body = ErrorBody),
    )
)]
#[post("/api/v1/auth/logout")]
pub async fn logout(
    state: web::Data<ApiState>,
    request: HttpRequest,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    AuditAction::LOGOUT.note(&request);
    if let Some(token) = bearer(&request) {
        state
            .metadata
            .store()
            .delete_session(&token_hash(&token))
            .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Makes sure a KAA_ADMIN exists: from `KAA_ADMIN_USER` / `KAA_ADMIN_PASSWORD`, or with a
/// generated password printed once.
pub async fn ensure_first_admin(store: &MetadataStore) -> Result<(), ApiError> {
    let page = kaa_store::metadata::Page {
        offset: 0,
        limit: 1,
    };
    if !store.users(None, page).await?.items.is_empty() {
        return Ok(());
    }
    let username = std::env::var("KAA_ADMIN_USER").unwrap_or_else(|_| "admin".to_owned());
    let (password, generated) = match std::env::var("KAA_ADMIN_PASSWORD") {
        Ok(password) => (password, false),
        Err(_) => (new_token()?[..20].to_owned(), true),
    };
    check_password("KAA_ADMIN_PASSWORD", &password)?;
    let hash = hash_password(password.clone()).await?;
    match store
        .create_user(None, &username, Role::KaaAdmin, &hash)
        .await
    {
        // Another Control node created it first.
        Err(kaa_store::StoreError::Conflict(_)) => return Ok(()),
        other => other?,
    };
    if generated {
        tracing::warn!(user = %username, "created the first KAA_ADMIN with a generated password (printed once on stderr)");
        eprintln!(
            "\n  kaa-rs first admin: user {username:?}, password {password:?}\n  (set KAA_ADMIN_USER / KAA_ADMIN_PASSWORD to choose them)\n"
        );
    } else {
        tracing::info!(user = %username, "created the first KAA_ADMIN from KAA_ADMIN_USER/KAA_ADMIN_PASSWORD");
    }
    Ok(())
}
