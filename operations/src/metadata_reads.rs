//! How an Operations node reads the metadata store: each read bounded on the node's side, and
//! none sent while the store is known not to answer.
//!
//! The SQL server bounds each statement and the pool bounds the wait for a connection, but a
//! server that keeps its connections open and answers nothing (frozen, or cut off without a
//! reset) is bounded by neither: every read here ends within the database's
//! [call limit](kaa_store::sql::SqlDatabase::call_limit).
//!
//! Once a read finds the store not answering ([`StoreError::is_unanswered`]), the reads that
//! follow fail at once with [`StoreError::Unanswered`] (a circuit breaker) until a background
//! probe, one `SELECT 1` every [`PROBE_INTERVAL`], finds the store answering again. The catalog
//! and the log collector then serve the metadata they loaded last without waiting: without the
//! breaker each sync needing a load during an outage waited for the pool's connect timeout, once
//! for the application and again for its log appenders, which together outlast an SDK's wait for
//! its CONNACK.

use std::future::Future;
use std::time::Duration;

use kaa_store::StoreError;
use kaa_store::metadata::MetadataStore;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How often a store found not answering is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Reads of the metadata store, bounded and broken off while it does not answer.
pub struct MetadataReads {
    store: MetadataStore,
    limit: Duration,
    probe_interval: Duration,
    /// 1 while the store is known not to answer and reads are held back (the breaker itself,
    /// shown on `/metrics` as it is).
    unanswered: Gauge,
    /// Times the store was found not answering.
    trips: Counter,
    /// Reads failed at once, unsent.
    held_back: Counter,
    stop: CancellationToken,
}

impl MetadataReads {
    /// Reads of `store`, each bounded by its database's call limit.
    pub fn new(store: MetadataStore) -> Self {
        let limit = store.database().call_limit();
        Self::with_limits(store, limit, PROBE_INTERVAL)
    }

    /// Reads of `store`, each bounded by `limit`, probing every `probe_interval` while the store
    /// does not answer.
    pub fn with_limits(store: MetadataStore, limit: Duration, probe_interval: Duration) -> Self {
        Self {
            store,
            limit,
            probe_interval,
            unanswered: Gauge::default(),
            trips: Counter::default(),
            held_back: Counter::default(),
            stop: CancellationToken::new(),
        }
    }

    /// Runs `call` on the store, unless the store is known not to answer
    /// ([`StoreError::Unanswered`] at once); a call outliving the limit fails with
    /// [`StoreError::Timeout`].
    pub async fn read<'s, T, Fut>(
        &'s self,
        call: impl FnOnce(&'s MetadataStore) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>> + 's,
    {
        if self.unanswered.get() == 1 {
            self.held_back.inc();
            return Err(StoreError::Unanswered);
        }
        let result = kaa_store::bounded(self.limit, call(&self.store)).await;
        if let Err(error) = &result
            && error.is_unanswered()
        {
            self.trip(error);
        }
        result
    }

    /// Holds reads back and probes the store until it answers.
    fn trip(&self, error: &StoreError) {
        if self.unanswered.set(1) == 1 {
            return;
        }
        self.trips.inc();
        warn!(%error, probe_every = ?self.probe_interval, "metadata store not answering: reads held back, the metadata loaded last is served, until it answers a probe");
        let (store, unanswered, stop) = (
            self.store.clone(),
            self.unanswered.clone(),
            self.stop.clone(),
        );
        let (limit, interval) = (self.limit, self.probe_interval);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                match kaa_store::bounded(limit, store.database().ping()).await {
                    Ok(()) => {
                        unanswered.set(0);
                        info!("metadata store answers again; reads resume");
                        return;
                    }
                    Err(error) => debug!(%error, "metadata store probe failed"),
                }
            }
        });
    }

    /// Stops probing (the service stops).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Registers `kaa_metadata_store_unanswered`, `kaa_metadata_store_trips_total` and
    /// `kaa_metadata_reads_held_back_total`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kaa_metadata_store_unanswered",
            "1 while the metadata store is known not to answer and reads are held back",
            self.unanswered.clone(),
        );
        registry.register(
            "kaa_metadata_store_trips",
            "Times the metadata store was found not answering",
            self.trips.clone(),
        );
        registry.register(
            "kaa_metadata_reads_held_back",
            "Metadata reads failed at once, unsent, while the store was known not to answer",
            self.held_back.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kaa_store::metadata::Page;
    use kaa_store::sql::SqlDatabase;

    use super::*;

    /// An embedded store of the test's own.
    async fn store() -> (MetadataStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("metadata.db").display());
        let database = SqlDatabase::connect(&url, 2).await.unwrap();
        (MetadataStore::open(database).await.unwrap(), dir)
    }

    #[tokio::test]
    async fn after_a_read_outlives_its_limit_reads_fail_at_once_until_a_probe_is_answered() {
        let (store, _dir) = store().await;
        let reads = MetadataReads::with_limits(
            store,
            Duration::from_millis(100),
            Duration::from_millis(300),
        );
        let sent = AtomicUsize::new(0);
        let count = |_: &MetadataStore| {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, StoreError>(()) }
        };
        reads.read(count).await.unwrap();

        let started = std::time::Instant::now();
        let silent = reads
            .read(|_| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
            .await;
        assert!(matches!(silent, Err(StoreError::Timeout(_))), "{silent:?}");
        assert!(started.elapsed() < Duration::from_secs(5));

        let held = reads.read(count).await;
        assert!(matches!(held, Err(StoreError::Unanswered)), "{held:?}");
        assert_eq!(
            sent.load(Ordering::SeqCst),
            1,
            "a held-back read is not sent"
        );
        assert_eq!(reads.held_back.get(), 1);

        // The store (SQLite) answers the probe: reads resume.
        tokio::time::sleep(Duration::from_millis(600)).await;
        reads.read(count).await.unwrap();
        assert_eq!(sent.load(Ordering::SeqCst), 2);
        assert_eq!(reads.trips.get(), 1);
        assert_eq!(reads.unanswered.get(), 0);
    }

    #[tokio::test]
    async fn an_answer_the_caller_did_not_want_does_not_hold_reads_back() {
        let (store, _dir) = store().await;
        let reads = MetadataReads::new(store);
        let missing = reads.read(|store| store.application("no-such-app")).await;
        assert!(
            matches!(missing, Err(StoreError::NotFound(_))),
            "{missing:?}"
        );
        reads
            .read(|store| {
                store.tenants(Page {
                    offset: 0,
                    limit: 10,
                })
            })
            .await
            .unwrap();
        assert_eq!(reads.trips.get(), 0);
    }
}
