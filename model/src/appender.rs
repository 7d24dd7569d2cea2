//! Log appenders as both sides see them: the settings of each appender type, the header fields a
//! record may carry and where a Cassandra column takes its value from.
//!
//! Control checks an appender's settings with these types before storing it; Operations reads
//! the stored settings back into the same types to run the appender, so the two cannot disagree.

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

/// `cassandra`: one row per record in `keyspace.table`, keyed by a time-ordered UUID `id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CassandraSettings {
    /// Keyspace (default: the node's endpoint-store keyspace); created when missing.
    pub keyspace: Option<String>,
    /// Table, created when missing.
    pub table: String,
    /// Columns besides `id` and where their values come from.
    pub columns: Vec<CassandraColumn>,
    /// Row time to live; none: kept.
    pub ttl_seconds: Option<u32>,
    /// `host:port` of the Cassandra nodes (default: the node's endpoint store's).
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

/// `mongodb`: one document per record, `{header, event}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    /// Collection.
    pub collection: String,
    /// Documents expire this long after they were written; none: kept.
    pub ttl_seconds: Option<u32>,
    /// `mongodb://` connection string (default: the node's endpoint store's).
    pub url: Option<String>,
    /// Database (default: the node's endpoint store's).
    pub database: Option<String>,
}

/// `file`: JSON lines `{header, event}` in a file rolled over by size.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Absolute path of the current file; rolled files get `.1`, `.2`, … appended.
    pub path: String,
    /// Roll over once the file would grow past this many bytes (default 64 MiB).
    pub max_file_bytes: Option<u64>,
    /// Rolled files kept (default 10).
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
        if let Some(keyspace) = &self.keyspace {
            identifier("settings.keyspace", keyspace)?;
        }
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
        if let Some(database) = &self.database {
            identifier("settings.database", database)?;
        }
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
    /// Checks the path and limits.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if !self.path.starts_with('/') || self.path.contains("..") || self.path.len() > 1024 {
            return Err(invalid(
                "settings.path",
                "must be an absolute path without ..",
            ));
        }
        if self.max_file_bytes == Some(0) || self.max_files == Some(0) {
            return Err(invalid(
                "settings",
                "max_file_bytes and max_files must be positive",
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
            keyspace: None,
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
            database: None,
        };
        assert_eq!(mongo.check().unwrap_err().field, "settings.url");
        let rest = RestSettings {
            url: "ftp://x".into(),
            timeout_ms: None,
            retries: None,
        };
        assert_eq!(rest.check().unwrap_err().field, "settings.url");
        let file = FileSettings {
            path: "relative/logs".into(),
            max_file_bytes: None,
            max_files: None,
        };
        assert_eq!(file.check().unwrap_err().field, "settings.path");
    }
}
