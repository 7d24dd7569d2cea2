//! The vocabulary and limits the admin API enforces, in one place: the handlers check requests
//! against them and the OpenAPI document declares them, so the two cannot drift apart.

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;

/// The longest password accepted, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The log record header fields an appender can write (Kaa's names).
pub const HEADER_FIELDS: [&str; 5] = ["KEYHASH", "VERSION", "TIMESTAMP", "TOKEN", "LSVERSION"];

/// The log appender types.
pub const APPENDER_TYPES: [&str; 4] = ["cassandra", "mongodb", "file", "rest"];

/// The user verifier types.
pub const VERIFIER_TYPES: [&str; 2] = ["trustful", "http"];
