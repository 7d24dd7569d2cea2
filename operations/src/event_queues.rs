//! Where events wait, bounded in bytes as well as in count: each endpoint's queue on the node of
//! its session ([`EventQueue`], oldest dropped past its limit), the limits ([`EventLimits`]) and
//! what `/metrics` shows of them and of the ring owner's routing queues ([`EventMetrics`]).

use std::collections::VecDeque;

use kaa_idl::endpoint::sync::Event;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::budget::QueueGauges;

/// How many bytes of events may wait, per endpoint and at the ring owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// Events queued for one endpoint (oldest dropped past it).
    pub endpoint_queue_bytes: usize,
    /// Events queued at this node, as ring owner, for routing (refused past it).
    pub route_queue_bytes: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            endpoint_queue_bytes: 1 << 20,
            route_queue_bytes: 32 << 20,
        }
    }
}

/// Events an endpoint holds before the oldest are dropped, whatever their size (an endpoint that
/// stopped reading).
const MAX_QUEUED_EVENTS: usize = 10_000;

/// What one event takes in a queue: its data, class name, source and target, and its slot.
pub fn event_size(event: &Event) -> usize {
    size_of::<Event>()
        + event.event_data.len()
        + event.event_class_fqn.len()
        + event.source.as_ref().map_or(0, String::len)
        + event.target.as_ref().map_or(0, String::len)
}

/// Why events were dropped or refused, as `/metrics` labels them.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropReason {
    reason: &'static str,
}

/// What the node's event queues hold and what they dropped; clones share them.
#[derive(Debug, Clone, Default)]
pub struct EventMetrics {
    /// Every endpoint's queue on this node.
    pub endpoint_queues: QueueGauges,
    /// The ring owner's routing queues on this node.
    pub route_queues: QueueGauges,
    dropped: Family<DropReason, Counter>,
}

impl EventMetrics {
    pub(crate) fn dropped(&self, reason: &'static str, n: usize) {
        self.dropped
            .get_or_create(&DropReason { reason })
            .inc_by(n as u64);
    }

    /// Events dropped or refused so far for `reason` (`endpoint_queue_full`,
    /// `route_queue_full`).
    pub fn dropped_count(&self, reason: &'static str) -> u64 {
        self.dropped.get_or_create(&DropReason { reason }).get()
    }

    /// Registers `kaa_event_endpoint_queued_{events,bytes}`, `kaa_event_route_queued_{events,bytes}`
    /// and `kaa_events_dropped_total{reason}`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kaa_event_endpoint_queued_events",
            "Events waiting for endpoints with a session on this node",
            self.endpoint_queues.entries.clone(),
        );
        registry.register(
            "kaa_event_endpoint_queued_bytes",
            "Bytes of the events waiting for endpoints with a session on this node (at most events.endpoint_queue_bytes each)",
            self.endpoint_queues.bytes.clone(),
        );
        registry.register(
            "kaa_event_route_queued_events",
            "Events waiting at this node, as their owner's ring owner, to be routed",
            self.route_queues.entries.clone(),
        );
        registry.register(
            "kaa_event_route_queued_bytes",
            "Bytes of the events waiting at this node to be routed (at most events.route_queue_bytes)",
            self.route_queues.bytes.clone(),
        );
        registry.register(
            "kaa_events_dropped",
            "Events dropped from a full endpoint queue (oldest first) or refused by a full routing queue",
            self.dropped.clone(),
        );
    }
}

/// The events waiting for one endpoint, oldest first, bounded in count and bytes: a new event
/// that does not fit pushes the oldest out. Pure but for the shared gauges it keeps right.
#[derive(Debug, Default)]
pub struct EventQueue {
    events: VecDeque<Event>,
    bytes: usize,
}

impl EventQueue {
    /// Adds `events`, dropping the oldest past `limit_bytes` (or [`MAX_QUEUED_EVENTS`]); an
    /// event larger than the limit on its own is dropped. Returns how many were dropped.
    pub fn push(
        &mut self,
        events: Vec<Event>,
        limit_bytes: usize,
        metrics: &EventMetrics,
    ) -> usize {
        let mut dropped = 0;
        for event in events {
            let size = event_size(&event);
            if size > limit_bytes {
                dropped += 1;
                continue;
            }
            while self.bytes + size > limit_bytes || self.events.len() >= MAX_QUEUED_EVENTS {
                let Some(oldest) = self.events.pop_front() else {
                    break;
                };
                self.forget(event_size(&oldest), metrics);
                dropped += 1;
            }
            self.bytes += size;
            metrics.endpoint_queues.entries.inc();
            metrics
                .endpoint_queues
                .bytes
                .inc_by(crate::budget::gauge_value(size));
            self.events.push_back(event);
        }
        if dropped > 0 {
            metrics.dropped("endpoint_queue_full", dropped);
        }
        dropped
    }

    /// Empties the queue, returning its events, oldest first.
    pub fn take(&mut self, metrics: &EventMetrics) -> Vec<Event> {
        let events: Vec<Event> = std::mem::take(&mut self.events).into();
        metrics
            .endpoint_queues
            .entries
            .dec_by(crate::budget::gauge_value(events.len()));
        metrics
            .endpoint_queues
            .bytes
            .dec_by(crate::budget::gauge_value(self.bytes));
        self.bytes = 0;
        events
    }

    fn forget(&mut self, size: usize, metrics: &EventMetrics) {
        self.bytes -= size;
        metrics.endpoint_queues.entries.dec();
        metrics
            .endpoint_queues
            .bytes
            .dec_by(crate::budget::gauge_value(size));
    }

    /// How many events wait.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Bytes of the waiting events.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An event of class `Ping`, number `n`, with `data` bytes.
    pub(crate) fn sized(n: i32, data: usize) -> Event {
        Event {
            seq_num: n,
            event_class_fqn: "Ping".into(),
            event_data: vec![0; data],
            ..Event::default()
        }
    }

    #[test]
    fn an_endpoint_queue_drops_its_oldest_events_past_its_byte_limit() {
        let metrics = EventMetrics::default();
        let mut queue = EventQueue::default();
        let size = event_size(&sized(0, 1000));
        let limit = 3 * size;
        assert_eq!(
            queue.push(vec![sized(1, 1000), sized(2, 1000)], limit, &metrics),
            0
        );
        assert_eq!(
            queue.push(vec![sized(3, 1000), sized(4, 1000)], limit, &metrics),
            1
        );
        assert_eq!((queue.len(), queue.bytes()), (3, 3 * size));
        assert_eq!(metrics.endpoint_queues.get(), (3, 3 * size as i64));
        assert_eq!(
            queue.push(vec![sized(5, limit)], limit, &metrics),
            1,
            "an event larger than the whole queue is dropped on its own"
        );
        assert_eq!(metrics.dropped_count("endpoint_queue_full"), 2);
        let seqs: Vec<i32> = queue.take(&metrics).iter().map(|e| e.seq_num).collect();
        assert_eq!(seqs, vec![2, 3, 4], "oldest first, the oldest dropped");
        assert_eq!(metrics.endpoint_queues.get(), (0, 0));
        assert!(queue.is_empty());
    }

    #[test]
    fn an_endpoint_queue_holds_at_most_its_count_of_small_events() {
        let metrics = EventMetrics::default();
        let mut queue = EventQueue::default();
        let many: Vec<Event> = (0..MAX_QUEUED_EVENTS as i32 + 5)
            .map(|n| sized(n, 0))
            .collect();
        assert_eq!(queue.push(many, usize::MAX / 2, &metrics), 5);
        assert_eq!(queue.len(), MAX_QUEUED_EVENTS);
    }
}
