//! How a request reaches records of the caller's tenant: the application and group lookups that
//! answer another tenant's records as absent (404), the roles that read and build, and the one
//! list / get / delete shape every record kept per application shares.

use actix_web::HttpResponse;
use kaa_model::Role;
use kaa_store::metadata::{Application, EndpointGroup};
use serde::Serialize;

use super::caller::Caller;
use super::error::ApiError;
use super::{ApiState, PageOf, PageQuery};
use crate::domain::{AppRemovable, AppScoped};

/// The roles that read a tenant's applications and what hangs under them.
pub(crate) const TENANT_ROLES: [Role; 3] =
    [Role::TenantAdmin, Role::TenantDeveloper, Role::TenantUser];

/// The role that builds an application: schemas, groups and the rest.
pub(crate) const BUILDERS: [Role; 1] = [Role::TenantDeveloper];

/// The application `id` if it belongs to the caller's tenant.
pub(crate) async fn tenant_application(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<Application, ApiError> {
    let tenant = caller.tenant()?;
    Ok(state.metadata.application_in(tenant, id).await?)
}

/// The endpoint group `group_id` of application `app_id` of the caller's tenant.
pub(crate) async fn app_group(
    state: &ApiState,
    caller: &Caller,
    app_id: &str,
    group_id: &str,
) -> Result<EndpointGroup, ApiError> {
    let app = tenant_application(state, caller, app_id).await?;
    Ok(state.metadata.get(&app.id, group_id).await?)
}

/// One page of the `T`s of application `app_id`, each shown as `view` makes it (TENANT_ROLES).
pub(crate) async fn list_in_app<T: AppScoped, V: Serialize>(
    state: &ApiState,
    caller: &Caller,
    app_id: &str,
    query: &PageQuery,
    view: impl Fn(&T) -> V,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let app = tenant_application(state, caller, app_id).await?;
    let page = state.metadata.list::<T>(&app.id, query.page()?).await?;
    Ok(HttpResponse::Ok().json(PageOf {
        items: page.items.iter().map(view).collect(),
        next_offset: page.next,
    }))
}

/// The `T` at `(application id, record id)`, shown as `view` makes it (TENANT_ROLES).
pub(crate) async fn get_in_app<T: AppScoped, V: Serialize>(
    state: &ApiState,
    caller: &Caller,
    (app_id, id): (String, String),
    view: impl Fn(&T) -> V,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let app = tenant_application(state, caller, &app_id).await?;
    let record = state.metadata.get::<T>(&app.id, &id).await?;
    Ok(HttpResponse::Ok().json(view(&record)))
}

/// Removes the `T` at `(application id, record id)` (BUILDERS).
pub(crate) async fn delete_in_app<T: AppRemovable>(
    state: &ApiState,
    caller: &Caller,
    (app_id, id): (String, String),
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let app = tenant_application(state, caller, &app_id).await?;
    state.metadata.remove::<T>(&app.id, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
