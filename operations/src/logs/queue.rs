//! The queue in front of each log appender's worker, bounded twice: in batches (the channel's
//! capacity) and in the decoded bytes of the batches it holds ([`Budget`]), so that a slow
//! storage behind one appender holds at most `queue_bytes` of records however small the frames
//! were that carried them. What every appender queue of the node holds is on `/metrics`
//! ([`QueueMetrics`]).

use std::sync::Arc;

use kaa_idl::endpoint::sync::LogDeliveryErrorCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

use super::record::LogBatch;
use crate::budget::{Budget, QueueGauges, Share, gauge_value};

/// The outcome a confirming appender reports for one batch.
pub(super) type Outcome = Result<(), LogDeliveryErrorCode>;

/// One batch for one appender.
pub(super) struct Job {
    pub batch: Arc<LogBatch>,
    /// Set when the appender confirms delivery: where the outcome goes.
    pub reply: Option<oneshot::Sender<Outcome>>,
    /// The batch's bytes of the queue, given back when the job is dropped.
    _share: Share,
}

/// Why log batches were refused, as `/metrics` labels them.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct Refusal {
    reason: &'static str,
}

impl Refusal {
    /// The records do not match the log schema.
    pub const UNDECODABLE: Self = Self {
        reason: "undecodable",
    };
    /// A record or the batch would take more memory decoded than the limits allow.
    pub const TOO_LARGE: Self = Self {
        reason: "decoded_too_large",
    };
    /// An appender's queue is full (in batches or in bytes).
    pub const QUEUE_FULL: Self = Self {
        reason: "queue_full",
    };
}

/// What the appender queues of one node hold, their limits, and the batches refused; clones
/// share them.
#[derive(Debug, Clone, Default)]
pub struct QueueMetrics {
    queued: QueueGauges,
    limit_batches: Gauge,
    limit_bytes: Gauge,
    refused: Family<Refusal, Counter>,
}

impl QueueMetrics {
    /// Metrics for queues of at most `batches` batches and `bytes` decoded bytes each.
    pub fn new(batches: usize, bytes: usize) -> Self {
        let metrics = Self::default();
        metrics.limit_batches.set(gauge_value(batches));
        metrics.limit_bytes.set(gauge_value(bytes));
        metrics
    }

    /// Counts one refused batch.
    pub(super) fn refused(&self, reason: Refusal) {
        self.refused.get_or_create(&reason).inc();
    }

    /// Batches and decoded bytes queued now, over every appender of the node.
    pub fn queued(&self) -> (i64, i64) {
        self.queued.get()
    }

    /// Registers `kaa_log_appender_queued_{batches,bytes}`, the per-appender limits
    /// `kaa_log_appender_queue_limit_{batches,bytes}` and `kaa_log_batches_refused_total{reason}`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kaa_log_appender_queued_batches",
            "Log batches waiting in the queues of this node's log appenders (a batch two appenders take counts twice)",
            self.queued.entries.clone(),
        );
        registry.register(
            "kaa_log_appender_queued_bytes",
            "Decoded size of the log batches waiting in the queues of this node's log appenders",
            self.queued.bytes.clone(),
        );
        registry.register(
            "kaa_log_appender_queue_limit_batches",
            "Batches one log appender queues before it refuses more (log_collection.queue_batches)",
            self.limit_batches.clone(),
        );
        registry.register(
            "kaa_log_appender_queue_limit_bytes",
            "Decoded bytes one log appender queues before it refuses more (log_collection.queue_bytes)",
            self.limit_bytes.clone(),
        );
        registry.register(
            "kaa_log_batches_refused",
            "Log batches answered FAILURE before any appender took them: records that do not decode, too large once decoded, a full appender queue",
            self.refused.clone(),
        );
    }
}

/// The sending side of one appender's queue.
pub(super) struct Queue {
    sender: mpsc::Sender<Job>,
    budget: Budget,
}

impl Queue {
    /// A queue of at most `batches` batches and `bytes` decoded bytes, and its receiving side.
    pub fn new(
        batches: usize,
        bytes: usize,
        metrics: &QueueMetrics,
    ) -> (Self, mpsc::Receiver<Job>) {
        let (sender, receiver) = mpsc::channel(batches.max(1));
        let budget = Budget::new(bytes, metrics.queued.clone());
        (Self { sender, budget }, receiver)
    }

    /// Queues `batch`, or refuses it when the queue holds too many batches or bytes.
    pub fn try_push(
        &self,
        batch: Arc<LogBatch>,
        reply: Option<oneshot::Sender<Outcome>>,
    ) -> Result<(), QueueFull> {
        let share = self.budget.take(batch.bytes).ok_or(QueueFull)?;
        self.sender
            .try_send(Job {
                batch,
                reply,
                _share: share,
            })
            .map_err(|_| QueueFull)
    }
}

/// An appender's queue had no room for a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QueueFull;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::record::LogHeader;

    fn batch(bytes: usize) -> Arc<LogBatch> {
        Arc::new(LogBatch {
            header: LogHeader::new(b"k", "token", 0, 1),
            events: Vec::new(),
            bytes,
        })
    }

    #[test]
    fn a_queue_refuses_batches_over_its_byte_limit_and_takes_more_once_they_leave() {
        let metrics = QueueMetrics::new(10, 1000);
        let (queue, mut jobs) = Queue::new(10, 1000, &metrics);
        assert!(queue.try_push(batch(600), None).is_ok());
        assert_eq!(
            queue.try_push(batch(500), None),
            Err(QueueFull),
            "600 + 500 bytes is over 1000"
        );
        assert!(queue.try_push(batch(400), None).is_ok());
        assert_eq!(metrics.queued(), (2, 1000));
        drop(jobs.try_recv().unwrap());
        assert_eq!(
            metrics.queued(),
            (1, 400),
            "the written batch gave its bytes back"
        );
        assert!(queue.try_push(batch(500), None).is_ok());
        drop(queue);
        drop(jobs);
        assert_eq!(
            metrics.queued(),
            (0, 0),
            "a dropped queue gives back what it held"
        );
    }

    #[test]
    fn a_queue_refuses_batches_over_its_count_limit_and_keeps_its_bytes_right() {
        let metrics = QueueMetrics::new(2, 1_000_000);
        let (queue, _jobs) = Queue::new(2, 1_000_000, &metrics);
        assert!(queue.try_push(batch(10), None).is_ok());
        assert!(queue.try_push(batch(10), None).is_ok());
        assert_eq!(queue.try_push(batch(10), None), Err(QueueFull));
        assert_eq!(metrics.queued(), (2, 20), "the refused batch holds nothing");
    }
}
