//! A batch of collected log records as appenders write it: the header Kaa's appenders know
//! (endpoint key hash, application token, header version, timestamp, log schema version) and
//! each record decoded from Avro into JSON.
//!
//! Pure: decoding, header selection and column values, so appenders only move bytes.
//!
//! Decoded records can be much larger than the bytes that carried them (a `null` array item
//! costs no input and 32 bytes of memory; the Avro decoder caps such items per record, not per
//! batch), so decoding measures each record as it comes ([`decoded_size`]) and stops at the
//! [`DecodeLimits`]: a batch is held in memory only if it fits them.

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
    /// The decoded records' size in memory, as [`decoded_size`] estimates it.
    pub bytes: usize,
}

/// How much memory the records of one batch may take once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The most one record may take.
    pub record_bytes: usize,
    /// The most all records of one batch may take together.
    pub batch_bytes: usize,
}

/// Why a batch was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A record does not match the log schema.
    #[error("log record {index}: {reason}")]
    Undecodable {
        /// The record's position in the batch.
        index: usize,
        /// What the decoder found.
        reason: String,
    },
    /// A record takes more memory decoded than one record may.
    #[error("log record {index} takes {bytes} bytes decoded, over the limit of {limit}")]
    RecordTooLarge {
        /// The record's position in the batch.
        index: usize,
        /// Its decoded size.
        bytes: usize,
        /// [`DecodeLimits::record_bytes`].
        limit: usize,
    },
    /// The records decoded so far already take more memory than one batch may.
    #[error("the batch takes over {limit} bytes decoded by log record {index}")]
    BatchTooLarge {
        /// The record that went over.
        index: usize,
        /// [`DecodeLimits::batch_bytes`].
        limit: usize,
    },
}

impl LogBatch {
    /// Decodes `entries` with the endpoint's log schema, stopping at the first record that
    /// does not decode or does not fit `limits`; the error names the record.
    pub fn decode(
        header: LogHeader,
        schema: &AvroSchema,
        entries: &[LogEntry],
        limits: DecodeLimits,
    ) -> Result<Self, BatchError> {
        let mut events = Vec::with_capacity(entries.len());
        let mut bytes = size_of::<Value>().saturating_mul(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let event =
                schema
                    .decode_to_json(&entry.data)
                    .map_err(|e| BatchError::Undecodable {
                        index,
                        reason: e.to_string(),
                    })?;
            let size = decoded_size(&event);
            if size > limits.record_bytes {
                return Err(BatchError::RecordTooLarge {
                    index,
                    bytes: size,
                    limit: limits.record_bytes,
                });
            }
            bytes = bytes.saturating_add(size);
            if bytes > limits.batch_bytes {
                return Err(BatchError::BatchTooLarge {
                    index,
                    limit: limits.batch_bytes,
                });
            }
            events.push(event);
        }
        Ok(Self {
            header,
            events,
            bytes,
        })
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

/// What a decoded JSON value takes in memory, roughly: each value's own slot, the bytes of its
/// strings and object keys, and a map entry's bookkeeping. The exact figure depends on the
/// allocator and container growth; this one is what the limits count, and it grows with the
/// real one.
pub fn decoded_size(value: &Value) -> usize {
    /// A key's `String` and the map's per-entry overhead (a B-tree node slot).
    const ENTRY: usize = size_of::<String>() + 16;
    let mut size = 0usize;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        size = size.saturating_add(size_of::<Value>());
        match value {
            Value::String(text) => size = size.saturating_add(text.len()),
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => {
                for (key, value) in map {
                    size = size.saturating_add(ENTRY + key.len());
                    pending.push(value);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    size
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
            bytes: 0,
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
        let batch =
            LogBatch::decode(header(), &schema, std::slice::from_ref(&good), LIMITS).unwrap();
        assert_eq!(batch.events, vec![json!({"n": 7})]);
        let bad = LogEntry { data: vec![] };
        let error = LogBatch::decode(header(), &schema, &[good, bad], LIMITS).unwrap_err();
        assert!(matches!(error, BatchError::Undecodable { index: 1, .. }));
        assert!(error.to_string().starts_with("log record 1:"), "{error}");
    }

    const LIMITS: DecodeLimits = DecodeLimits {
        record_bytes: 1 << 20,
        batch_bytes: 16 << 20,
    };

    /// `{"nulls": [null × n]}` as an `array<null>` record encodes it: one block of n items.
    fn nulls(n: i64) -> (AvroSchema, LogEntry) {
        let schema = AvroSchema::parse(
            r#"{"type":"record","name":"Log","fields":[{"name":"nulls","type":{"type":"array","items":"null"}}]}"#,
        )
        .unwrap();
        let data = schema
            .encode_json(&json!({"nulls": vec![Value::Null; n as usize]}))
            .unwrap();
        (schema, LogEntry { data })
    }

    #[test]
    fn zero_byte_items_count_in_memory_though_not_on_the_wire() {
        let (schema, entry) = nulls(60_000);
        println!("60,000 nulls: {} bytes on the wire", entry.data.len());
        assert!(entry.data.len() < 10);
        let limits = DecodeLimits {
            record_bytes: 1 << 20,
            batch_bytes: 1 << 30,
        };
        let error = LogBatch::decode(header(), &schema, &[entry], limits).unwrap_err();
        let BatchError::RecordTooLarge { bytes, .. } = error else {
            panic!("{error}");
        };
        println!("decoded: {bytes} bytes");
        assert!(bytes >= 60_000 * size_of::<Value>());
    }

    #[test]
    fn a_batch_stops_decoding_at_the_record_that_takes_it_over_its_limit() {
        let (schema, entry) = nulls(10_000);
        let entries = vec![entry; 1000];
        let wire: usize = entries.iter().map(|e| e.data.len()).sum();
        let error = LogBatch::decode(header(), &schema, &entries, LIMITS).unwrap_err();
        println!("1,000 records, {wire} bytes on the wire: {error}");
        // Each record is 10,000 nulls in memory: the batch is full after so many records.
        let fit = LIMITS.batch_bytes / (10_000 * size_of::<Value>());
        let BatchError::BatchTooLarge { index, .. } = error else {
            panic!("{error}");
        };
        assert!(
            (fit * 9 / 10..=fit).contains(&index),
            "stopped at {index}, {fit} fit"
        );
        let batch = LogBatch::decode(header(), &schema, &entries[..index], LIMITS).unwrap();
        assert!(batch.bytes <= LIMITS.batch_bytes);
        assert_eq!(batch.events.len(), index);
    }

    #[test]
    fn decoded_size_counts_values_strings_and_keys() {
        let slot = size_of::<Value>();
        assert_eq!(decoded_size(&Value::Null), slot);
        assert_eq!(decoded_size(&json!("abcd")), slot + 4);
        assert_eq!(decoded_size(&json!([1, 2, 3])), 4 * slot);
        let entry = size_of::<String>() + 16;
        assert_eq!(decoded_size(&json!({"ab": true})), 2 * slot + entry + 2);
    }
}
