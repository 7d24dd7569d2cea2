//! The vocabulary and limits the admin API enforces, in one place: the handlers check requests
//! against them and the OpenAPI document declares them, so the two cannot drift apart.

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;

/// The longest password accepted, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Log appender types and header fields, user verifier types: shared with Operations.
pub use kaa_model::appender::{APPENDER_TYPES, HEADER_FIELDS};
pub use kaa_model::verifier::VERIFIER_TYPES;
