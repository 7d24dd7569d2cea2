//! `/api/v1/applications/{id}/schemas/{kind}`: versioned Avro record schemas of an application —
//! client profile, server profile, configuration, notification and log. An upload is checked
//! before it is stored; errors name the place in the schema (`schema.fields[2].type`).

use actix_web::{HttpResponse, get, post, web};
use kaa_model::Role;
use kaa_model::schema::AvroSchema;
use kaa_store::metadata::{SCHEMA_KINDS, SchemaVersion};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody};
use super::openapi::{Name, SchemaKindName};
use super::scope::tenant_application;
use super::{ApiState, PageOf, PageQuery, check_name};

/// One version of a schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaView {
    /// Id.
    pub id: String,
    /// `client_profile`, `server_profile`, `configuration`, `notification` or `log`.
    #[schema(value_type = SchemaKindName)]
    pub kind: String,
    /// 1, 2, … per application and kind.
    pub version: i64,
    /// Display name.
    pub name: String,
    /// The Avro schema.
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&SchemaVersion> for SchemaView {
    fn from(s: &SchemaVersion) -> Self {
        Self {
            id: s.id.clone(),
            kind: s.kind.clone(),
            version: s.version,
            name: s.name.clone(),
            schema: serde_json::from_str(&s.body).unwrap_or(serde_json::Value::Null),
            created_ms: s.created_ms,
        }
    }
}

/// A new schema version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchema {
    /// Display name.
    #[schema(value_type = Name)]
    pub name: String,
    /// An Avro record schema (JSON).
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
}

fn kind(kind: &str) -> Result<&str, ApiError> {
    SCHEMA_KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .ok_or_else(|| {
            ApiError::not_found(
                "schema kind (client_profile, server_profile, configuration, notification, log)",
            )
        })
}

/// Parses `text` as an Avro record schema, naming the place of the first error.
pub(crate) fn parse_schema(field: &str, text: &str) -> Result<AvroSchema, ApiError> {
    AvroSchema::parse(text).map_err(|error| {
        let at = if error.path.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{}", error.path)
        };
        ApiError::invalid(&at, error.kind.to_string())
    })
}

/// Parses the application's schema of `kind` and `version`, for checking documents against it;
/// a missing version is an error at `version_field`, a failing store a server error.
pub(crate) async fn app_schema(
    state: &ApiState,
    app_id: &str,
    kind: &str,
    version: i64,
    version_field: &str,
) -> Result<AvroSchema, ApiError> {
    let schema = match state.metadata.store().schema(app_id, kind, version).await {
        Ok(schema) => schema,
        Err(kaa_store::StoreError::NotFound(_)) => {
            return Err(ApiError::invalid(
                version_field,
                format!("no {kind} schema of this version"),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    parse_schema(version_field, &schema.body)
}

/// Checks a JSON document against a schema; the error names the first offending field under
/// `field` (e.g. `body.interval`).
pub(crate) fn check_document(
    schema: &AvroSchema,
    body: &Value,
    field: &str,
) -> Result<(), ApiError> {
    match schema.validate_json(body) {
        Ok(()) => Ok(()),
        Err(invalid) => {
            let first = &invalid.errors()[0];
            let at = match first.path.strip_prefix('$') {
                Some(rest) => format!("{field}{rest}"),
                None => field.to_owned(),
            };
            Err(ApiError::invalid(&at, invalid.to_string()))
        }
    }
}

/// An application's schema versions of `kind`, newest first.
#[utoipa::path(tag = "schemas", security(("bearer" = [])), params(("id" = String, Path), ("kind" = SchemaKindName, Path), PageQuery),
    responses((status = 200, body = PageOf<SchemaView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/schemas/{kind}")]
pub async fn list_schemas(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&super::scope::TENANT_ROLES)?;
    let (app_id, kind_name) = path.into_inner();
    let app = tenant_application(&state, &caller, &app_id).await?;
    let schemas = state
        .metadata
        .store()
        .schemas(&app.id, kind(&kind_name)?, query.page()?)
        .await?;
    Ok(HttpResponse::Ok().json(PageOf::<SchemaView>::from(schemas)))
}

/// Uploads the next version of an application's schema of `kind` (TENANT_DEVELOPER).
#[utoipa::path(tag = "schemas", security(("bearer" = [])), params(("id" = String, Path), ("kind" = SchemaKindName, Path)), request_body = NewSchema,
    responses((status = 201, body = SchemaView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/schemas/{kind}")]
pub async fn create_schema(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Body(new): Body<NewSchema>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[Role::TenantDeveloper])?;
    let (app_id, kind_name) = path.into_inner();
    let app = tenant_application(&state, &caller, &app_id).await?;
    let kind = kind(&kind_name)?;
    check_name("name", &new.name)?;
    let text = serde_json::to_string(&new.schema)
        .map_err(|e| ApiError::invalid("schema", e.to_string()))?;
    parse_schema("schema", &text)?;
    let schema = state
        .metadata
        .store()
        .create_schema(&app.id, kind, &new.name, &text)
        .await?;
    Ok(HttpResponse::Created().json(SchemaView::from(&schema)))
}

/// One schema version.
#[utoipa::path(tag = "schemas", security(("bearer" = [])), params(("id" = String, Path), ("kind" = SchemaKindName, Path), ("version" = i64, Path)),
    responses((status = 200, body = SchemaView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/schemas/{kind}/{version}")]
pub async fn get_schema(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&super::scope::TENANT_ROLES)?;
    let (app_id, kind_name, version) = path.into_inner();
    let app = tenant_application(&state, &caller, &app_id).await?;
    let schema = state
        .metadata
        .store()
        .schema(&app.id, kind(&kind_name)?, version)
        .await?;
    Ok(HttpResponse::Ok().json(SchemaView::from(&schema)))
}
