//! Byte budgets for the node's in-memory queues (log appender queues, event queues): a queue
//! takes an entry only if its bytes fit what the queue may hold, and the entry carries a
//! [`Share`] that gives the bytes back when it is dropped (written, delivered, skipped, or
//! dropped with its queue), so the accounting holds on every path without bookkeeping at each.
//!
//! Queues of one kind report together on `/metrics` through one [`QueueGauges`]: what they hold
//! now, in entries and bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus_client::metrics::gauge::Gauge;

/// Entries and bytes held by every queue of one kind; clones share the gauges.
#[derive(Debug, Clone, Default)]
pub struct QueueGauges {
    /// Entries queued now.
    pub entries: Gauge,
    /// Bytes queued now.
    pub bytes: Gauge,
}

impl QueueGauges {
    /// Entries and bytes queued now.
    pub fn get(&self) -> (i64, i64) {
        (self.entries.get(), self.bytes.get())
    }
}

/// A gauge value for `n`.
pub fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What one queue may hold, in bytes; clones share it.
#[derive(Debug, Clone)]
pub struct Budget(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    used: AtomicUsize,
    limit: usize,
    gauges: QueueGauges,
}

impl Budget {
    /// A budget of `limit` bytes, reported in `gauges`.
    pub fn new(limit: usize, gauges: QueueGauges) -> Self {
        Self(Arc::new(Inner {
            used: AtomicUsize::new(0),
            limit,
            gauges,
        }))
    }

    /// A share of `bytes`, if they fit beside what is held.
    pub fn take(&self, bytes: usize) -> Option<Share> {
        let inner = &self.0;
        inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|&total| total <= inner.limit)
            })
            .ok()?;
        inner.gauges.entries.inc();
        inner.gauges.bytes.inc_by(gauge_value(bytes));
        Some(Share {
            bytes,
            budget: self.clone(),
        })
    }
}

/// Bytes an entry holds of its queue's budget, given back when dropped.
#[derive(Debug)]
pub struct Share {
    bytes: usize,
    budget: Budget,
}

impl Drop for Share {
    fn drop(&mut self) {
        let inner = &self.budget.0;
        inner.used.fetch_sub(self.bytes, Ordering::AcqRel);
        inner.gauges.entries.dec();
        inner.gauges.bytes.dec_by(gauge_value(self.bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_gives_shares_while_they_fit_and_takes_them_back_when_dropped() {
        let gauges = QueueGauges::default();
        let budget = Budget::new(1000, gauges.clone());
        let a = budget.take(600).unwrap();
        assert!(budget.take(500).is_none(), "600 + 500 is over 1000");
        let b = budget.take(400).unwrap();
        assert_eq!(gauges.get(), (2, 1000));
        drop(a);
        assert_eq!(gauges.get(), (1, 400));
        assert!(budget.take(usize::MAX).is_none(), "no overflow");
        drop(b);
        assert_eq!(gauges.get(), (0, 0));
        assert!(budget.take(1000).is_some(), "everything given back");
    }

    #[test]
    fn budgets_of_one_kind_report_together() {
        let gauges = QueueGauges::default();
        let first = Budget::new(100, gauges.clone());
        let second = Budget::new(100, gauges.clone());
        let _a = first.take(100).unwrap();
        let _b = second.take(70).unwrap();
        assert_eq!(gauges.get(), (2, 170));
        assert!(first.take(1).is_none());
        assert!(second.take(30).is_some());
    }
}
