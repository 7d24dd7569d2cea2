//! Who is calling: [`Caller`] resolves the bearer token of each request to its user and answers
//! what that user's role allows.
//!
//! Sessions are stored by the SHA-256 of their token only (`token_hash`); logging in and out
//! is [`super::auth`]'s. A resolved caller is left on the request for the audit log
//! ([`super::audit`]).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;
use kaa_model::Role;
use kaa_store::metadata::User;
use sha2::{Digest, Sha256};

use super::ApiState;
use super::audit::Actor;
use super::error::ApiError;

/// The stored form of a session token: its SHA-256, in hex.
pub(super) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// The stored form ([`token_hash`]) of the session's token.
    pub session: String,
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

/// The bearer token of a request's `Authorization` header.
pub(super) fn bearer(request: &HttpRequest) -> Option<String> {
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
            .map(|s| s.metadata.store().clone());
        let request = request.clone();
        Box::pin(async move {
            let (Some(token), Some(store)) = (token, store) else {
                return Err(ApiError::unauthenticated());
            };
            let session = token_hash(&token);
            match store.session_user(&session).await? {
                Some(user) => {
                    // The audit log names who made the request.
                    Actor::note(&request, &user);
                    Ok(Caller { user, session })
                }
                None => Err(ApiError::unauthenticated()),
            }
        })
    }
}
