//! A batch of collected log records as appenders write it: the header Kaa's appenders know
//! (endpoint key hash, application token, header version, timestamp, log schema version) and
//! each record decoded from Avro into JSON.
//!
//! Pure: decoding, header selection and column values, so appenders only move bytes.

use base64::Engine;
use kaa_idl::endpoint::sync::LogEntry;
use kaa_model::appender::{ColumnSource, HeaderField};
use kaa_model::schema::AvroSchema;
use serde_json::{Map, Value};

/// The version of the header layout written with each record (Kaa's `headerVersion`).
pub const HEADER_VERSION: i64 = 1;

/// What every record of one batch shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHeader {
    /// The endpoint's key hash, base64.
    pub endpoint_key_hash: String,
    /// The application token.
    pub application_token: String,
    /// When the server received the batch, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The log schema version the records were encoded with.
    pub log_schema_version: i64,
}

impl LogHeader {
    /// The header of a batch from endpoint `key_hash`.
    pub fn new(
        key_hash: &[u8],
        application_token: &str,
        timestamp_ms: i64,
        log_schema_version: i64,
    ) -> Self {
        Self {
            endpoint_key_hash: base64::engine::general_purpose::STANDARD.encode(key_hash),
            application_token: application_token.to_owned(),
            timestamp_ms,
            log_schema_version,
        }
    }

    /// The value of one field.
    pub fn value(&self, field: HeaderField) -> Value {
        match field {
            HeaderField::KeyHash => Value::from(self.endpoint_key_hash.clone()),
            HeaderField::Version => Value::from(HEADER_VERSION),
            HeaderField::Timestamp => Value::from(self.timestamp_ms),
            HeaderField::Token => Value::from(self.application_token.clone()),
            HeaderField::LogSchemaVersion => Value::from(self.log_schema_version),
        }
    }

    /// The chosen fields as a JSON object.
    pub fn object(&self, fields: &[HeaderField]) -> Map<String, Value> {
        fields
            .iter()
            .map(|&field| (field.json_name().to_owned(), self.value(field)))
            .collect()
    }
}

/// The records of one log sync request.
#[derive(Debug, Clone, PartialEq)]
pub struct LogBatch {
    /// Shared header.
    pub header: LogHeader,
    /// Each record, decoded.
    pub events: Vec<Value>,
}

impl LogBatch {
    /// Decodes `entries` with the endpoint's log schema; the error names the record.
    pub fn decode(
        header: LogHeader,
        schema: &AvroSchema,
        entries: &[LogEntry],
    ) -> Result<Self, String> {
        let events = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                schema
                    .decode_to_json(&entry.data)
                    .map_err(|e| format!("log record {i}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { header, events })
    }

    /// Each record as a document `{"header": {…chosen fields…}, "event": {…}}`.
    pub fn documents<'a>(&'a self, fields: &'a [HeaderField]) -> impl Iterator<Item = Value> + 'a {
        let header = Value::Object(self.header.object(fields));
        self.events.iter().map(move |event| {
            let mut document = Map::new();
            document.insert("header".into(), header.clone());
            document.insert("event".into(), event.clone());
            Value::Object(document)
        })
    }
}

/// The value of a Cassandra column for one record; a missing record field is null.
pub fn column_value(source: &ColumnSource, header: &LogHeader, event: &Value) -> Value {
    match source {
        ColumnSource::Header(field) => header.value(*field),
        ColumnSource::Record(path) => path
            .iter()
            .try_fold(event, |value, key| value.get(key))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header() -> LogHeader {
        LogHeader::new(&[1, 2, 3], "app-token", 1_700_000_000_000, 2)
    }

    #[test]
    fn headers_render_the_chosen_fields_with_kaa_names() {
        let fields = [HeaderField::KeyHash, HeaderField::LogSchemaVersion];
        let object = header().object(&fields);
        assert_eq!(
            Value::Object(object),
            json!({"endpointKeyHash": "AQID", "logSchemaVersion": 2})
        );
        assert_eq!(header().value(HeaderField::Version), json!(HEADER_VERSION));
    }

    #[test]
    fn documents_carry_the_chosen_header_and_each_event() {
        let batch = LogBatch {
            header: header(),
            events: vec![json!({"n": 1}), json!({"n": 2})],
        };
        let documents: Vec<Value> = batch.documents(&[HeaderField::Token]).collect();
        assert_eq!(
            documents,
            vec![
                json!({"header": {"applicationToken": "app-token"}, "event": {"n": 1}}),
                json!({"header": {"applicationToken": "app-token"}, "event": {"n": 2}}),
            ]
        );
    }

    #[test]
    fn column_values_come_from_header_fields_and_record_paths() {
        let event = json!({"level": "INFO", "origin": {"host": "h1"}});
        let value =
            |text: &str| column_value(&ColumnSource::parse(text).unwrap(), &header(), &event);
        assert_eq!(value("header.TIMESTAMP"), json!(1_700_000_000_000_i64));
        assert_eq!(value("record.level"), json!("INFO"));
        assert_eq!(value("record.origin.host"), json!("h1"));
        assert_eq!(value("record.missing.field"), Value::Null);
        assert_eq!(value("record"), event);
    }

    #[test]
    fn decoding_names_the_record_that_does_not_match_the_schema() {
        let schema = AvroSchema::parse(
            r#"{"type":"record","name":"Log","fields":[{"name":"n","type":"int"}]}"#,
        )
        .unwrap();
        let good = LogEntry {
            data: schema.encode_json(&json!({"n": 7})).unwrap(),
        };
        let batch = LogBatch::decode(header(), &schema, std::slice::from_ref(&good)).unwrap();
        assert_eq!(batch.events, vec![json!({"n": 7})]);
        let bad = LogEntry { data: vec![] };
        let error = LogBatch::decode(header(), &schema, &[good, bad]).unwrap_err();
        assert!(error.starts_with("log record 1:"), "{error}");
    }
}
