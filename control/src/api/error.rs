//! The admin API's one error type and its JSON shape `{"error", "message", "field"}`, and the JSON
//! body extractor that names the offending field.
//!
//! Every failure maps to a fitting 4xx; a 5xx means a bug or a storage outage, and its body never
//! carries internals (they go to the log).

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures::future::LocalBoxFuture;
use kaa_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::strict::Strict;

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code, e.g. `invalid_body`, `not_found`, `forbidden`.
    pub error: &'static str,
    /// What went wrong, in words.
    pub message: String,
    /// The request field at fault, as a path like `config.interval`, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answered to an admin API client.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: code,
                message: message.into(),
                field: None,
            },
        }
    }

    /// Names the request field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// 422: a well-formed request that breaks a rule, naming the field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).field(field)
    }

    /// 401: no valid session.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in and send the token as `Authorization: Bearer <token>`",
        )
    }

    /// 403: the caller's role does not allow this.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role does not allow this",
        )
    }

    /// 404: nothing of `what` here (or not visible to the caller).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.body.error, self.body.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(&self.body)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("already taken or still in use: {what}"),
            ),
            StoreError::Invalid(rule) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", rule)
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "storage (the metadata database or the endpoint store) failed; try again",
                )
            }
        }
    }
}

/// The largest JSON body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A JSON request body of type `T`: wrong content type → 415, too large → 413, malformed or not
/// matching `T` → 400 naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = request
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ));
            }
            let bytes = bytes.await.map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body must be at most {MAX_BODY_BYTES} bytes"),
                )
            })?;
            parse(&bytes).map(Body)
        })
    }
}

/// Decodes `bytes` as `T`, naming the field of the first error.
///
/// Every request body is a JSON object. serde would also read a struct from an array of its
/// fields in declaration order (`["acme"]` as `{"name": "acme"}`), which the OpenAPI document
/// does not allow and no client means, so anything but an object is refused first, and nested
/// structs too must be objects ([`Strict`]): `{"classes": [[{…}, "event"]]}` fails at
/// `classes[0]`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(Strict(&mut deserializer)).map_err(|error| {
        let message = error.inner().to_string();
        let field = error.path().to_string();
        let error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", message);
        if field == "." {
            error
        } else {
            error.field(field)
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?;
    Ok(value)
}

/// Decodes the JSON `value` found at request field `field` as `T`, naming the inner field of the
/// first error (`settings.columns[1].name`). `value` must be a JSON object, and so must every
/// struct in it, as in [`parse`].
pub fn parse_value<T: DeserializeOwned>(
    field: &str,
    value: &serde_json::Value,
) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid(field, "must be a JSON object"));
    }
    serde_path_to_error::deserialize(Strict(value)).map_err(|error| {
        let inner = error.path().to_string();
        let at = if inner == "." {
            field.to_owned()
        } else {
            format!("{field}.{inner}")
        };
        ApiError::invalid(&at, error.inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        weight: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    fn field_of(json: &str) -> Option<String> {
        parse::<Outer>(json.as_bytes()).unwrap_err().body.field
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"name": 1, "inner": {"weight": 1}}"#).as_deref(),
            Some("name")
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"weight": "x"}}"#).as_deref(),
            Some("inner.weight")
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"weight": 1}, "extra": 1}"#).as_deref(),
            Some("extra")
        );
        assert_eq!(
            field_of(r#"{"name": "a", "inner": {"weight": 1, "w": 2}}"#).as_deref(),
            Some("inner.w")
        );
        assert!(parse::<Outer>(b"not json").is_err());
        assert!(parse::<Outer>(br#"{"name": "a", "inner": {"weight": 1}} trailing"#).is_err());
    }

    #[test]
    fn structs_come_only_from_objects() {
        // serde alone reads a struct from an array of its fields.
        let inner: Inner = serde_json::from_str("[1]").unwrap();
        assert_eq!(inner.weight, 1);
        for body in [r#"["a", [1]]"#, " [null, null]", "1", "null", r#""a""#, ""] {
            let error = parse::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error.body.error, "invalid_body", "{body}");
        }
        assert!(parse::<Inner>(b" \n{\"weight\": 1}").is_ok());
        let error = parse_value::<Inner>("settings", &serde_json::json!([1])).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.body.field.as_deref(), Some("settings"));
        assert!(parse_value::<Inner>("settings", &serde_json::json!({"weight": 1})).is_ok());
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Settings {
        columns: Vec<Inner>,
    }

    #[test]
    fn nested_structs_come_only_from_objects() {
        // serde alone reads nested structs from arrays too.
        assert!(serde_json::from_str::<Outer>(r#"{"name": "a", "inner": [1]}"#).is_ok());
        let error = parse::<Outer>(br#"{"name": "a", "inner": [1]}"#).unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.body.error, "invalid_body");
        assert_eq!(error.body.field.as_deref(), Some("inner"));
        assert!(
            error
                .body
                .message
                .starts_with("invalid type: sequence, expected a JSON object"),
            "{}",
            error.body.message
        );

        let settings = serde_json::json!({"columns": [{"weight": 1}, [2]]});
        let error = parse_value::<Settings>("settings", &settings).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.body.field.as_deref(), Some("settings.columns[1]"));
        assert!(
            parse_value::<Settings>("settings", &serde_json::json!({"columns": [{"weight": 1}]}))
                .is_ok()
        );
    }
}
