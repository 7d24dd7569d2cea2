//! Readiness probes: each dependency a node needs (a database, ZooKeeper) contributes one, and the
//! node's `/ready` endpoint runs them all.

use futures::future::BoxFuture;

/// One readiness check, such as "the metadata database answers a query".
pub trait Probe: Send + Sync {
    /// A short, stable name, e.g. `metadata-sql` or `zookeeper`.
    fn name(&self) -> &str;

    /// Resolves to `Ok(())` when the dependency is usable right now, or a one-line reason.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}
