//! The `mongodb` appender: one document `{header, event}` per record in a collection of the
//! tenant's database ([`kaa_model::appender::log_namespace`], never the endpoint store's), plus
//! `written_at` (a date) that a TTL index expires when `ttl_seconds` is set.
//!
//! The hosts of a URL a tenant names are resolved and checked against the outbound policy.
//! Without TLS the driver is given the checked addresses themselves, so the name cannot resolve
//! elsewhere later; with TLS it keeps the names, which the server's certificate must match.
//! Replica-set members a server announces are not checked (`docs/decisions/*-confined-appenders.md`).

use std::time::Duration;

use kaa_model::appender::{HeaderField, MongoSettings};
use mongodb::bson::{self, Document};
use mongodb::options::{ClientOptions, IndexOptions, ServerAddress, Tls};
use mongodb::{Collection, IndexModel};

use super::record::LogBatch;
use super::{SinkEnv, SinkError};
use crate::outbound::{CONNECT_TIMEOUT, Outbound};

/// A connected MongoDB appender.
pub struct MongoSink {
    collection: Collection<Document>,
    fields: Vec<HeaderField>,
}

impl MongoSink {
    /// Connects to the tenant's database `database` and creates the TTL index when the
    /// appender expires documents.
    pub async fn connect(
        settings: &MongoSettings,
        database: &str,
        env: &SinkEnv,
        fields: Vec<HeaderField>,
    ) -> Result<Self, SinkError> {
        let store = env.defaults.mongo.as_ref();
        if store.is_some_and(|store| store.database == database) {
            return Err(SinkError::Internal(format!(
                "the tenant's log database {database} is the endpoint store's; refused"
            )));
        }
        let mut options = match (&settings.url, store) {
            (Some(url), _) => checked(url, &env.outbound).await?,
            (None, Some(store)) => ClientOptions::parse(&store.url)
                .await
                .map_err(|e| SinkError::Internal(format!("MongoDB url: {e}")))?,
            (None, None) => {
                return Err(SinkError::Internal(
                    "no url in the appender and the node's endpoint store is not MongoDB".into(),
                ));
            }
        };
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options.app_name.get_or_insert_with(|| "kaa-rs".to_owned());
        let client = mongodb::Client::with_options(options)
            .map_err(|e| SinkError::Connection(e.to_string()))?;
        let collection = client
            .database(database)
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

/// The options of a tenant's `url`, its hosts resolved and checked; any failure is a
/// connection error, whatever its cause.
async fn checked(url: &str, outbound: &Outbound) -> Result<ClientOptions, SinkError> {
    let unreachable = |detail: String| SinkError::Connection(format!("MongoDB {detail}"));
    let mut options = ClientOptions::parse(url)
        .await
        .map_err(|e| unreachable(format!("url: {e}")))?;
    let plain = !matches!(options.tls, Some(Tls::Enabled(_)));
    for host in &mut options.hosts {
        let ServerAddress::Tcp { host: name, port } = &*host else {
            return Err(unreachable(format!("{host}: only TCP hosts are allowed")));
        };
        let port = port.unwrap_or(27017);
        let target = if name.contains(':') {
            format!("[{name}]:{port}")
        } else {
            format!("{name}:{port}")
        };
        let admitted = outbound
            .resolve(&target)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if plain && let Some(address) = admitted.first() {
            *host = ServerAddress::from(*address);
        }
    }
    Ok(options)
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
