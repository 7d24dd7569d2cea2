//! The `mongodb` appender: one document `{header, event}` per record in a collection, plus
//! `written_at` (a date) that a TTL index expires when `ttl_seconds` is set.

use std::time::Duration;

use kaa_model::appender::{HeaderField, MongoSettings};
use mongodb::bson::{self, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Collection, IndexModel};

use super::record::LogBatch;
use super::{SinkError, StoreDefaults};

/// A connected MongoDB appender.
pub struct MongoSink {
    collection: Collection<Document>,
    fields: Vec<HeaderField>,
}

impl MongoSink {
    /// Connects and creates the TTL index when the appender expires documents.
    pub async fn connect(
        settings: &MongoSettings,
        defaults: &StoreDefaults,
        fields: Vec<HeaderField>,
    ) -> Result<Self, SinkError> {
        let (default_url, default_database) = match &defaults.mongo {
            Some(mongo) => (Some(mongo.url.clone()), Some(mongo.database.clone())),
            None => (None, None),
        };
        let url = settings.url.clone().or(default_url).ok_or_else(|| {
            SinkError::Internal(
                "no url in the appender and the node's endpoint store is not MongoDB".into(),
            )
        })?;
        let database = settings
            .database
            .clone()
            .or(default_database)
            .unwrap_or_else(|| "kaa_logs".to_owned());
        let mut options = ClientOptions::parse(&url)
            .await
            .map_err(|e| SinkError::Internal(format!("MongoDB url: {e}")))?;
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options.app_name.get_or_insert_with(|| "kaa-rs".to_owned());
        let client = mongodb::Client::with_options(options)
            .map_err(|e| SinkError::Connection(e.to_string()))?;
        let collection = client
            .database(&database)
            .collection::<Document>(&settings.collection);
        if let Some(ttl) = settings.ttl_seconds {
            let index = IndexModel::builder()
                .keys(bson::doc! { "written_at": 1 })
                .options(
                    IndexOptions::builder()
                        .expire_after(Duration::from_secs(u64::from(ttl)))
                        .build(),
                )
                .build();
            collection
                .create_index(index)
                .await
                .map_err(connection_or_remote)?;
        }
        Ok(Self { collection, fields })
    }

    /// Inserts every record of `batch`.
    pub async fn write(&self, batch: &LogBatch) -> Result<(), SinkError> {
        let written_at = bson::DateTime::now();
        let documents = batch
            .documents(&self.fields)
            .map(|document| {
                let mut document = bson::to_document(&document)
                    .map_err(|e| SinkError::Internal(format!("record as BSON: {e}")))?;
                document.insert("written_at", written_at);
                Ok(document)
            })
            .collect::<Result<Vec<_>, SinkError>>()?;
        self.collection
            .insert_many(documents)
            .await
            .map_err(connection_or_remote)?;
        Ok(())
    }
}

fn connection_or_remote(error: mongodb::error::Error) -> SinkError {
    use mongodb::error::ErrorKind;
    match *error.kind {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. } => SinkError::Connection(error.to_string()),
        _ => SinkError::Remote(error.to_string()),
    }
}
