//! What the OpenAPI document says beyond the handlers' own declarations: the schemas of the
//! constrained strings the handlers check (names, passwords, the closed sets of words), and the
//! responses every operation shares, added once by [`CommonResponses`].
//!
//! The schema types here stand in for the `String` fields that carry these values
//! (`#[schema(value_type = Name)]`); each is built from the same constants and names the checks
//! use, and the tests hold the two together.

use std::borrow::Cow;

use kaa_model::Role;
use kaa_store::metadata::{
    CREDENTIALS_SERVICES, DocumentStatus, EventAction, EventClassKind, SCHEMA_KINDS, TopicKind,
};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, PartialSchema, ToSchema};

use super::error::{ErrorBody, MAX_BODY_BYTES};
use super::limits::{
    APPENDER_TYPES, HEADER_FIELDS, MAX_PASSWORD_CHARS, MIN_PASSWORD_LEN, VERIFIER_TYPES,
};
use super::{MAX_NAME_CHARS, NAME_PATTERN};

/// Declares a unit type whose OpenAPI schema is the string schema `$schema`, named `$name`.
macro_rules! string_schema {
    ($(#[$doc:meta])* $ty:ident = $name:literal, $schema:expr) => {
        $(#[$doc])*
        pub struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                let builder: ObjectBuilder = $schema;
                builder.schema_type(Type::String).into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

/// A string schema of exactly the words `values`, described by `description`.
fn words<'a>(description: &str, values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .description(Some(description))
        .enum_values(Some(values))
}

string_schema!(
    /// A display name, as [`super::check_name`] takes it.
    Name = "Name",
    ObjectBuilder::new()
        .description(Some(
            "1 to 128 characters, no control characters, not starting or ending with white space",
        ))
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_CHARS))
        .pattern(Some(NAME_PATTERN))
);

string_schema!(
    /// A new password, as [`super::password::check_password`] takes it.
    Password = "Password",
    ObjectBuilder::new()
        .description(Some("8 to 1024 characters"))
        .min_length(Some(MIN_PASSWORD_LEN))
        .max_length(Some(MAX_PASSWORD_CHARS))
);

string_schema!(
    /// A user's role.
    RoleName = "Role",
    words("A user's role", Role::ALL.map(Role::name))
);

string_schema!(
    /// How an application's endpoints are admitted.
    CredentialsServiceName = "CredentialsService",
    words(
        "`trustful`: any endpoint key is accepted; `internal`: only provisioned credentials",
        CREDENTIALS_SERVICES,
    )
);

string_schema!(
    /// A notification topic's kind.
    TopicKindName = "TopicKind",
    words(
        "`mandatory`: every endpoint of an attached group receives it; `optional`: endpoints \
         subscribe",
        [TopicKind::Mandatory, TopicKind::Optional].map(TopicKind::name),
    )
);

string_schema!(
    /// An event class's kind.
    EventClassKindName = "EventClassKind",
    words(
        "`event`: sent between endpoints; `object`: a type events carry",
        [EventClassKind::Event, EventClassKind::Object].map(EventClassKind::name),
    )
);

string_schema!(
    /// What an application's endpoints do with an event class.
    EventActionName = "EventAction",
    words(
        "`source`: endpoints send it; `sink`: they receive it; `both`",
        [EventAction::Source, EventAction::Sink, EventAction::Both].map(EventAction::name),
    )
);

string_schema!(
    /// Where a configuration or profile filter is in its life.
    DocumentStatusName = "DocumentStatus",
    words(
        "`draft`: editable, not in effect; `active`: in effect; `deprecated`: was in effect",
        [
            DocumentStatus::Draft,
            DocumentStatus::Active,
            DocumentStatus::Deprecated,
        ]
        .map(DocumentStatus::name),
    )
);

string_schema!(
    /// The kind of an application's schema.
    SchemaKindName = "SchemaKind",
    words("The kind of an application's schema", SCHEMA_KINDS)
);

string_schema!(
    /// A log appender's type.
    AppenderTypeName = "LogAppenderType",
    words("Where a log appender writes", APPENDER_TYPES)
);

string_schema!(
    /// A log record header field.
    HeaderFieldName = "LogHeaderField",
    words("A log record header field", HEADER_FIELDS)
);

string_schema!(
    /// A user verifier's type.
    VerifierTypeName = "UserVerifierType",
    words(
        "`trustful`: accepts any owner; `http`: checks the access token at a URL",
        VERIFIER_TYPES,
    )
);

/// The body of a group document: a configuration is a JSON object, a profile filter an
/// expression string.
pub struct DocumentBody;

impl PartialSchema for DocumentBody {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("A configuration")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("A profile filter expression")),
            )
            .description(Some(
                "A configuration (a JSON object) or a profile filter expression (a string)",
            ))
            .into()
    }
}

impl ToSchema for DocumentBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DocumentBody")
    }
}

/// A response shared by many operations, kept once under `components/responses`.
struct Common {
    status: &'static str,
    name: &'static str,
    description: String,
}

fn common_responses() -> [Common; 9] {
    let common = |status, name, description: &str| Common {
        status,
        name,
        description: description.to_owned(),
    };
    [
        common(
            "400",
            "BadRequest",
            "Malformed: the body is not a JSON object of the request's shape (`invalid_body`: \
             bad JSON, an unknown field, a wrong type) or a query parameter is unknown or \
             malformed (`invalid_query`); `field` names the culprit",
        ),
        common(
            "401",
            "Unauthorized",
            "No valid session (`unauthenticated`): log in and send `Authorization: Bearer \
             <token>`",
        ),
        Common {
            status: "413",
            name: "PayloadTooLarge",
            description: format!(
                "The body is larger than {MAX_BODY_BYTES} bytes (`body_too_large`)"
            ),
        },
        common(
            "403",
            "Forbidden",
            "The caller's role does not allow this (`forbidden`)",
        ),
        common(
            "404",
            "NotFound",
            "Nothing with this id, or not visible to the caller (`not_found`); another tenant's \
             records answer this as absent ones do",
        ),
        common(
            "409",
            "Conflict",
            "A name or value is taken, the record is still in use, or a concurrent change won \
             (`conflict`)",
        ),
        common(
            "415",
            "UnsupportedMediaType",
            "The body is not sent as `application/json` (`unsupported_media_type`)",
        ),
        common(
            "422",
            "Invalid",
            "A well-formed value breaks a rule (`invalid`); `field` names it",
        ),
        common(
            "503",
            "Unavailable",
            "Storage failed (`storage_unavailable`), or this node is a standby \
             Control (`not_leader`, with the leader's admin URL in `X-Kaa-Leader`); try again",
        ),
    ]
}

/// Whether `operation` needs a session.
fn is_secured(operation: &Operation) -> bool {
    operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty())
}

fn has_parameter(operation: &Operation, location: ParameterIn) -> bool {
    operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == location)
}

/// The shared responses `operation` can answer: 503 always; 401 with a session; 400, 413 and 415
/// with a body; 400 and 422 (offset or limit out of range) with query parameters; 404 with path
/// parameters. A body's rules (422) are the handler's to declare.
fn statuses_of(operation: &Operation) -> Vec<&'static str> {
    let mut statuses = vec!["503"];
    if is_secured(operation) {
        statuses.push("401");
    }
    if operation.request_body.is_some() {
        statuses.extend(["400", "413", "415"]);
    }
    if has_parameter(operation, ParameterIn::Query) {
        statuses.extend(["400", "422"]);
    }
    if has_parameter(operation, ParameterIn::Path) {
        statuses.push("404");
    }
    statuses
}

/// Adds the responses the extractors and the node answer to every operation they can happen to
/// (malformed body or query, no session, body too large or not JSON, query value out of range,
/// unknown path id, storage or leadership failure), with the error body, unless the operation
/// declares them itself; and describes the error responses operations declare without words
/// (`(status = 403, body = ErrorBody)`) by the shared ones.
pub struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let common = common_responses();
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .entry(ErrorBody::name().into_owned())
            .or_insert_with(ErrorBody::schema);
        for response in &common {
            components.responses.insert(
                response.name.to_owned(),
                error_response(&response.description),
            );
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in &mut operation.responses.responses {
                    let undescribed =
                        matches!(response, RefOr::T(inline) if inline.description.is_empty());
                    if let Some(common) = common.iter().find(|c| c.status == status)
                        && undescribed
                    {
                        *response = RefOr::Ref(Ref::from_response_name(common.name));
                    }
                }
                for status in statuses_of(operation) {
                    let Some(common) = common.iter().find(|c| c.status == status) else {
                        continue;
                    };
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(common.name)));
                }
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(ErrorBody::name()))),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use utoipa::OpenApi;

    use super::super::{ApiDoc, check_name};
    use super::*;

    fn schema_json<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    fn enum_of<T: PartialSchema>() -> Vec<String> {
        schema_json::<T>()["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn word_lists_are_what_the_checks_take() {
        let roles: Vec<String> = enum_of::<RoleName>();
        assert_eq!(
            roles,
            [
                "KAA_ADMIN",
                "TENANT_ADMIN",
                "TENANT_DEVELOPER",
                "TENANT_USER"
            ]
        );
        for role in &roles {
            serde_json::from_value::<Role>(Value::String(role.clone())).unwrap();
        }
        assert_eq!(enum_of::<TopicKindName>(), ["mandatory", "optional"]);
        for kind in enum_of::<TopicKindName>() {
            assert!(TopicKind::parse(&kind).is_some());
        }
        assert_eq!(enum_of::<EventClassKindName>(), ["event", "object"]);
        for kind in enum_of::<EventClassKindName>() {
            assert!(EventClassKind::parse(&kind).is_some());
        }
        assert_eq!(enum_of::<EventActionName>(), ["source", "sink", "both"]);
        for action in enum_of::<EventActionName>() {
            assert!(EventAction::parse(&action).is_some());
        }
        assert_eq!(
            enum_of::<CredentialsServiceName>(),
            ["trustful", "internal"]
        );
        assert_eq!(
            enum_of::<DocumentStatusName>(),
            ["draft", "active", "deprecated"]
        );
        assert_eq!(enum_of::<AppenderTypeName>().len(), 4);
        assert_eq!(enum_of::<VerifierTypeName>(), ["trustful", "http"]);
        assert_eq!(enum_of::<HeaderFieldName>().len(), 5);
        assert_eq!(enum_of::<SchemaKindName>().len(), 5);
    }

    #[test]
    fn string_limits_are_what_the_checks_take() {
        let name = schema_json::<Name>();
        assert_eq!(name["minLength"], 1);
        assert_eq!(name["maxLength"], 128);
        assert_eq!(name["pattern"], NAME_PATTERN);
        let password = schema_json::<Password>();
        assert_eq!(password["minLength"], 8);
        assert_eq!(password["maxLength"], 1024);
        assert!(super::super::password::check_password("p", &"é".repeat(1024)).is_ok());
        assert!(super::super::password::check_password("p", &"é".repeat(1025)).is_err());
        assert!(super::super::password::check_password("p", &"é".repeat(8)).is_ok());
        assert!(super::super::password::check_password("p", &"é".repeat(7)).is_err());
        assert!(check_name("n", &"é".repeat(128)).is_ok());
        assert!(check_name("n", &"é".repeat(129)).is_err());
    }

    #[test]
    fn every_operation_declares_the_shared_responses() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for name in [
            "BadRequest",
            "Unauthorized",
            "Forbidden",
            "Conflict",
            "PayloadTooLarge",
            "UnsupportedMediaType",
            "Invalid",
            "NotFound",
            "Unavailable",
        ] {
            assert_eq!(
                doc["components"]["responses"][name]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{name}"
            );
        }
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let has = |status: &str| responses.contains_key(status);
                let at = format!("{method} {path}");
                assert!(has("503"), "{at}");
                let secured = operation["security"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty());
                assert_eq!(
                    secured,
                    path != "/api/v1/auth/login" && path != "/api/v1/openapi.json",
                    "{at}"
                );
                if secured {
                    assert!(has("401"), "{at}");
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "415"] {
                        assert!(has(status), "{at}: {status}");
                    }
                }
                if path.contains('{') {
                    assert!(has("404"), "{at}");
                }
                for (status, response) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let described = response.get("$ref").is_some()
                            || response["description"]
                                .as_str()
                                .is_some_and(|d| !d.is_empty());
                        assert!(described, "{at}: {status} undescribed");
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 70, "{checked} operations");
    }
}
