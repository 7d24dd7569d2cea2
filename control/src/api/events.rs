//! Event class families of the caller's tenant at `/api/v1/event-families` with their versions,
//! and the event maps of an application at `/api/v1/applications/{id}/event-maps`.
//!
//! A family version is uploaded as a list of event classes, each an Avro record schema and a
//! kind (`event` or `object`); every schema is checked before anything is stored, and errors name
//! the place (`classes[2].schema.fields[0].type`). A class is named by its schema's full name.
//! An event map picks one version of a family for the application and says, per event class,
//! whether its endpoints send it (`source`), receive it (`sink`) or both. Map changes are logged
//! and announced.

use std::collections::{BTreeMap, HashSet};

use actix_web::{HttpResponse, delete, get, post, web};
use kaa_model::Role;
use kaa_store::StoreError;
use kaa_store::metadata::{
    EventAction, EventClass, EventClassKind, EventFamily, EventFamilyVersion, EventMap,
    MAX_FQN_LEN, NewEventClass,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody};
use super::openapi::{EventActionName, EventClassKindName, Name};
use super::schemas::parse_schema;
use super::scope::{
    BUILDERS, TENANT_ROLES, delete_in_app, get_in_app, list_in_app, tenant_application,
};
use super::{ApiState, PageOf, PageQuery, check_name};

/// Who writes families and their versions: the tenant admin, who owns them in Kaa, and the
/// developer, who builds what applications speak.
const FAMILY_WRITERS: [Role; 2] = [Role::TenantAdmin, Role::TenantDeveloper];

/// The most event classes one family version has.
pub const MAX_CLASSES: usize = 256;

// ---- families ----

/// An event class family.
#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyView {
    /// Id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique in the tenant.
    pub name: String,
    /// Namespace of the family class SDKs generate.
    pub namespace: String,
    /// Name of the family class SDKs generate, unique in the tenant.
    pub class_name: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&EventFamily> for FamilyView {
    fn from(f: &EventFamily) -> Self {
        Self {
            id: f.id.clone(),
            tenant_id: f.tenant_id.clone(),
            name: f.name.clone(),
            namespace: f.namespace.clone(),
            class_name: f.class_name.clone(),
            created_ms: f.created_ms,
        }
    }
}

/// A new event class family.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFamily {
    /// Name, unique in the tenant.
    #[schema(value_type = Name)]
    pub name: String,
    /// Namespace of the generated family class: dot-separated identifiers, e.g.
    /// `org.kaaproject.kaa.demo`, at most 255 characters.
    #[schema(
        max_length = 255,
        pattern = r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$"
    )]
    pub namespace: String,
    /// Name of the generated family class, an identifier unique in the tenant, e.g.
    /// `ThermostatEventFamily`, at most 128 characters.
    #[schema(max_length = 128, pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")]
    pub class_name: String,
}

/// Whether `name` is an identifier as Avro and the SDK languages know it:
/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_namespace(namespace: &str) -> Result<(), ApiError> {
    if namespace.len() > 255 || !namespace.split('.').all(is_identifier) {
        return Err(ApiError::invalid(
            "namespace",
            "must be dot-separated identifiers ([A-Za-z_][A-Za-z0-9_]*), at most 255 characters",
        ));
    }
    Ok(())
}

fn check_class_name(class_name: &str) -> Result<(), ApiError> {
    if class_name.len() > 128 || !is_identifier(class_name) {
        return Err(ApiError::invalid(
            "class_name",
            "must be an identifier ([A-Za-z_][A-Za-z0-9_]*), at most 128 characters",
        ));
    }
    Ok(())
}

/// The family `id` if it belongs to the caller's tenant (404 otherwise).
async fn tenant_family(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<EventFamily, ApiError> {
    Ok(state
        .metadata
        .store()
        .event_family(caller.tenant()?, id)
        .await?)
}

/// The tenant's event class families, by name.
#[utoipa::path(tag = "event families", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = PageOf<FamilyView>), (status = 403, body = ErrorBody)))]
#[get("/api/v1/event-families")]
pub async fn list_families(
    state: web::Data<ApiState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let families = state
        .metadata
        .store()
        .event_families(caller.tenant()?, query.page()?)
        .await?;
    Ok(HttpResponse::Ok().json(PageOf::<FamilyView>::from(families)))
}

/// Creates an event class family (TENANT_ADMIN, TENANT_DEVELOPER).
#[utoipa::path(tag = "event families", security(("bearer" = [])), request_body = NewFamily,
    responses((status = 201, body = FamilyView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/event-families")]
pub async fn create_family(
    state: web::Data<ApiState>,
    caller: Caller,
    Body(new): Body<NewFamily>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&FAMILY_WRITERS)?;
    check_name("name", &new.name)?;
    check_namespace(&new.namespace)?;
    check_class_name(&new.class_name)?;
    let family = state
        .metadata
        .store()
        .create_event_family(caller.tenant()?, &new.name, &new.namespace, &new.class_name)
        .await?;
    Ok(HttpResponse::Created().json(FamilyView::from(&family)))
}

/// One event class family.
#[utoipa::path(tag = "event families", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = FamilyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/event-families/{id}")]
pub async fn get_family(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    Ok(HttpResponse::Ok().json(FamilyView::from(
        &tenant_family(&state, &caller, &id).await?,
    )))
}

// ---- family versions ----

/// An event class of a family version.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassView {
    /// Id.
    pub id: String,
    /// Full name of the record schema.
    pub fqn: String,
    /// `event` or `object`.
    #[schema(value_type = EventClassKindName)]
    pub kind: String,
    /// The Avro record schema.
    #[schema(value_type = Object)]
    pub schema: Value,
}

impl From<&EventClass> for ClassView {
    fn from(c: &EventClass) -> Self {
        Self {
            id: c.id.clone(),
            fqn: c.fqn.clone(),
            kind: c.kind.name().to_owned(),
            schema: serde_json::from_str(&c.body).unwrap_or(Value::Null),
        }
    }
}

/// One version of an event class family.
#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyVersionView {
    /// Id.
    pub id: String,
    /// Family.
    pub family_id: String,
    /// 1, 2, … per family.
    pub version: i64,
    /// Its event classes, by FQN.
    pub classes: Vec<ClassView>,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&EventFamilyVersion> for FamilyVersionView {
    fn from(v: &EventFamilyVersion) -> Self {
        Self {
            id: v.id.clone(),
            family_id: v.family_id.clone(),
            version: v.version,
            classes: v.classes.iter().map(ClassView::from).collect(),
            created_ms: v.created_ms,
        }
    }
}

/// An event class of a new family version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClass {
    /// An Avro record schema (JSON); its full name names the class.
    #[schema(value_type = Object)]
    pub schema: Value,
    /// `event` (sent between endpoints) or `object` (a type events carry).
    #[schema(value_type = EventClassKindName)]
    pub kind: String,
}

/// A new version of an event class family.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFamilyVersion {
    /// The event classes, 1 to 256, with distinct full names that no other family of the tenant
    /// uses.
    #[schema(min_items = 1, max_items = 256)]
    pub classes: Vec<NewClass>,
}

/// Checks every class of an upload; returns them as stored and the version's body.
fn check_classes(classes: &[NewClass]) -> Result<(Vec<NewEventClass>, String), ApiError> {
    if classes.is_empty() || classes.len() > MAX_CLASSES {
        return Err(ApiError::invalid(
            "classes",
            format!("must hold 1 to {MAX_CLASSES} event classes"),
        ));
    }
    let mut fqns = HashSet::new();
    let mut checked = Vec::with_capacity(classes.len());
    for (i, class) in classes.iter().enumerate() {
        let field = format!("classes[{i}].schema");
        let text = serde_json::to_string(&class.schema)
            .map_err(|e| ApiError::invalid(&field, e.to_string()))?;
        let fqn = parse_schema(&field, &text)?.name().to_owned();
        if fqn.len() > MAX_FQN_LEN {
            return Err(ApiError::invalid(
                &field,
                format!("the full name must be at most {MAX_FQN_LEN} characters"),
            ));
        }
        if !fqns.insert(fqn.clone()) {
            return Err(ApiError::invalid(
                &field,
                format!("event class `{fqn}` is defined twice"),
            ));
        }
        let kind = EventClassKind::parse(&class.kind).ok_or_else(|| {
            ApiError::invalid(&format!("classes[{i}].kind"), "must be event or object")
        })?;
        checked.push(NewEventClass {
            fqn,
            kind,
            body: text,
        });
    }
    let body = Value::Array(classes.iter().map(|c| c.schema.clone()).collect());
    Ok((checked, body.to_string()))
}

/// A family's versions, newest first.
#[utoipa::path(tag = "event families", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<FamilyVersionView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/event-families/{id}/versions")]
pub async fn list_family_versions(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let family = tenant_family(&state, &caller, &id).await?;
    let versions = state
        .metadata
        .store()
        .event_family_versions(&family.id, query.page()?)
        .await?;
    Ok(HttpResponse::Ok().json(PageOf::<FamilyVersionView>::from(versions)))
}

/// Uploads the next version of a family (TENANT_ADMIN, TENANT_DEVELOPER).
#[utoipa::path(tag = "event families", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewFamilyVersion,
    responses((status = 201, body = FamilyVersionView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/event-families/{id}/versions")]
pub async fn create_family_version(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(new): Body<NewFamilyVersion>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&FAMILY_WRITERS)?;
    let family = tenant_family(&state, &caller, &id).await?;
    let (classes, body) = check_classes(&new.classes)?;
    let version = state
        .metadata
        .store()
        .add_event_family_version(&family.id, &body, &classes)
        .await?;
    Ok(HttpResponse::Created().json(FamilyVersionView::from(&version)))
}

/// One version of a family.
#[utoipa::path(tag = "event families", security(("bearer" = [])), params(("id" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = FamilyVersionView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/event-families/{id}/versions/{version}")]
pub async fn get_family_version(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let (family_id, version) = path.into_inner();
    let family = tenant_family(&state, &caller, &family_id).await?;
    let version = state
        .metadata
        .store()
        .event_family_version(&family.id, version)
        .await?;
    Ok(HttpResponse::Ok().json(FamilyVersionView::from(&version)))
}

// ---- application event maps ----

/// An application's map of one event class family version.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventMapView {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Family.
    pub family_id: String,
    /// The family's name.
    pub family_name: String,
    /// The mapped version of the family.
    pub version: i64,
    /// Per event class FQN: `source`, `sink` or `both`.
    #[schema(value_type = BTreeMap<String, EventActionName>)]
    pub actions: BTreeMap<String, String>,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&EventMap> for EventMapView {
    fn from(m: &EventMap) -> Self {
        Self {
            id: m.id.clone(),
            app_id: m.app_id.clone(),
            family_id: m.family_id.clone(),
            family_name: m.family_name.clone(),
            version: m.version,
            actions: m
                .actions
                .iter()
                .map(|a| (a.fqn.clone(), a.action.name().to_owned()))
                .collect(),
            created_ms: m.created_ms,
        }
    }
}

/// A new event map.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventMap {
    /// An event class family of the application's tenant.
    pub family_id: String,
    /// The version of the family to map.
    #[schema(minimum = 1)]
    pub version: i64,
    /// Per event class FQN of that version: `source` (endpoints send it), `sink` (they receive
    /// it) or `both`. Only classes of kind `event` take an action; classes left out are neither
    /// sent nor received.
    #[schema(value_type = BTreeMap<String, EventActionName>)]
    pub actions: BTreeMap<String, String>,
}

/// Checks a new map against the family version it names; returns its actions.
async fn check_map(
    state: &ApiState,
    tenant_id: &str,
    new: &NewEventMap,
) -> Result<Vec<(String, EventAction)>, ApiError> {
    let store = state.metadata.store();
    let family = match store.event_family(tenant_id, &new.family_id).await {
        Ok(family) => family,
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::invalid(
                "family_id",
                "no such event family in this tenant",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    if new.version < 1 {
        return Err(ApiError::invalid("version", "must be at least 1"));
    }
    let version = match store.event_family_version(&family.id, new.version).await {
        Ok(version) => version,
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::invalid(
                "version",
                format!("the family has no version {}", new.version),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let mut actions = Vec::with_capacity(new.actions.len());
    for (fqn, action) in &new.actions {
        let field = format!("actions.{fqn}");
        let class = version
            .classes
            .iter()
            .find(|c| &c.fqn == fqn)
            .ok_or_else(|| {
                ApiError::invalid(
                    &field,
                    format!(
                        "version {} of the family has no such event class",
                        new.version
                    ),
                )
            })?;
        if class.kind != EventClassKind::Event {
            return Err(ApiError::invalid(
                &field,
                "an object class takes no action: only events are sent and received",
            ));
        }
        let action = EventAction::parse(action)
            .ok_or_else(|| ApiError::invalid(&field, "must be source, sink or both"))?;
        actions.push((fqn.clone(), action));
    }
    Ok(actions)
}

/// The application's event maps, by family name.
#[utoipa::path(tag = "event maps", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<EventMapView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/event-maps")]
pub async fn list_event_maps(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_in_app::<EventMap, _>(&state, &caller, &id, &query, |m| EventMapView::from(m)).await
}

/// Maps a version of an event class family into the application (TENANT_DEVELOPER).
#[utoipa::path(tag = "event maps", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewEventMap,
    responses((status = 201, body = EventMapView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/event-maps")]
pub async fn create_event_map(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(new): Body<NewEventMap>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let app = tenant_application(&state, &caller, &id).await?;
    let actions = check_map(&state, &app.tenant_id, &new).await?;
    let map = state
        .metadata
        .create_event_map(&app.id, &new.family_id, new.version, &actions)
        .await?;
    Ok(HttpResponse::Created().json(EventMapView::from(&map)))
}

/// One event map of the application.
#[utoipa::path(tag = "event maps", security(("bearer" = [])), params(("id" = String, Path), ("map" = String, Path)),
    responses((status = 200, body = EventMapView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/event-maps/{map}")]
pub async fn get_event_map(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    get_in_app::<EventMap, _>(&state, &caller, path.into_inner(), |m| {
        EventMapView::from(m)
    })
    .await
}

/// Removes an event map that no SDK profile names (TENANT_DEVELOPER).
#[utoipa::path(tag = "event maps", security(("bearer" = [])), params(("id" = String, Path), ("map" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/event-maps/{map}")]
pub async fn delete_event_map(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    delete_in_app::<EventMap>(&state, &caller, path.into_inner()).await
}
