//! Logging in and out, and who is calling.
//!
//! Passwords are stored as Argon2id PHC strings, hashed on a small fixed pool of threads
//! ([`super::password`]). A login returns a random bearer token; only its SHA-256 is stored (in
//! the shared metadata database, so a session survives a Control failover).
//! [`Caller`] resolves the token of each request to its user.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use futures::future::LocalBoxFuture;
use kaa_model::Role;
use kaa_store::metadata::{MetadataStore, User, now_ms};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::ApiState;
use super::error::{ApiError, Body, ErrorBody};
use super::limits::{MAX_PASSWORD_CHARS, MIN_PASSWORD_LEN};
use super::password::PasswordPool;
use super::users::UserView;

/// How long a session lasts.
const SESSION_MS: i64 = 12 * 60 * 60 * 1000;

/// Hashes a password with Argon2id on the process's hashing pool.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    Ok(PasswordPool::global()?.hash(password).await?)
}

async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    Ok(PasswordPool::global()?.verify(password, hash).await?)
}

/// A hash of a random password, checked against when a login names no user.
async fn unknown_user_hash() -> Result<&'static str, ApiError> {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_try_init(|| async { hash_password(new_token()?).await })
        .await
        .map(String::as_str)
}

/// Checks a new password against the rules, naming `field`.
pub fn check_password(field: &str, password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "no randomness",
        )
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
}

impl Caller {
    /// Fails with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// Whether the caller may see secrets: credentials in appender and verifier settings and
    /// endpoint access tokens. A TENANT_USER watches but does not build, so it may not.
    pub fn sees_secrets(&self) -> bool {
        self.user.role != Role::TenantUser
    }

    /// The caller's tenant; 403 for a KAA_ADMIN, who manages tenants but not their content.
    pub fn tenant(&self) -> Result<&str, ApiError> {
        self.user
            .tenant_id
            .as_deref()
            .ok_or_else(ApiError::forbidden)
    }
}

fn bearer(request: &HttpRequest) -> Option<String> {
    let value = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(request);
        let store = request
            .app_data::<web::Data<ApiState>>()
            .map(|s| s.store.clone());
        Box::pin(async move {
            let (Some(token), Some(store)) = (token, store) else {
                return Err(ApiError::unauthenticated());
            };
            match store.session_user(&token_hash(&token)).await? {
                Some(user) => Ok(Caller { user }),
                None => Err(ApiError::unauthenticated()),
            }
        })
    }
}

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
        (status = 503, description = "Too many logins at once (`busy`); try again in a moment", body = ErrorBody),
    )
)]
#[post("/api/v1/auth/login")]
pub async fn login(
    state: web::Data<ApiState>,
    Body(login): Body<Login>,
) -> Result<HttpResponse, ApiError> {
    let wrong = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong_credentials",
            "wrong user name or password",
        )
    };
    let Some(user) = state.store.user_by_name(&login.username).await? else {
        // As much work as a wrong password, so the answer's timing does not tell which user
        // names exist.
        verify_password(login.password, unknown_user_hash().await?.to_owned()).await?;
        return Err(wrong());
    };
    if !verify_password(login.password, user.password_hash.clone()).await? {
        return Err(wrong());
    }
    let token = new_token()?;
    let expires_ms = now_ms() + SESSION_MS;
    state
        .store
        .create_session(&token_hash(&token), &user.id, expires_ms)
        .await?;
    tracing::info!(user = %user.username, role = %user.role, "admin login");
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
    if let Some(token) = bearer(&request) {
        state.store.delete_session(&token_hash(&token)).await?;
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
