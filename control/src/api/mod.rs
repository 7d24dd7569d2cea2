//! The admin REST API under `/api/v1`, served by the Control leader on the node's admin port.
//!
//! Resource-oriented JSON; bearer-token sessions ([`auth`], [`caller`]); every handler checks the
//! caller's role and scopes every query by the caller's tenant (records of other tenants answer
//! 404, as if absent). Handlers parse, authorize and serialise; the data is read and changed, and
//! changes are announced to Operations, by the domain layer ([`crate::domain`]). Lists are paged with `offset`/`limit` and answer `{"items", "next_offset"}`. Errors
//! are `{"error", "message", "field"}` ([`error`]). The OpenAPI 3 document at
//! `/api/v1/openapi.json` is generated from the same handler declarations that are served.
//!
//! Roles, as in Kaa: KAA_ADMIN manages tenants and their administrators; TENANT_ADMIN manages its
//! tenant's users and applications; TENANT_DEVELOPER manages an application's schemas, groups and
//! the rest; TENANT_USER reads its tenant's applications.

pub mod applications;
pub mod audit;
pub mod audit_log;
pub mod auth;
pub mod caller;
pub mod components;
pub mod documents;
pub mod endpoints;
pub mod error;
pub mod events;
mod guard;
pub mod limits;
pub mod lockout;
pub mod openapi;
pub mod owners;
pub mod password;
pub mod request_limit;
pub mod schemas;
mod scope;
pub mod sdks;
mod strict;
pub mod tenants;
pub mod topics;
pub mod users;

use std::sync::Arc;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, web};
use kaa_cluster::Cluster;
use kaa_cluster::routing::EndpointRouter;
use kaa_store::endpoint::EndpointStore;
use kaa_store::metadata::{Page, Paged};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::domain::Metadata;
use crate::sdk::SdkArchives;
use audit::AuditFailures;
use error::{ApiError, ErrorBody, MAX_BODY_BYTES};
use lockout::{LockoutSettings, LoginGuard};
use openapi::CommonResponses;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) metadata: Metadata,
    pub(crate) endpoints: EndpointStore,
    pub(crate) router: EndpointRouter,
    pub(crate) cluster: Cluster,
    pub(crate) sdks: Arc<SdkArchives>,
    pub(crate) login: Arc<LoginGuard>,
    pub(crate) audit_failures: AuditFailures,
}

impl ApiState {
    /// State over the domain layer `metadata` and the `endpoints` store, sending endpoint
    /// messages through `router` and reading the live `cluster` (for SDKs' bootstrap lists);
    /// logins are throttled after `lockout`.
    pub fn new(
        metadata: Metadata,
        endpoints: EndpointStore,
        router: EndpointRouter,
        cluster: Cluster,
        lockout: LockoutSettings,
    ) -> Self {
        Self {
            metadata,
            endpoints,
            router,
            cluster,
            sdks: Arc::new(SdkArchives::default()),
            login: LoginGuard::new(lockout),
            audit_failures: AuditFailures::default(),
        }
    }

    /// Registers the API's metrics (login throttling, audit write failures) in `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.login.register_metrics(registry);
        self.audit_failures.register(registry);
    }
}

/// `?offset=&limit=` of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Most items to return (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

impl PageQuery {
    fn page(&self) -> Result<Page, ApiError> {
        let offset = self.offset.unwrap_or(0);
        let limit = self.limit.unwrap_or(50);
        if offset < 0 {
            return Err(ApiError::invalid("offset", "must not be negative"));
        }
        if !(1..=500).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 500"));
        }
        Ok(Page { offset, limit })
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
    /// The items.
    pub items: Vec<T>,
    /// Offset of the next page, or null on the last one.
    pub next_offset: Option<i64>,
}

impl<T> PageOf<T> {
    fn from<S>(paged: Paged<S>) -> Self
    where
        T: for<'a> From<&'a S>,
    {
        Self {
            items: paged.items.iter().map(T::from).collect(),
            next_offset: paged.next,
        }
    }
}

/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// [`check_name`]'s rules as a regular expression of the OpenAPI document (read alike by
/// ECMA-262, Python and Rust): no control characters (`\x00-\x1F`, `\x7F-\x9F`) and neither
/// first nor last a white space character as `str::trim` knows them.
pub const NAME_PATTERN: &str = concat!(
    r"^[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]",
    r"(?:[^\x00-\x1F\x7F-\x9F]*",
    r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?$",
);

/// Checks a display name: trimmed, 1 to 128 characters, no control characters.
fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.trim() != name || name.is_empty() {
        return Err(ApiError::invalid(
            field,
            "must not be empty or start or end with spaces",
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(field, "must be at most 128 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(title = "kaa-rs admin API", version = "1"),
    paths(
        openapi_json,
        auth::login, auth::logout,
        users::me, users::list_users, users::create_user, users::get_user, users::update_user, users::delete_user,
        tenants::list_tenants, tenants::create_tenant, tenants::get_tenant, tenants::update_tenant, tenants::delete_tenant,
        applications::list_applications, applications::create_application, applications::get_application,
        applications::update_application, applications::list_changes,
        applications::list_groups, applications::create_group, applications::get_group, applications::delete_group,
        schemas::list_schemas, schemas::create_schema, schemas::get_schema,
        documents::list_configurations, documents::create_configuration, documents::get_configuration,
        documents::update_configuration, documents::delete_configuration,
        documents::activate_configuration, documents::deactivate_configuration,
        documents::list_filters, documents::create_filter, documents::test_filter, documents::get_filter,
        documents::update_filter, documents::delete_filter, documents::activate_filter, documents::deactivate_filter,
        topics::list_topics, topics::create_topic, topics::list_group_topics, topics::attach_topic, topics::detach_topic,
        events::list_families, events::create_family, events::get_family,
        events::list_family_versions, events::create_family_version, events::get_family_version,
        events::list_event_maps, events::create_event_map, events::get_event_map, events::delete_event_map,
        components::list_appenders, components::create_appender, components::get_appender, components::delete_appender,
        components::list_verifiers, components::create_verifier, components::delete_verifier,
        components::list_sdk_profiles, components::create_sdk_profile, components::delete_sdk_profile,
        sdks::download_sdk, sdks::cluster,
        endpoints::provision_credentials, endpoints::list_credentials, endpoints::get_credentials,
        endpoints::revoke_credentials, endpoints::list_endpoints, endpoints::get_endpoint,
        endpoints::update_server_profile, endpoints::send_notification, endpoints::send_unicast,
        owners::list_owner_configurations, owners::get_owner_configuration,
        owners::set_owner_configuration, owners::delete_owner_configuration,
        audit_log::list_audit,
    ),
    modifiers(&BearerAuth, &CommonResponses),
)]
pub struct ApiDoc;

/// The OpenAPI 3 document of the admin API.
#[utoipa::path(tag = "meta", responses((status = 200, description = "The OpenAPI document")))]
#[get("/api/v1/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Every path of the API with the methods served on it, from the OpenAPI document (which lists
/// exactly the served routes).
fn routes() -> Vec<(String, Vec<Method>)> {
    ApiDoc::openapi()
        .paths
        .paths
        .into_iter()
        .map(|(path, item)| {
            let methods = [
                (Method::GET, item.get.is_some()),
                (Method::HEAD, item.head.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::DELETE, item.delete.is_some()),
                (Method::OPTIONS, item.options.is_some()),
                (Method::TRACE, item.trace.is_some()),
            ];
            let served = methods
                .into_iter()
                .filter_map(|(method, served)| served.then_some(method))
                .collect();
            (path, served)
        })
        .collect()
}

/// The 405 of a path served with `allowed` methods only, with `Allow` and the JSON error body.
fn method_not_allowed(request: &HttpRequest, allowed: &[Method]) -> HttpResponse {
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!(
        "{} is not served on {}; use {allow}",
        request.method(),
        request.path()
    );
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .json(ErrorBody {
            error: "method_not_allowed",
            message,
            field: None,
        })
}

fn query_error(error: actix_web::error::QueryPayloadError) -> ApiError {
    let message = error.to_string();
    let field = message.split('`').nth(1).map(str::to_owned);
    let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message);
    match field {
        Some(field) => error.field(field),
        None => error,
    }
}

/// Mounts the API (and its JSON error handling for paths and queries) on an actix app. A method
/// not served on an API path answers 405 with `Allow`.
pub fn configure(state: ApiState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let routes = Arc::new(routes());
    move |cfg: &mut web::ServiceConfig| {
        let limit = request_limit::RequestLimit(state.metadata.store().database().call_limit());
        cfg.app_data(web::Data::new(state.clone()))
            .app_data(web::Data::new(limit))
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(e).into()))
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()).into()
            }))
            .service(openapi_json)
            .service(auth::login)
            .service(auth::logout)
            .service(users::me)
            .service(users::list_users)
            .service(users::create_user)
            .service(users::get_user)
            .service(users::update_user)
            .service(users::delete_user)
            .service(tenants::list_tenants)
            .service(tenants::create_tenant)
            .service(tenants::get_tenant)
            .service(tenants::update_tenant)
            .service(tenants::delete_tenant)
            .service(applications::list_applications)
            .service(applications::create_application)
            .service(applications::get_application)
            .service(applications::update_application)
            .service(applications::list_changes)
            .service(applications::list_groups)
            .service(applications::create_group)
            .service(applications::get_group)
            .service(applications::delete_group)
            .service(schemas::list_schemas)
            .service(schemas::create_schema)
            .service(schemas::get_schema)
            .service(documents::list_configurations)
            .service(documents::create_configuration)
            .service(documents::get_configuration)
            .service(documents::update_configuration)
            .service(documents::delete_configuration)
            .service(documents::activate_configuration)
            .service(documents::deactivate_configuration)
            .service(documents::list_filters)
            .service(documents::create_filter)
            .service(documents::test_filter)
            .service(documents::get_filter)
            .service(documents::update_filter)
            .service(documents::delete_filter)
            .service(documents::activate_filter)
            .service(documents::deactivate_filter)
            .service(topics::list_topics)
            .service(topics::create_topic)
            .service(topics::list_group_topics)
            .service(topics::attach_topic)
            .service(topics::detach_topic)
            .service(events::list_families)
            .service(events::create_family)
            .service(events::get_family)
            .service(events::list_family_versions)
            .service(events::create_family_version)
            .service(events::get_family_version)
            .service(events::list_event_maps)
            .service(events::create_event_map)
            .service(events::get_event_map)
            .service(events::delete_event_map)
            .service(components::list_appenders)
            .service(components::create_appender)
            .service(components::get_appender)
            .service(components::delete_appender)
            .service(components::list_verifiers)
            .service(components::create_verifier)
            .service(components::delete_verifier)
            .service(components::list_sdk_profiles)
            .service(components::create_sdk_profile)
            .service(components::delete_sdk_profile)
            .service(sdks::download_sdk)
            .service(sdks::cluster)
            .service(endpoints::provision_credentials)
            .service(endpoints::list_credentials)
            .service(endpoints::get_credentials)
            .service(endpoints::revoke_credentials)
            .service(endpoints::list_endpoints)
            .service(endpoints::get_endpoint)
            .service(endpoints::update_server_profile)
            .service(endpoints::send_notification)
            .service(endpoints::send_unicast)
            .service(owners::list_owner_configurations)
            .service(owners::get_owner_configuration)
            .service(owners::set_owner_configuration)
            .service(owners::delete_owner_configuration)
            .service(audit_log::list_audit);
        // After every handler, so these only see the methods no handler of the path took. No two
        // paths of the API match the same request (see the tests), so each 405 names them all.
        for (path, allowed) in routes.iter() {
            let allowed = allowed.clone();
            cfg.service(
                web::resource(path.as_str()).to(move |request: HttpRequest| {
                    let response = method_not_allowed(&request, &allowed);
                    async move { response }
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether some request path matches both templates (parameters take one segment each).
    fn overlap(a: &str, b: &str) -> bool {
        let param = |s: &str| s.starts_with('{') && s.ends_with('}');
        let (a, b): (Vec<_>, Vec<_>) = (a.split('/').collect(), b.split('/').collect());
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x == y || param(x) || param(y))
    }

    #[test]
    fn no_two_paths_match_the_same_request() {
        let routes = routes();
        assert!(routes.len() > 40);
        for (i, (a, methods)) in routes.iter().enumerate() {
            assert!(!methods.is_empty(), "{a}");
            for (b, _) in &routes[i + 1..] {
                assert!(!overlap(a, b), "{a} and {b} match the same requests");
            }
        }
        assert!(overlap("/a/{id}/x", "/a/b/{c}"));
        assert!(!overlap("/a/{id}/x", "/a/b/y"));
    }

    #[test]
    fn methods_not_served_are_named_in_allow() {
        let routes = routes();
        let (_, allowed) = routes
            .iter()
            .find(|(path, _)| path == "/api/v1/tenants/{id}")
            .unwrap();
        let request = actix_web::test::TestRequest::put()
            .uri("/api/v1/tenants/x")
            .to_http_request();
        let response = method_not_allowed(&request, allowed);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            response.headers().get(header::ALLOW).unwrap(),
            "GET, PATCH, DELETE"
        );
    }
}
