//! Log collection: the records endpoints upload, decoded with their log schema and written by
//! the application's log appenders (Cassandra, MongoDB, file, REST).
//!
//! Each appender has a queue bounded in batches and in decoded bytes ([`queue`]) and one worker
//! that takes them in order and writes up to [`LogCollectionSettings::writers`] of them at once
//! (a file appender one, so its lines stay in order), so a slow or unreachable storage holds back
//! only its own appender and memory stays bounded; `/metrics` shows what the queues hold ([`QueueMetrics`]). A sync
//! carrying logs hands its batch to every appender whose log schema versions include the batch's,
//! then waits (at most [`LogCollectionSettings::delivery_wait`]) for the appenders that confirm
//! delivery. The endpoint gets SUCCESS only once every confirming appender stored the batch;
//! otherwise FAILURE with Kaa's error code, and the SDK keeps the records and sends them again:
//! - no appender for the version: `NO_APPENDERS_CONFIGURED`;
//! - a queue full, records that do not decode or that take more memory decoded than
//!   [`DecodeLimits`] allow, an appender misconfigured: `APPENDER_INTERNAL_ERROR`;
//! - storage unreachable (or no answer within the wait): `REMOTE_CONNECTION_ERROR`;
//! - storage refused the write: `REMOTE_INTERNAL_ERROR`.
//!
//! Delivery is at least once: a batch stored by one appender and refused by another, or stored
//! after the wait ran out, is stored again when the endpoint resends it. A batch whose sync gave
//! up waiting is skipped if its worker has not started it yet. Appenders that do not confirm get
//! the batch if their queue has room and retry a failed write a few times; what they still cannot
//! write is logged and dropped, as they promised nothing.
//!
//! A stopping node drains the queues: it takes no more batches and lets every worker write what
//! it holds, confirming or not, for up to [`LogCollectionSettings::drain_timeout`].
//!
//! Appenders are loaded per application on first use and reloaded after a change notification;
//! an appender whose definition did not change keeps its worker and queue. A sync served the
//! application's metadata of the change the list was loaded at (the catalog's, while the
//! metadata store does not answer) uses the list as it is; while a reload fails because the store
//! does not answer, the appenders loaded last go on writing (one sync tries the store again every
//! [`RELOAD_RETRY`]), so records are still stored through a metadata database outage.
//!
//! Appenders write only inside their tenant's space: Cassandra tables in the tenant's keyspace,
//! MongoDB collections in the tenant's database ([`log_namespace`]), files under
//! `<root>/<tenant>/<application>/` ([`FileRoot`]). The storage a tenant names itself (contact
//! points, URLs) is reached only where the operator's outbound policy allows ([`Outbound`]).

mod cassandra;
mod file;
mod mongo;
mod queue;
pub mod record;
mod rest;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kaa_cluster::Cluster;
use kaa_idl::endpoint::sync::{
    LogDeliveryErrorCode, LogDeliveryStatus, LogSyncRequest, SyncResponseResultType,
};
use kaa_model::appender::{
    CassandraSettings, FileSettings, HeaderField, MongoSettings, RestSettings, log_namespace,
};
use kaa_store::endpoint::{CassandraReplication, EndpointBackend};
use kaa_store::metadata::{Application, LogAppender, Page, SdkProfile, now_ms};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::cassandra::CassandraSink;
pub use self::file::FileRoot;
use self::file::FileSink;
use self::mongo::MongoSink;
pub use self::queue::QueueMetrics;
use self::queue::{Job, Outcome, Queue, Refusal};
use self::record::{BatchError, DecodeLimits, LogBatch, LogHeader};
use self::rest::RestSink;
use crate::catalog::AppContext;
use crate::metadata_reads::MetadataReads;
use crate::outbound::Outbound;

/// The Cassandra a `cassandra` appender writes to when its settings name none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CassandraDefaults {
    /// `host:port` of the nodes.
    pub contact_points: Vec<String>,
    /// The endpoint store's keyspace, which no appender may write to.
    pub keyspace: String,
    /// The endpoint store's replication and consistency: keyspaces an appender without contact
    /// points of its own creates are replicated so, and its writes run at that consistency.
    pub replication: CassandraReplication,
}

/// The MongoDB a `mongodb` appender writes to when its settings name none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoDefaults {
    /// `mongodb://` URL.
    pub url: String,
    /// The endpoint store's database, which no appender may write to.
    pub database: String,
}

/// Where appenders write when their settings do not say: the node's own endpoint store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreDefaults {
    /// Set when the endpoint store is Cassandra.
    pub cassandra: Option<CassandraDefaults>,
    /// Set when the endpoint store is MongoDB.
    pub mongo: Option<MongoDefaults>,
}

impl StoreDefaults {
    /// The defaults a node with endpoint store `backend` offers.
    pub fn of(backend: &EndpointBackend) -> Self {
        match backend {
            EndpointBackend::Cassandra {
                contact_points,
                keyspace,
                replication,
            } => Self {
                cassandra: Some(CassandraDefaults {
                    contact_points: contact_points.clone(),
                    keyspace: keyspace.clone(),
                    replication: replication.clone(),
                }),
                mongo: None,
            },
            EndpointBackend::MongoDb { url, database } => Self {
                cassandra: None,
                mongo: Some(MongoDefaults {
                    url: url.clone(),
                    database: database.clone(),
                }),
            },
            EndpointBackend::Sql { .. } => Self::default(),
        }
    }
}

/// How log collection runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCollectionSettings {
    /// Batches each appender holds before it refuses more.
    pub queue_batches: usize,
    /// Decoded bytes each appender holds before it refuses more.
    pub queue_bytes: usize,
    /// How much memory one batch's records may take decoded.
    pub decode_limits: DecodeLimits,
    /// How long a sync waits for confirming appenders before it answers FAILURE.
    pub delivery_wait: Duration,
    /// How long a stopping node lets appenders write what they have queued.
    pub drain_timeout: Duration,
    /// Batches each appender writes at once (a file appender writes one at a time).
    pub writers: usize,
    /// Where Cassandra and MongoDB appenders write by default.
    pub defaults: StoreDefaults,
    /// Where file appenders write.
    pub files: FileRoot,
}

/// What every appender of a node works with.
struct SinkEnv {
    defaults: StoreDefaults,
    files: FileRoot,
    outbound: Arc<Outbound>,
    /// For the cluster-wide lock around schema changes.
    cluster: Cluster,
}

/// The application an appender belongs to.
#[derive(Clone)]
struct Owner {
    tenant_id: String,
    app_id: String,
}

/// Why an appender could not store a batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The storage cannot be reached.
    #[error("storage unreachable: {0}")]
    Connection(String),
    /// The storage answered with an error.
    #[error("storage refused the write: {0}")]
    Remote(String),
    /// The appender itself failed (its settings, encoding, a local file).
    #[error("{0}")]
    Internal(String),
}

impl SinkError {
    fn code(&self) -> LogDeliveryErrorCode {
        match self {
            Self::Connection(_) => LogDeliveryErrorCode::RemoteConnectionError,
            Self::Remote(_) => LogDeliveryErrorCode::RemoteInternalError,
            Self::Internal(_) => LogDeliveryErrorCode::AppenderInternalError,
        }
    }
}

/// An appender's connection to its storage, shared by the batches being written at once.
enum Sink {
    Cassandra(CassandraSink),
    Mongo(MongoSink),
    /// One file, appended to by one batch at a time.
    File(tokio::sync::Mutex<FileSink>),
    Rest(RestSink),
}

impl Sink {
    async fn open(
        definition: &LogAppender,
        owner: &Owner,
        env: &SinkEnv,
    ) -> Result<Self, SinkError> {
        let fields = HeaderField::parse_list(&definition.header_fields);
        let namespace = log_namespace(&owner.tenant_id);
        Ok(match definition.appender_type.as_str() {
            "cassandra" => {
                let settings: CassandraSettings = settings(definition)?;
                Self::Cassandra(CassandraSink::connect(&settings, &namespace, env).await?)
            }
            "mongodb" => {
                let settings: MongoSettings = settings(definition)?;
                Self::Mongo(MongoSink::connect(&settings, &namespace, env, fields).await?)
            }
            "file" => {
                let settings: FileSettings = settings(definition)?;
                Self::File(tokio::sync::Mutex::new(
                    FileSink::open(
                        &settings,
                        &env.files,
                        &owner.tenant_id,
                        &owner.app_id,
                        fields,
                    )
                    .await?,
                ))
            }
            "rest" => {
                let settings: RestSettings = settings(definition)?;
                Self::Rest(RestSink::new(env.outbound.clone(), &settings, fields))
            }
            other => {
                return Err(SinkError::Internal(format!(
                    "unknown appender type {other}"
                )));
            }
        })
    }

    async fn write(&self, batch: &LogBatch) -> Result<(), SinkError> {
        match self {
            Self::Cassandra(sink) => sink.write(batch).await,
            Self::Mongo(sink) => sink.write(batch).await,
            Self::File(sink) => sink.lock().await.write(batch).await,
            Self::Rest(sink) => sink.write(batch).await,
        }
    }
}

fn settings<T: DeserializeOwned>(definition: &LogAppender) -> Result<T, SinkError> {
    serde_json::from_str(&definition.settings)
        .map_err(|e| SinkError::Internal(format!("settings of appender {}: {e}", definition.name)))
}

/// A running appender: its definition and its worker's queue.
struct Appender {
    definition: LogAppender,
    queue: Queue,
}

impl Appender {
    fn takes(&self, log_version: i64) -> bool {
        let d = &self.definition;
        d.min_log_version <= log_version
            && (d.max_log_version == 0 || log_version <= d.max_log_version)
    }
}

/// The appenders of one application.
struct AppAppenders {
    /// False once a change notification made the list stale.
    current: bool,
    /// The application's change-log number of the metadata it was loaded with.
    seq: i64,
    /// A stale list being reloaded, or whose reload failed: the list serves until then.
    retry_at: Option<Instant>,
    appenders: Vec<Arc<Appender>>,
}

/// How often a stale appender list is loaded again while the metadata store fails.
const RELOAD_RETRY: Duration = Duration::from_secs(10);

/// Every appender listing of an application.
const ALL: Page = Page {
    offset: 0,
    limit: 10_000,
};

/// Attempts at a batch no endpoint waits for.
const UNCONFIRMED_ATTEMPTS: u32 = 3;

/// The log collection of one Operations node.
pub struct LogCollector {
    metadata: Arc<MetadataReads>,
    queue_batches: usize,
    queue_bytes: usize,
    decode_limits: DecodeLimits,
    delivery_wait: Duration,
    drain_timeout: Duration,
    writers: usize,
    metrics: QueueMetrics,
    env: Arc<SinkEnv>,
    apps: Mutex<HashMap<String, AppAppenders>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl LogCollector {
    /// A collector reading appender definitions from `metadata`, calling tenants' storage
    /// through `outbound`, changing storage schemas under `cluster`'s lock.
    pub fn new(
        metadata: Arc<MetadataReads>,
        settings: LogCollectionSettings,
        outbound: Arc<Outbound>,
        cluster: Cluster,
    ) -> Self {
        Self {
            metadata,
            queue_batches: settings.queue_batches,
            queue_bytes: settings.queue_bytes,
            decode_limits: settings.decode_limits,
            delivery_wait: settings.delivery_wait,
            drain_timeout: settings.drain_timeout,
            writers: settings.writers,
            metrics: QueueMetrics::new(settings.queue_batches, settings.queue_bytes),
            env: Arc::new(SinkEnv {
                defaults: settings.defaults,
                files: settings.files,
                outbound,
                cluster,
            }),
            apps: Mutex::default(),
            workers: Mutex::default(),
        }
    }

    /// What the appender queues hold and the batches refused, for `/metrics`.
    pub fn metrics(&self) -> &QueueMetrics {
        &self.metrics
    }

    /// Marks the application's appender list stale; the next batch reloads it.
    pub fn invalidate(&self, app_id: &str) {
        if let Some(app) = lock(&self.apps).get_mut(app_id) {
            app.current = false;
            app.retry_at = None;
        }
    }

    /// Hands the request's records to the application's appenders and answers with their
    /// delivery status.
    pub async fn collect(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        key_hash: &[u8],
        request: &LogSyncRequest,
    ) -> LogDeliveryStatus {
        let result = self.deliver(app, sdk, key_hash, request).await;
        if let Err(code) = &result {
            tracing::debug!(app = %app.app.id, ?code, "log batch not delivered");
        }
        LogDeliveryStatus {
            request_id: request.request_id,
            result: if result.is_ok() {
                SyncResponseResultType::Success
            } else {
                SyncResponseResultType::Failure
            },
            error_code: result.err(),
        }
    }

    async fn deliver(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        key_hash: &[u8],
        request: &LogSyncRequest,
    ) -> Outcome {
        let version = sdk.log_version;
        let appenders: Vec<Arc<Appender>> = self
            .appenders(&app.app)
            .await
            .map_err(|error| {
                tracing::warn!(app = %app.app.id, %error, "cannot load log appenders");
                LogDeliveryErrorCode::AppenderInternalError
            })?
            .into_iter()
            .filter(|a| a.takes(version))
            .collect();
        if appenders.is_empty() {
            return Err(LogDeliveryErrorCode::NoAppendersConfigured);
        }
        let schema = app.schema("log", version).ok_or_else(|| {
            tracing::warn!(app = %app.app.id, version, "log schema version missing");
            LogDeliveryErrorCode::AppenderInternalError
        })?;
        let header = LogHeader::new(key_hash, &app.app.app_token, now_ms(), version);
        let entries = request.log_entries.as_deref().unwrap_or_default();
        let batch = LogBatch::decode(header, schema, entries, self.decode_limits).map_err(|error| {
            let reason = match error {
                BatchError::Undecodable { .. } => Refusal::UNDECODABLE,
                BatchError::RecordTooLarge { .. } | BatchError::BatchTooLarge { .. } => {
                    Refusal::TOO_LARGE
                }
            };
            self.metrics.refused(reason);
            tracing::warn!(app = %app.app.id, records = entries.len(), %error, "log batch refused");
            LogDeliveryErrorCode::AppenderInternalError
        })?;
        let batch = Arc::new(batch);
        let mut outcomes = Vec::new();
        for appender in &appenders {
            let (reply, outcome) = if appender.definition.confirm_delivery {
                let (reply, outcome) = oneshot::channel();
                (Some(reply), Some(outcome))
            } else {
                (None, None)
            };
            match (appender.queue.try_push(batch.clone(), reply), outcome) {
                (Ok(()), Some(outcome)) => outcomes.push(outcome),
                (Ok(()), None) => {}
                (Err(_), Some(_)) => {
                    self.metrics.refused(Refusal::QUEUE_FULL);
                    tracing::warn!(appender = %appender.definition.name, bytes = batch.bytes, "log appender queue full; batch refused");
                    return Err(LogDeliveryErrorCode::AppenderInternalError);
                }
                (Err(_), None) => {
                    tracing::warn!(appender = %appender.definition.name, records = batch.events.len(), "log appender queue full; records dropped by an appender that does not confirm delivery");
                }
            }
        }
        let all = futures::future::join_all(outcomes);
        match tokio::time::timeout(self.delivery_wait, all).await {
            Ok(outcomes) => outcomes.into_iter().try_for_each(|outcome| {
                outcome.unwrap_or(Err(LogDeliveryErrorCode::AppenderInternalError))
            }),
            Err(_) => Err(LogDeliveryErrorCode::RemoteConnectionError),
        }
    }

    /// The application's appenders, (re)loaded when missing or stale.
    async fn appenders(
        &self,
        app: &Application,
    ) -> Result<Vec<Arc<Appender>>, kaa_store::StoreError> {
        let app_id = app.id.as_str();
        if let Some(entry) = lock(&self.apps).get_mut(app_id) {
            let now = Instant::now();
            if entry.current || entry.seq == app.seq || entry.retry_at.is_some_and(|at| now < at) {
                return Ok(entry.appenders.clone());
            }
            // This sync reloads the stale list; the others meanwhile keep writing with it, in
            // case the store is slow or down.
            entry.retry_at = Some(now + RELOAD_RETRY);
        }
        let definitions = match self
            .metadata
            .read(|store| store.appenders(app_id, ALL))
            .await
        {
            Ok(page) => page.items,
            Err(error) if !matches!(error, kaa_store::StoreError::NotFound(_)) => {
                let apps = lock(&self.apps);
                let Some(loaded) = apps.get(app_id) else {
                    return Err(error);
                };
                tracing::warn!(app = app_id, %error, "metadata store failed; the log appenders loaded last go on writing");
                return Ok(loaded.appenders.clone());
            }
            Err(error) => return Err(error),
        };
        let owner = Owner {
            tenant_id: app.tenant_id.clone(),
            app_id: app_id.to_owned(),
        };
        let mut apps = lock(&self.apps);
        let previous = apps
            .remove(app_id)
            .map(|app| app.appenders)
            .unwrap_or_default();
        let appenders: Vec<Arc<Appender>> = definitions
            .into_iter()
            .map(
                |definition| match previous.iter().find(|a| a.definition == definition) {
                    Some(running) => running.clone(),
                    None => self.spawn(definition, owner.clone()),
                },
            )
            .collect();
        apps.insert(
            app_id.to_owned(),
            AppAppenders {
                current: true,
                seq: app.seq,
                retry_at: None,
                appenders: appenders.clone(),
            },
        );
        Ok(appenders)
    }

    fn spawn(&self, definition: LogAppender, owner: Owner) -> Arc<Appender> {
        let (queue, jobs) = Queue::new(self.queue_batches, self.queue_bytes, &self.metrics);
        tracing::info!(appender = %definition.name, kind = %definition.appender_type, app = %definition.app_id, "log appender started");
        let storage = Storage {
            definition: definition.clone(),
            owner,
            env: self.env.clone(),
            open: tokio::sync::Mutex::new(None),
        };
        let worker = tokio::spawn(run_appender(storage, jobs, self.writers));
        let mut workers = lock(&self.workers);
        workers.retain(|w| !w.is_finished());
        workers.push(worker);
        Arc::new(Appender { definition, queue })
    }

    /// Stops taking batches and lets every appender write what it has queued, waiting at most
    /// the drain timeout; says what was left unwritten if it ran out.
    pub async fn stop(&self) {
        let (batches, bytes) = self.metrics.queued();
        tracing::info!(batches, bytes, "draining log appender queues");
        lock(&self.apps).clear();
        let workers = std::mem::take(&mut *lock(&self.workers));
        let all = futures::future::join_all(workers);
        if tokio::time::timeout(self.drain_timeout, all).await.is_err() {
            let (batches, bytes) = self.metrics.queued();
            tracing::error!(timeout = ?self.drain_timeout, batches, bytes, "log appenders did not write their queues within log_collection.drain_timeout; these batches are lost");
        }
    }
}

/// One appender's worker: takes queued batches in order and writes up to `writers` of them at
/// once (a file appender one at a time). Ends when the appender is dropped, its queue is drained
/// and the last write has ended.
async fn run_appender(storage: Storage, mut jobs: mpsc::Receiver<Job>, writers: usize) {
    let writers = if storage.definition.appender_type == "file" {
        1
    } else {
        writers.max(1)
    };
    let mut writing = futures::stream::FuturesUnordered::new();
    loop {
        tokio::select! {
            job = jobs.recv(), if writing.len() < writers => match job {
                Some(job) => writing.push(storage.deliver(job)),
                None => break,
            },
            Some(()) = futures::StreamExt::next(&mut writing), if !writing.is_empty() => {}
        }
    }
    while futures::StreamExt::next(&mut writing).await.is_some() {}
    tracing::info!(appender = %storage.definition.name, "log appender stopped");
}

/// What an appender writes to: its storage, opened on first use and again after a failed write.
struct Storage {
    definition: LogAppender,
    owner: Owner,
    env: Arc<SinkEnv>,
    open: tokio::sync::Mutex<Option<Arc<Sink>>>,
}

impl Storage {
    /// Writes one queued batch and tells the endpoint waiting for it, if one is.
    async fn deliver(&self, job: Job) {
        if job.reply.as_ref().is_some_and(|reply| reply.is_closed()) {
            // The endpoint was already answered FAILURE; it sends the records again.
            return;
        }
        let definition = &self.definition;
        let attempts = if job.reply.is_some() {
            1
        } else {
            UNCONFIRMED_ATTEMPTS
        };
        let mut outcome = Ok(());
        for attempt in 1..=attempts {
            outcome = self.write(&job.batch).await;
            match &outcome {
                Ok(()) => break,
                Err(error) => {
                    // REST and MongoDB errors can carry the target URL and its password.
                    let error = kaa_model::redact::text(&error.to_string()).into_owned();
                    tracing::warn!(appender = %definition.name, %error, attempt, "log appender write failed");
                    if attempt < attempts {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
        match job.reply {
            Some(reply) => {
                let _ = reply.send(outcome.map_err(|error| error.code()));
            }
            None if outcome.is_err() => {
                tracing::error!(appender = %definition.name, records = job.batch.events.len(), "log records dropped by an appender that does not confirm delivery");
            }
            None => {}
        }
    }

    /// Writes `batch` through the open storage connection, opening it first if needed; a failed
    /// write closes the connection, so the next batch opens a fresh one.
    async fn write(&self, batch: &LogBatch) -> Result<(), SinkError> {
        let sink = {
            let mut open = self.open.lock().await;
            match open.as_ref() {
                Some(sink) => sink.clone(),
                None => {
                    let sink =
                        Arc::new(Sink::open(&self.definition, &self.owner, &self.env).await?);
                    *open = Some(sink.clone());
                    sink
                }
            }
        };
        let result = sink.write(batch).await;
        if result.is_err() {
            let mut open = self.open.lock().await;
            if open
                .as_ref()
                .is_some_and(|current| Arc::ptr_eq(current, &sink))
            {
                *open = None;
            }
        }
        result
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
