//! Log appenders as both sides see them: the settings of each appender type, the header fields a
//! record may carry and where a Cassandra column takes its value from.
//!
//! Control checks an appender's settings with these types before storing it; Operations reads
//! the stored settings back into the same types to run the appender, so the two cannot disagree.
//!
//! Tenants name things only inside their own space: a Cassandra table in the tenant's keyspace
//! and a MongoDB collection in the tenant's database (both [`log_namespace`]), a file by a bare
//! name that Operations places under `<file appender root>/<tenant>/<application>/`.

use serde::Deserialize;

/// The log appender types.
pub const APPENDER_TYPES: [&str; 4] = ["cassandra", "mongodb", "file", "rest"];

/// The log record header fields an appender can write (Kaa's names).
pub const HEADER_FIELDS: [&str; 5] = ["KEYHASH", "VERSION", "TIMESTAMP", "TOKEN", "LSVERSION"];

/// A header field an appender may write, as named in its `header_fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderField {
    /// `KEYHASH`: the endpoint's key hash, base64.
    KeyHash,
    /// `VERSION`: the header layout version.
    Version,
    /// `TIMESTAMP`: when the server received the batch, Unix milliseconds.
    Timestamp,
    /// `TOKEN`: the application token.
    Token,
    /// `LSVERSION`: the log schema version the records were encoded with.
    LogSchemaVersion,
}

impl HeaderField {
    /// The field named `name`, one of [`HEADER_FIELDS`].
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "KEYHASH" => Self::KeyHash,
            "VERSION" => Self::Version,
            "TIMESTAMP" => Self::Timestamp,
            "TOKEN" => Self::Token,
            "LSVERSION" => Self::LogSchemaVersion,
            _ => return None,
        })
    }

    /// The field's name in written documents, as Kaa's log header record names it.
    pub fn json_name(self) -> &'static str {
        match self {
            Self::KeyHash => "endpointKeyHash",
            Self::Version => "headerVersion",
            Self::Timestamp => "timestamp",
            Self::Token => "applicationToken",
            Self::LogSchemaVersion => "logSchemaVersion",
        }
    }

    /// The fields of an appender's stored `header_fields` JSON array; unknown names are skipped
    /// (Control accepts only known ones).
    pub fn parse_list(json: &str) -> Vec<HeaderField> {
        serde_json::from_str::<Vec<String>>(json)
            .unwrap_or_default()
            .iter()
            .filter_map(|name| Self::parse(name))
            .collect()
    }
}

/// Where a Cassandra column's value comes from: `header.<FIELD>`, `record.<path>` or `record`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// A header field.
    Header(HeaderField),
    /// A field of the record, by dotted path; empty: the whole record as JSON.
    Record(Vec<String>),
}

impl ColumnSource {
    /// Parses a column source.
    pub fn parse(text: &str) -> Option<Self> {
        match text.split_once('.') {
            Some(("header", field)) => HeaderField::parse(field).map(Self::Header),
            Some(("record", path)) if !path.is_empty() && !path.split('.').any(str::is_empty) => {
                Some(Self::Record(path.split('.').map(str::to_owned).collect()))
            }
            None if text == "record" => Some(Self::Record(Vec::new())),
            _ => None,
        }
    }
}

/// What every tenant's log keyspace (Cassandra) and database (MongoDB) is called after.
pub const LOG_NAMESPACE_PREFIX: &str = "kaa_logs_";

/// The Cassandra keyspace and MongoDB database that hold tenant `tenant_id`'s logs:
/// [`LOG_NAMESPACE_PREFIX`] and the id's letters and digits, lowercase (a UUID's 32 hex digits),
/// at most 48 characters as Cassandra allows.
pub fn log_namespace(tenant_id: &str) -> String {
    let mut name = LOG_NAMESPACE_PREFIX.to_owned();
    name.extend(
        tenant_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .take(48 - LOG_NAMESPACE_PREFIX.len()),
    );
    name
}

/// Longest file name a file appender may take, leaving room for the rolled files' `.<n>`.
pub const MAX_FILE_NAME: usize = 200;

/// Why `name` cannot be a file (or directory) name under the file appender root: it must be
/// one plain name of letters, digits, `.`, `_` and `-`, not starting with `.` (so neither `..`
/// nor hidden files) and not ending in `.<digits>` (the rolled files' names).
pub fn file_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > MAX_FILE_NAME {
        Some("must be a file name of 1 to 200 characters")
    } else if name.starts_with('/') {
        Some("must be a relative file name, not an absolute path")
    } else if name.contains('/') || name.contains('\\') {
        Some("must be a file name without directories")
    } else if name.starts_with('.') {
        Some("must not start with . (no .. and no hidden files)")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Some("may hold only letters, digits, ., _ and -")
    } else if name
        .rsplit_once('.')
        .is_some_and(|(_, last)| !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
    {
        Some("must not end in .<number>, which rolled files use")
    } else {
        None
    }
}

/// Largest `max_file_bytes` Control takes (1 TiB); each node may cap it lower.
pub const MAX_FILE_BYTES_LIMIT: u64 = 1 << 40;
/// Largest `max_files` Control takes; each node may cap it lower.
pub const MAX_FILES_LIMIT: u32 = 1000;

/// A setting that cannot be used: the dotted field under `settings` and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSetting {
    /// Dotted path, e.g. `settings.columns[1].source`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        field: field.into(),
        message: message.into(),
    }
}

/// A lowercase CQL or MongoDB identifier: a-z, 0-9 and `_`, at most 48.
fn identifier(field: &str, name: &str) -> Result<(), InvalidSetting> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 48;
    if valid {
        Ok(())
    } else {
        Err(invalid(
            field,
            "must be a lowercase identifier: a-z, 0-9 and _, at most 48",
        ))
    }
}

/// An `http://` or `https://` URL with a host.
pub fn check_http_url(field: &str, url: &str) -> Result<(), InvalidSetting> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty() && !url.chars().any(char::is_whitespace) && url.len() <= 2048 =>
        {
            Ok(())
        }
        _ => Err(invalid(field, "must be an http:// or https:// URL")),
    }
}

/// `cassandra`: one row per record in a table of the tenant's keyspace ([`log_namespace`]),
/// keyed by a time-ordered UUID `id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraSettings {
    /// Table in the tenant's keyspace; both are created when missing.
    pub table: String,
    /// Columns besides `id` and where their values come from.
    pub columns: Vec<CassandraColumn>,
    /// Row time to live; none: kept.
    pub ttl_seconds: Option<u32>,
    /// `host:port` of the Cassandra nodes (default: the node's endpoint store's); outside the
    /// operator's allow-list, only public addresses.
    pub contact_points: Option<Vec<String>>,
}

/// One column of a Cassandra appender.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraColumn {
    /// Column name.
    pub name: String,
    /// `header.<FIELD>`, `record.<path>` or `record`.
    pub source: String,
}

/// `mongodb`: one document per record, `{header, event}`, in a collection of the tenant's
/// database ([`log_namespace`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    /// Collection in the tenant's database.
    pub collection: String,
    /// Documents expire this long after they were written; none: kept.
    pub ttl_seconds: Option<u32>,
    /// `mongodb://` connection string (default: the node's endpoint store's); outside the
    /// operator's allow-list, only public addresses.
    pub url: Option<String>,
}

/// `file`: JSON lines `{header, event}` in a file rolled over by size, on each Operations node
/// at `<file appender root>/<tenant id>/<application id>/<path>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Name of the current file (see [`file_name_problem`]); rolled files get `.1`, `.2`, …
    /// appended.
    pub path: String,
    /// Roll over once the file would grow past this many bytes (default 64 MiB; each node caps
    /// it at its `operations.file_appender_max_file_bytes`).
    pub max_file_bytes: Option<u64>,
    /// Rolled files kept (default 10; each node caps it at `operations.file_appender_max_files`).
    pub max_files: Option<u32>,
}

/// `rest`: each batch POSTed as a JSON array of `{header, event}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestSettings {
    /// Where batches go.
    pub url: String,
    /// Per-attempt timeout (default 5000).
    pub timeout_ms: Option<u64>,
    /// Further attempts after a failed one (default 2).
    pub retries: Option<u32>,
}

impl CassandraSettings {
    /// Checks names and sources.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        identifier("settings.table", &self.table)?;
        if self.columns.is_empty() {
            return Err(invalid("settings.columns", "name at least one column"));
        }
        for (i, column) in self.columns.iter().enumerate() {
            identifier(&format!("settings.columns[{i}].name"), &column.name)?;
            if column.name == "id" {
                return Err(invalid(
                    format!("settings.columns[{i}].name"),
                    "id is the row key the appender writes itself",
                ));
            }
            if ColumnSource::parse(&column.source).is_none() {
                return Err(invalid(
                    format!("settings.columns[{i}].source"),
                    "must be header.<KEYHASH|VERSION|TIMESTAMP|TOKEN|LSVERSION>, record.<field path> or record",
                ));
            }
        }
        if let Some(points) = &self.contact_points {
            let bad = points.iter().position(|p| {
                p.rsplit_once(':')
                    .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            });
            if points.is_empty() || bad.is_some() {
                return Err(invalid(
                    format!("settings.contact_points[{}]", bad.unwrap_or(0)),
                    "must be host:port",
                ));
            }
        }
        Ok(())
    }
}

impl MongoSettings {
    /// Checks names and the URL.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        identifier("settings.collection", &self.collection)?;
        if let Some(url) = &self.url
            && !url.starts_with("mongodb://")
            && !url.starts_with("mongodb+srv://")
        {
            return Err(invalid("settings.url", "must be a mongodb:// URL"));
        }
        Ok(())
    }
}

impl FileSettings {
    /// Checks the file name and limits.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if let Some(problem) = file_name_problem(&self.path) {
            return Err(invalid("settings.path", problem));
        }
        if self
            .max_file_bytes
            .is_some_and(|n| n == 0 || n > MAX_FILE_BYTES_LIMIT)
        {
            return Err(invalid(
                "settings.max_file_bytes",
                format!("must be between 1 and {MAX_FILE_BYTES_LIMIT}"),
            ));
        }
        if self
            .max_files
            .is_some_and(|n| n == 0 || n > MAX_FILES_LIMIT)
        {
            return Err(invalid(
                "settings.max_files",
                format!("must be between 1 and {MAX_FILES_LIMIT}"),
            ));
        }
        Ok(())
    }
}

impl RestSettings {
    /// Checks the URL and limits.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        check_http_url("settings.url", &self.url)?;
        if self.retries.is_some_and(|r| r > 20) {
            return Err(invalid("settings.retries", "must be at most 20"));
        }
        if self.timeout_ms.is_some_and(|t| t == 0 || t > 600_000) {
            return Err(invalid(
                "settings.timeout_ms",
                "must be between 1 and 600000",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_parse_from_the_stored_list() {
        assert_eq!(
            HeaderField::parse_list(r#"["KEYHASH","LSVERSION","NOPE"]"#),
            vec![HeaderField::KeyHash, HeaderField::LogSchemaVersion]
        );
        for name in HEADER_FIELDS {
            assert!(HeaderField::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn column_sources_parse_header_fields_and_record_paths() {
        assert_eq!(
            ColumnSource::parse("header.TIMESTAMP"),
            Some(ColumnSource::Header(HeaderField::Timestamp))
        );
        assert_eq!(
            ColumnSource::parse("record.origin.host"),
            Some(ColumnSource::Record(vec!["origin".into(), "host".into()]))
        );
        assert_eq!(
            ColumnSource::parse("record"),
            Some(ColumnSource::Record(vec![]))
        );
        for bad in [
            "header.NOPE",
            "record.",
            "record.a..b",
            "records",
            "body.level",
        ] {
            assert_eq!(ColumnSource::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn checks_name_the_offending_setting() {
        let cassandra = CassandraSettings {
            table: "logs".into(),
            columns: vec![
                CassandraColumn {
                    name: "level".into(),
                    source: "record.level".into(),
                },
                CassandraColumn {
                    name: "at".into(),
                    source: "header.WHEN".into(),
                },
            ],
            ttl_seconds: None,
            contact_points: None,
        };
        assert_eq!(
            cassandra.check().unwrap_err().field,
            "settings.columns[1].source"
        );
        let points = CassandraSettings {
            columns: cassandra.columns[..1].to_vec(),
            contact_points: Some(vec!["db1:9042".into(), "db2".into()]),
            ..cassandra
        };
        assert_eq!(
            points.check().unwrap_err().field,
            "settings.contact_points[1]"
        );
        let mongo = MongoSettings {
            collection: "logs".into(),
            ttl_seconds: None,
            url: Some("http://x".into()),
        };
        assert_eq!(mongo.check().unwrap_err().field, "settings.url");
        let rest = RestSettings {
            url: "ftp://x".into(),
            timeout_ms: None,
            retries: None,
        };
        assert_eq!(rest.check().unwrap_err().field, "settings.url");
        let file = FileSettings {
            path: "logs".into(),
            max_file_bytes: None,
            max_files: Some(MAX_FILES_LIMIT + 1),
        };
        assert_eq!(file.check().unwrap_err().field, "settings.max_files");
    }

    #[test]
    fn a_file_appender_takes_only_a_plain_file_name() {
        for good in ["readings.log", "a", "meters-2026_12.jsonl", "v1.2.log"] {
            assert_eq!(file_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "logs/readings.log",
            "..",
            "../x",
            ".hidden",
            "a\\b",
            "white space",
            "nul\0",
            "readings.log.3",
            &"x".repeat(MAX_FILE_NAME + 1),
        ] {
            assert!(file_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn log_namespaces_are_the_tenant_ids_letters_and_digits() {
        assert_eq!(
            log_namespace("019aF0c2-7b1e-7c3d-9e8f-0123456789ab"),
            "kaa_logs_019af0c27b1e7c3d9e8f0123456789ab"
        );
        assert_eq!(log_namespace(&"9".repeat(100)).len(), 48);
        assert!(identifier("settings", &log_namespace("019af0c2-7b1e")).is_ok());
    }
}
