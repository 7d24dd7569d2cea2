//! Owners' configurations under `/api/v1/applications/{id}/owners/{user}/configurations`: per
//! owner (the user external id endpoints attached with), application and configuration-schema
//! version, a document that overrides the merged group configuration of the owner's endpoints.
//!
//! A change is stored in the endpoint store and each of the owner's endpoints of the application
//! is told to resync (as after a server-profile change), so connected ones get the new
//! configuration pushed.

use actix_web::{HttpResponse, delete, get, put, web};
use kaa_cluster::routing::EndpointMessage;
use kaa_model::schema::AvroSchema;
use kaa_store::StoreError;
use kaa_store::endpoint::UserConfiguration;
use kaa_store::metadata::{Application, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::ApiState;
use super::caller::Caller;
use super::endpoints::tell_endpoint;
use super::error::{ApiError, Body, ErrorBody};
use super::schemas::{check_document, parse_schema};
use super::scope::{BUILDERS, TENANT_ROLES, tenant_application};

/// An owner's configuration for one configuration-schema version.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerConfigurationView {
    /// Configuration-schema version it follows.
    pub schema_version: i64,
    /// The document.
    #[schema(value_type = Object)]
    pub body: Value,
    /// When it was last written, Unix milliseconds.
    pub updated_ms: i64,
}

impl From<UserConfiguration> for OwnerConfigurationView {
    fn from(c: UserConfiguration) -> Self {
        Self {
            schema_version: c.schema_version,
            body: serde_json::from_str(&c.body).unwrap_or(Value::Null),
            updated_ms: c.updated_ms,
        }
    }
}

/// A new owner's configuration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerConfigurationUpdate {
    /// The document, checked against the configuration schema of the version in the path.
    #[schema(value_type = Object)]
    pub body: Value,
}

/// The owner id of user `user` in the application's tenant, after checking the user id.
fn owner_of(app: &Application, user: &str) -> Result<String, ApiError> {
    if user.is_empty() || user.len() > 200 || user.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "user",
            "a user external id is 1 to 200 characters, none of them control characters",
        ));
    }
    Ok(format!("{}:{user}", app.tenant_id))
}

/// The application's configuration schema `version`, named in the path: 404 when there is none.
async fn configuration_schema(
    state: &ApiState,
    app: &Application,
    version: i64,
) -> Result<AvroSchema, ApiError> {
    match state
        .metadata
        .store()
        .schema(&app.id, "configuration", version)
        .await
    {
        Ok(schema) => parse_schema("version", &schema.body),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("configuration schema version")),
        Err(error) => Err(error.into()),
    }
}

/// Tells each of the owner's endpoints of the application to resync.
async fn tell_owner_endpoints(state: &ApiState, app: &Application, owner: &str) {
    match state.endpoints.profiles_by_owner(owner).await {
        Ok(profiles) => {
            for profile in profiles.into_iter().filter(|p| p.application_id == app.id) {
                tell_endpoint(
                    state,
                    app,
                    profile.endpoint_key_hash,
                    EndpointMessage::ServerProfile,
                );
            }
        }
        Err(error) => {
            tracing::warn!(%error, owner, "owner's endpoints not told; they resync on their next sync")
        }
    }
}

/// The owner's configurations in this application, by schema version.
#[utoipa::path(tag = "owners", security(("bearer" = [])), params(("id" = String, Path), ("user" = String, Path)),
    responses((status = 200, body = Vec<OwnerConfigurationView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/owners/{user}/configurations")]
pub async fn list_owner_configurations(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let (id, user) = path.into_inner();
    let app = tenant_application(&state, &caller, &id).await?;
    let owner = owner_of(&app, &user)?;
    let configurations = state.endpoints.user_configurations(&owner, &app.id).await?;
    let views: Vec<OwnerConfigurationView> = configurations.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// The owner's configuration for one schema version.
#[utoipa::path(tag = "owners", security(("bearer" = [])), params(("id" = String, Path), ("user" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = OwnerConfigurationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/owners/{user}/configurations/{version}")]
pub async fn get_owner_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let (id, user, version) = path.into_inner();
    let app = tenant_application(&state, &caller, &id).await?;
    let owner = owner_of(&app, &user)?;
    match state
        .endpoints
        .user_configuration(&owner, &app.id, version)
        .await?
    {
        Some(configuration) => {
            Ok(HttpResponse::Ok().json(OwnerConfigurationView::from(configuration)))
        }
        None => Err(ApiError::not_found("owner configuration")),
    }
}

/// Sets the owner's configuration for one schema version (TENANT_DEVELOPER); the owner's
/// connected endpoints of the application get their new configuration pushed.
#[utoipa::path(tag = "owners", security(("bearer" = [])), params(("id" = String, Path), ("user" = String, Path), ("version" = i64, Path)),
    request_body = OwnerConfigurationUpdate,
    responses((status = 200, body = OwnerConfigurationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/api/v1/applications/{id}/owners/{user}/configurations/{version}")]
pub async fn set_owner_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, i64)>,
    Body(update): Body<OwnerConfigurationUpdate>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let (id, user, version) = path.into_inner();
    let app = tenant_application(&state, &caller, &id).await?;
    let owner = owner_of(&app, &user)?;
    let schema = configuration_schema(&state, &app, version).await?;
    check_document(&schema, &update.body, "body")?;
    let configuration = UserConfiguration {
        owner_id: owner.clone(),
        app_id: app.id.clone(),
        schema_version: version,
        body: update.body.to_string(),
        updated_ms: now_ms(),
    };
    state
        .endpoints
        .save_user_configuration(&configuration)
        .await?;
    tracing::info!(app = %app.id, owner, version, "owner configuration set");
    tell_owner_endpoints(&state, &app, &owner).await;
    Ok(HttpResponse::Ok().json(OwnerConfigurationView::from(configuration)))
}

/// Removes the owner's configuration for one schema version (TENANT_DEVELOPER); the owner's
/// endpoints fall back to their groups' configuration.
#[utoipa::path(tag = "owners", security(("bearer" = [])), params(("id" = String, Path), ("user" = String, Path), ("version" = i64, Path)),
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/owners/{user}/configurations/{version}")]
pub async fn delete_owner_configuration(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let (id, user, version) = path.into_inner();
    let app = tenant_application(&state, &caller, &id).await?;
    let owner = owner_of(&app, &user)?;
    if !state
        .endpoints
        .delete_user_configuration(&owner, &app.id, version)
        .await?
    {
        return Err(ApiError::not_found("owner configuration"));
    }
    tracing::info!(app = %app.id, owner, version, "owner configuration removed");
    tell_owner_endpoints(&state, &app, &owner).await;
    Ok(HttpResponse::NoContent().finish())
}
