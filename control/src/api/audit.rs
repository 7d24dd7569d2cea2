//! The audit log: who did what to the admin API, when and from where, recorded in the metadata
//! database and read at `GET /api/v1/audit`.
//!
//! [`record`] wraps the whole admin app, so no change goes unrecorded: after every request under
//! `/api/` that is not a read (any method but GET, HEAD and OPTIONS) it appends one entry with
//! the caller ([`Actor`], which [`super::caller::Caller`] leaves on the request once it resolves
//! a session), the method, path (no query), status, the id of the record created or changed (the
//! `id` of the JSON answer, else the request path's last parameter) and the peer address. Login
//! and logout name their own [`AuditAction`] (a login, failed or not, names the user it was
//! for, when the name exists). A request nobody is known for (no valid session, a login refused
//! while locked out, a body that did not parse) is not recorded: nothing happened, and an
//! anonymous flood must not fill the table. Bodies are never recorded, so neither are passwords.
//!
//! The entry is written before the answer leaves; a failed write is logged and counted in
//! `kaa_admin_audit_write_failures_total`, but does not change the answer (the change is done).
//! An answer of 503 (the metadata database failed the request: nothing changed) does not wait
//! for its entry, written after it leaves: the database just failed, and the entry would hold
//! the answer for the pool's whole connect timeout once more.
//!
//! Reading it is [`super::audit_log`].

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use kaa_model::Role;
use kaa_store::metadata::{AuditEntry, User};
use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;

use super::ApiState;

/// The longest path recorded, in characters.
const MAX_PATH_CHARS: usize = 1024;

/// The longest entity id taken from an answer, in characters.
const MAX_ENTITY_CHARS: usize = 64;

/// Who made a request, as the audit log records them.
#[derive(Debug, Clone)]
pub(super) struct Actor {
    user_id: String,
    username: String,
    role: Role,
    tenant_id: Option<String>,
}

impl From<&User> for Actor {
    fn from(user: &User) -> Self {
        Self {
            user_id: user.id.clone(),
            username: user.username.clone(),
            role: user.role,
            tenant_id: user.tenant_id.clone(),
        }
    }
}

impl Actor {
    /// Leaves `user` on `request` as who made it.
    pub(super) fn note(request: &HttpRequest, user: &User) {
        request.extensions_mut().insert(Actor::from(user));
    }
}

/// What a request did, when it is more than a `change`: set by the handlers of login, logout and
/// password changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AuditAction(pub &'static str);

impl AuditAction {
    /// A login that succeeded.
    pub const LOGIN: Self = Self("login");
    /// A login with a wrong user name or password.
    pub const LOGIN_FAILED: Self = Self("login_failed");
    /// A logout.
    pub const LOGOUT: Self = Self("logout");
    /// A password change (of one's own or another user's).
    pub const PASSWORD_CHANGE: Self = Self("password_change");
    /// Any other admin request that is not a read.
    const CHANGE: Self = Self("change");

    /// Names what `request` did.
    pub(super) fn note(self, request: &HttpRequest) {
        request.extensions_mut().insert(self);
    }
}

/// Counts audit entries that could not be written, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct AuditFailures(Counter);

impl AuditFailures {
    /// Registers `kaa_admin_audit_write_failures_total`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "kaa_admin_audit_write_failures",
            "Audit log entries of admin requests that could not be written to the metadata database",
            self.0.clone(),
        );
    }
}

/// Whether a request of `method` on `path` is recorded: API requests that are not reads.
fn audited(method: &Method, path: &str) -> bool {
    path.starts_with("/api/") && ![Method::GET, Method::HEAD, Method::OPTIONS].contains(method)
}

/// The `id` of a JSON object answer.
fn answered_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct WithId {
        id: String,
    }
    let id = serde_json::from_slice::<WithId>(body).ok()?.id;
    (id.chars().count() <= MAX_ENTITY_CHARS).then_some(id)
}

/// Appends an audit entry for every admin request that is not a read (see the module's doc).
/// Mounted around the node's admin app.
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !audited(request.method(), request.path()) {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let state = request.app_data::<web::Data<ApiState>>().cloned();
    let address = request.peer_addr().map(|a| a.ip().to_canonical());
    let response = next.call(request).await?.map_into_boxed_body();
    let Some(state) = state else {
        return Ok(response);
    };
    let (actor, action) = {
        let extensions = response.request().extensions();
        (
            extensions.get::<Actor>().cloned(),
            extensions.get::<AuditAction>().copied(),
        )
    };
    if actor.is_none() && action.is_none() {
        return Ok(response);
    }
    let (request, response) = response.into_parts();
    let status = response.status();
    let (response, body) = response.into_parts();
    let (body, answered) = match body.try_into_bytes() {
        Ok(bytes) => {
            let id = status.is_success().then(|| answered_id(&bytes)).flatten();
            (BoxBody::new(bytes), id)
        }
        Err(body) => (body, None),
    };
    let response = response.set_body(body);
    let path: String = request.path().chars().take(MAX_PATH_CHARS).collect();
    let action = action.unwrap_or(AuditAction::CHANGE);
    let mut entry = AuditEntry::now(action.0, request.method().as_str(), &path, status.as_u16());
    entry.entity_id = answered.or_else(|| {
        let last = request.match_info().iter().last()?.1;
        Some(last.chars().take(MAX_ENTITY_CHARS).collect())
    });
    entry.address = address.map(|a| a.to_string());
    if let Some(actor) = actor {
        entry.user_id = Some(actor.user_id);
        entry.username = Some(actor.username);
        entry.role = Some(actor.role.name().to_owned());
        entry.tenant_id = actor.tenant_id;
    }
    let write = async move {
        if let Err(error) = state.metadata.store().append_audit(&entry).await {
            state.audit_failures.0.inc();
            tracing::error!(%error, action = action.0, path = %entry.path, status = entry.status, "cannot write an audit log entry");
        }
    };
    if status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        actix_web::rt::spawn(write);
    } else {
        write.await;
    }
    Ok(ServiceResponse::new(request, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_api_requests_that_are_not_reads_are_recorded() {
        assert!(audited(&Method::POST, "/api/v1/tenants"));
        assert!(audited(&Method::PATCH, "/api/v1/users/x"));
        assert!(audited(&Method::DELETE, "/api/v1/users/x"));
        assert!(audited(&Method::PUT, "/api/v1/nothing"));
        assert!(!audited(&Method::GET, "/api/v1/audit"));
        assert!(!audited(&Method::HEAD, "/api/v1/tenants"));
        assert!(!audited(&Method::OPTIONS, "/api/v1/tenants"));
        assert!(!audited(&Method::POST, "/metrics"));
    }

    #[test]
    fn the_entity_is_the_id_of_an_answered_object() {
        assert_eq!(
            answered_id(br#"{"id":"0190-a","name":"acme"}"#).as_deref(),
            Some("0190-a")
        );
        assert_eq!(answered_id(br#"{"token":"secret"}"#), None);
        assert_eq!(answered_id(br#"[{"id":"x"}]"#), None);
        assert_eq!(answered_id(b""), None);
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(65));
        assert_eq!(answered_id(long.as_bytes()), None);
    }
}
