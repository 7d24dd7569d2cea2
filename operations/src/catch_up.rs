//! No silent staleness: how an Operations node notices a change notification it never received
//! and catches up from the metadata store.
//!
//! Every logged change of an application has the next number of the application's change log,
//! and Control's notification carries it (`Notification.app_seq_number`). For each application
//! whose metadata it has loaded, the node keeps the last number its endpoints were told about
//! ([`crate::change_sequences::Sequences`], pure). A notification that skips numbers (a gap) means one was lost; a
//! periodic check ([`CatchUp::run`]) compares each number with the application's latest in the
//! store and catches up on any difference, so a lost notification that no later change
//! follows is noticed too. The same check runs at once when the node gets back to ZooKeeper
//! after losing it: a node cut off the network (its session expired, so Control stopped
//! announcing to it) serves what changed meanwhile as soon as it rejoins, not at the next
//! periodic check. Catching up does what a notification does: the application's cached
//! metadata and log appenders go, and its connected endpoints resync.
//!
//! Tracking starts when the catalog first loads an application, at the number that load read:
//! nothing on this node used the application before. Later loads do not move the number, since
//! they do not tell the sessions already connected; only notifications and catch-ups do.
//! Reloads are counted by cause as `kaa_catalog_reloads_total` on `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use kaa_store::StoreError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::catalog::Catalog;
use crate::change_sequences::Observed;
use crate::logs::LogCollector;
use crate::sessions::{Push, Sessions};

/// Why an application's metadata was reloaded outside its own notification.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Cause {
    cause: &'static str,
}

const GAP: Cause = Cause { cause: "gap" };
const PERIODIC_CHECK: Cause = Cause {
    cause: "periodic_check",
};

/// Catch-ups by cause (`kaa_catalog_reloads_total{cause="gap"|"periodic_check"}`; the check
/// on rejoining counts as `periodic_check`).
#[derive(Clone, Default)]
pub struct CatchUpMetrics {
    reloads: Family<Cause, Counter>,
}

impl CatchUpMetrics {
    /// Registers the counters in `registry`, both causes shown from the start.
    pub fn register(&self, registry: &mut Registry) {
        for cause in [GAP, PERIODIC_CHECK] {
            let _ = self.reloads.get_or_create(&cause);
        }
        registry.register(
            "kaa_catalog_reloads",
            "Applications reloaded because a change notification was missed: a notification skipped change-log numbers (gap) or the periodic check found the store ahead (periodic_check)",
            self.reloads.clone(),
        );
    }
}

/// Applies change notifications to this node's caches and sessions, and catches up on the ones
/// that never arrived. Cheap to share (`Arc`).
pub struct CatchUp {
    catalog: Arc<Catalog>,
    logs: Arc<LogCollector>,
    sessions: Arc<Sessions>,
    metrics: CatchUpMetrics,
}

impl CatchUp {
    /// Catch-up over the node's catalog, log collector and sessions.
    pub fn new(catalog: Arc<Catalog>, logs: Arc<LogCollector>, sessions: Arc<Sessions>) -> Self {
        Self {
            catalog,
            logs,
            sessions,
            metrics: CatchUpMetrics::default(),
        }
    }

    /// The counters, for `/metrics`.
    pub fn metrics(&self) -> &CatchUpMetrics {
        &self.metrics
    }

    /// A change notification of `app_id`, logged as change `seq` (`None`: not a change-log
    /// entry, such as a topic notification): the application's cached metadata goes and its
    /// sessions get `push`. A gap before `seq` is counted; what the missed notifications would
    /// have done is done by this one, which reloads the whole application.
    pub fn on_notification(&self, app_id: &str, seq: Option<i64>, push: &Push) {
        if let Some(seq) = seq
            && let Observed::Gap { missed } = self.catalog.observe_change(app_id, seq)
        {
            self.metrics.reloads.get_or_create(&GAP).inc();
            warn!(
                app = app_id,
                seq, missed, "change notifications were missed; reloading the application"
            );
        }
        self.reload(app_id, push);
    }

    /// Compares every tracked application with the store and catches up where they differ.
    /// Returns how many applications were reloaded.
    pub async fn check(&self) -> usize {
        let mut reloaded = 0;
        for (app_id, applied) in self.catalog.tracked_changes() {
            match self
                .catalog
                .metadata()
                .read(|store| store.application(&app_id))
                .await
            {
                Ok(app) if self.catalog.check_changes(&app_id, app.seq) => {
                    self.metrics.reloads.get_or_create(&PERIODIC_CHECK).inc();
                    warn!(
                        app = %app_id,
                        applied,
                        latest = app.seq,
                        "a change notification was missed; reloading the application"
                    );
                    self.reload(&app_id, &Push::Resync);
                    reloaded += 1;
                }
                Ok(_) => {}
                Err(StoreError::NotFound(_)) => {
                    debug!(app = %app_id, "tracked application deleted");
                    self.catalog.forget_changes(&app_id);
                    self.reload(&app_id, &Push::Resync);
                }
                Err(error) => {
                    warn!(app = %app_id, %error, "cannot check the application's change log");
                }
            }
        }
        reloaded
    }

    /// Runs [`CatchUp::check`] every `interval` and whenever `returns` (the node's returns to
    /// ZooKeeper, [`kaa_cluster::Cluster::watch_returns`]) moves, until the task is aborted.
    pub async fn run(self: Arc<Self>, interval: Duration, mut returns: watch::Receiver<u64>) {
        info!(?interval, "checking change-log numbers periodically");
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                Ok(()) = returns.changed() => {
                    info!("back in touch with the cluster; checking for changes missed meanwhile");
                }
            }
            self.check().await;
        }
    }

    /// Drops what is cached of `app_id` and tells its connected endpoints.
    fn reload(&self, app_id: &str, push: &Push) {
        self.catalog.invalidate(app_id);
        self.logs.invalidate(app_id);
        let reached = self.sessions.push_app(app_id, push);
        debug!(app = app_id, ?push, sessions = reached, "applied a change");
    }
}
