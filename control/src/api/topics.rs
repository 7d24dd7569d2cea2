//! Notification topics: `/api/v1/applications/{id}/topics`, and their attachment to groups at
//! `/api/v1/applications/{id}/groups/{group}/topics/{topic}`. Attaching and detaching are logged
//! and announced.

use actix_web::{HttpResponse, delete, get, post, put, web};
use kaa_store::metadata::{Topic, TopicKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::{ApiError, Body, ErrorBody};
use super::openapi::{Name, TopicKindName};
use super::scope::{BUILDERS, TENANT_ROLES, app_group, list_in_app, tenant_application};
use super::{ApiState, PageOf, PageQuery, check_name};

/// A notification topic.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicView {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Name, unique in the application.
    pub name: String,
    /// `mandatory` or `optional`.
    #[schema(value_type = TopicKindName)]
    pub kind: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

impl From<&Topic> for TopicView {
    fn from(t: &Topic) -> Self {
        Self {
            id: t.id.clone(),
            app_id: t.app_id.clone(),
            name: t.name.clone(),
            kind: t.kind.name().to_owned(),
            created_ms: t.created_ms,
        }
    }
}

/// A new topic.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTopic {
    /// Name, unique in the application.
    #[schema(value_type = Name)]
    pub name: String,
    /// `mandatory` (every endpoint of an attached group receives it) or `optional` (endpoints
    /// subscribe).
    #[schema(value_type = TopicKindName)]
    pub kind: String,
}

/// The application's topics.
#[utoipa::path(tag = "topics", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = PageOf<TopicView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/topics")]
pub async fn list_topics(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_in_app::<Topic, _>(&state, &caller, &id, &query, |t| TopicView::from(t)).await
}

/// Creates a topic (TENANT_DEVELOPER).
#[utoipa::path(tag = "topics", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewTopic,
    responses((status = 201, body = TopicView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/api/v1/applications/{id}/topics")]
pub async fn create_topic(
    state: web::Data<ApiState>,
    caller: Caller,
    id: web::Path<String>,
    Body(new): Body<NewTopic>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let app = tenant_application(&state, &caller, &id).await?;
    check_name("name", &new.name)?;
    let kind = TopicKind::parse(&new.kind)
        .ok_or_else(|| ApiError::invalid("kind", "must be mandatory or optional"))?;
    let topic = state
        .metadata
        .store()
        .create_topic(&app.id, &new.name, kind)
        .await?;
    Ok(HttpResponse::Created().json(TopicView::from(&topic)))
}

/// The topics attached to a group.
#[utoipa::path(tag = "topics", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path)),
    responses((status = 200, body = Vec<TopicView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/v1/applications/{id}/groups/{group}/topics")]
pub async fn list_group_topics(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&TENANT_ROLES)?;
    let (app_id, group_id) = path.into_inner();
    let group = app_group(&state, &caller, &app_id, &group_id).await?;
    let topics = state.metadata.store().group_topics(&group.id).await?;
    Ok(HttpResponse::Ok().json(topics.iter().map(TopicView::from).collect::<Vec<_>>()))
}

/// Attaches the topic of path `(application, group, topic)` to the group, or detaches it
/// (TENANT_DEVELOPER).
async fn set_attachment(
    state: &ApiState,
    caller: &Caller,
    (app_id, group_id, topic_id): (String, String, String),
    attached: bool,
) -> Result<HttpResponse, ApiError> {
    caller.require(&BUILDERS)?;
    let group = app_group(state, caller, &app_id, &group_id).await?;
    state
        .metadata
        .set_topic_attachment(&group, &topic_id, attached)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Attaches a topic to a group (TENANT_DEVELOPER).
#[utoipa::path(tag = "topics", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("topic" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[put("/api/v1/applications/{id}/groups/{group}/topics/{topic}")]
pub async fn attach_topic(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    set_attachment(&state, &caller, path.into_inner(), true).await
}

/// Detaches a topic from a group (TENANT_DEVELOPER).
#[utoipa::path(tag = "topics", security(("bearer" = [])), params(("id" = String, Path), ("group" = String, Path), ("topic" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/v1/applications/{id}/groups/{group}/topics/{topic}")]
pub async fn detach_topic(
    state: web::Data<ApiState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    set_attachment(&state, &caller, path.into_inner(), false).await
}
