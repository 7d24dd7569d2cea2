//! The node's RSA private-key work (unwrapping the session key of every encrypted session start,
//! signing Bootstrap's HTTP answers) on a bounded pool: at most `workers` operations run at
//! once, on blocking threads, never on the async workers that serve connections; up to `queue`
//! more wait their turn; any beyond are refused at once ([`SyncFailure::Overloaded`]: CONNACK
//! "server unavailable", HTTP 503). Each operation costs the node milliseconds and a client
//! nothing, so without the bound a flood of junk CONNECTs would queue work without end and starve
//! the sessions already open.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use crate::SyncFailure;

/// Operations that may wait for a worker by default.
pub const DEFAULT_QUEUE: usize = 256;

/// The bounded pool of private-key work.
#[derive(Debug)]
pub struct KeyWork {
    /// One permit per worker.
    workers: Arc<Semaphore>,
    /// One permit per operation running or waiting.
    room: Arc<Semaphore>,
    metrics: KeyWorkMetrics,
}

/// What the pool counts on `/metrics`.
#[derive(Debug, Clone, Default)]
struct KeyWorkMetrics {
    waiting: Gauge,
    running: Gauge,
    refused: Counter,
}

impl KeyWork {
    /// `workers` operations at once (0: one per core), `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Self {
            workers: Arc::new(Semaphore::new(workers)),
            room: Arc::new(Semaphore::new(workers + queue)),
            metrics: KeyWorkMetrics::default(),
        }
    }

    /// Runs `work` on a worker, waiting for one if all are busy; refused at once when the queue
    /// is full. Work started runs to its end even if the caller goes away (it holds its places
    /// until then).
    pub async fn run<T, F>(&self, work: F) -> Result<T, SyncFailure>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let Ok(room) = self.room.clone().try_acquire_owned() else {
            self.metrics.refused.inc();
            tracing::debug!("private-key work queue full; session start refused");
            return Err(SyncFailure::Overloaded);
        };
        let waiting = GaugeGuard::new(&self.metrics.waiting);
        let worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SyncFailure::Overloaded)?;
        drop(waiting);
        let running = self.metrics.running.clone();
        let done = tokio::task::spawn_blocking(move || {
            let _places = (room, worker, GaugeGuard::new(&running));
            work()
        })
        .await;
        match done {
            Ok(value) => Ok(value),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => Err(SyncFailure::Internal(format!("private-key work: {error}"))),
        }
    }

    /// Registers the pool's gauges and counter in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kaa_endpoint_key_work_waiting",
            "RSA private-key operations (session key unwraps, Bootstrap signatures) waiting for a worker",
            self.metrics.waiting.clone(),
        );
        registry.register(
            "kaa_endpoint_key_work_running",
            "RSA private-key operations running",
            self.metrics.running.clone(),
        );
        registry.register(
            "kaa_endpoint_key_work_refused",
            "Session starts refused because the private-key work queue was full (CONNACK server unavailable, HTTP 503)",
            self.metrics.refused.clone(),
        );
    }
}

impl Default for KeyWork {
    fn default() -> Self {
        Self::new(0, DEFAULT_QUEUE)
    }
}

/// A gauge raised while the guard lives.
struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn work_beyond_the_workers_and_the_queue_is_refused_at_once() {
        let pool = Arc::new(KeyWork::new(1, 1));
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let block = |held: Arc<std::sync::Mutex<mpsc::Receiver<()>>>| {
            move || {
                held.lock().unwrap().recv().unwrap();
                7
            }
        };
        let running = tokio::spawn({
            let (pool, held) = (pool.clone(), held.clone());
            async move { pool.run(block(held)).await }
        });
        let waiting = tokio::spawn({
            let (pool, held) = (pool.clone(), held.clone());
            async move { pool.run(block(held)).await }
        });
        while pool.metrics.waiting.get() + pool.metrics.running.get() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = std::time::Instant::now();
        assert_eq!(pool.run(|| 1).await, Err(SyncFailure::Overloaded));
        assert!(started.elapsed() < Duration::from_millis(100));
        assert_eq!(pool.metrics.refused.get(), 1);
        release.send(()).unwrap();
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(7));
        assert_eq!(waiting.await.unwrap(), Ok(7));
        assert_eq!(
            pool.run(|| 1).await,
            Ok(1),
            "room again once the work is done"
        );
        assert_eq!(pool.metrics.running.get(), 0);
        assert_eq!(pool.metrics.waiting.get(), 0);
    }
}
