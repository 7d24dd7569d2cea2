//! The endpoints connected to this node, by endpoint key hash, with every channel each one has
//! open here, so a change can reach an endpoint wherever it listens.
//!
//! An endpoint may have several channels at once: a Kaatcp session, HTTP long polls waiting for
//! pushes and `/EP/Sync` requests in flight (Kaa's HTTP SDK keeps a long poll waiting while it
//! posts logs). Each channel registers with its own id and unregisters only itself. A push goes
//! to one channel that can take it, the newest that waits for pushes (a Kaatcp session or a
//! waiting long poll) before any other; a revocation goes to all of them. Events for the
//! endpoint wait in its entry, not in a channel, until whichever channel answers next takes
//! them. When the last channel closes the entry stays idle with its events for [`LINGER`], so an
//! HTTP endpoint's next poll still gets what arrived between two polls; the caller then
//! [`Sessions::expire`]s it. The session count (the node's load) counts endpoints with a channel,
//! not channels. The map is split into shards, each behind its own short-lived mutex, so syncs
//! of different endpoints never wait on one global lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use kaa_idl::endpoint::sync::Event;
pub use kaa_transport::Channel;
use kaa_transport::pushes::{PushSender, TrySendError};

use crate::event_queues::{EventLimits, EventMetrics, EventQueue};
use crate::shards::ShardedMap;

/// Something a connected endpoint must be told without having asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// Application metadata changed: recompute groups, configuration and topics.
    Resync,
    /// New topic or unicast notifications may be waiting.
    Notifications,
    /// The server-side profile changed.
    ServerProfile,
    /// The endpoint's credentials were revoked: end the session.
    Revoked,
    /// Events wait in the endpoint's queue ([`Sessions::take_events`]).
    Events,
    /// Another endpoint, named by its access token, attached this one to its owner or detached
    /// it.
    OwnerChanged(String),
}

/// One open channel of an endpoint.
#[derive(Debug)]
struct Open {
    id: u64,
    channel: Channel,
    pushes: PushSender<Push>,
}

/// An endpoint known here: its channels (oldest first) and the events waiting for it. Its
/// presence id names it from its first channel until it expires, whatever channels come and go.
#[derive(Debug)]
struct Entry {
    presence: u64,
    app_id: String,
    channels: Vec<Open>,
    events: EventQueue,
}

impl Entry {
    /// Sends `push` to one channel that takes it: the newest waiting one first, then the newest
    /// other. False when none is open.
    fn push_one(&self, push: Push) -> bool {
        let waiting = self
            .channels
            .iter()
            .rev()
            .filter(|c| c.channel == Channel::Waiting);
        let others = self
            .channels
            .iter()
            .rev()
            .filter(|c| c.channel != Channel::Waiting);
        for open in waiting.chain(others) {
            match open.pushes.try_send(push.clone()) {
                // A full queue already has pushes pending, which make the channel resync.
                Ok(()) | Err(TrySendError::Full(_)) => return true,
                // The channel is closing; another may take it.
                Err(TrySendError::Closed(_)) => {}
            }
        }
        false
    }

    /// Sends `push` to every channel; false when none is open.
    fn push_all(&self, push: &Push) -> bool {
        for open in &self.channels {
            let _ = open.pushes.try_send(push.clone());
        }
        !self.channels.is_empty()
    }
}

/// How long an endpoint whose last channel closed keeps its queued events (and, in the caller,
/// its event route): longer than an HTTP endpoint takes to poll again.
pub const LINGER: Duration = Duration::from_secs(10);

const SHARDS: usize = 64;

/// The endpoints of this node and their channels.
pub struct Sessions {
    endpoints: ShardedMap<Entry>,
    next_id: AtomicU64,
    count: Arc<AtomicUsize>,
    /// Bytes of events one endpoint holds before the oldest are dropped.
    event_queue_bytes: usize,
    event_metrics: EventMetrics,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::counted(Arc::default())
    }
}

impl Sessions {
    /// An empty registry that keeps `count` equal to the number of endpoints with a channel
    /// (the node publishes it as its load).
    pub fn counted(count: Arc<AtomicUsize>) -> Self {
        count.store(0, Ordering::Relaxed);
        Self {
            endpoints: ShardedMap::new(SHARDS),
            next_id: AtomicU64::new(1),
            count,
            event_queue_bytes: EventLimits::default().endpoint_queue_bytes,
            event_metrics: EventMetrics::default(),
        }
    }

    /// This registry with each endpoint's events bounded to `bytes`, counted in `metrics`.
    pub fn with_event_queues(self, bytes: usize, metrics: EventMetrics) -> Self {
        Self {
            event_queue_bytes: bytes,
            event_metrics: metrics,
            ..self
        }
    }

    /// A fresh id, for a channel.
    pub fn new_session_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds channel `channel_id` to endpoint `key_hash` (of application `app_id`); returns the
    /// endpoint's presence id, the same for all its channels until it expires.
    pub fn register(
        &self,
        key_hash: &[u8],
        app_id: &str,
        channel_id: u64,
        channel: Channel,
        pushes: PushSender<Push>,
    ) -> u64 {
        let mut shard = self.endpoints.shard(key_hash);
        let entry = shard.entry(key_hash.to_vec()).or_insert_with(|| Entry {
            presence: self.next_id.fetch_add(1, Ordering::Relaxed),
            app_id: app_id.to_owned(),
            channels: Vec::new(),
            events: EventQueue::default(),
        });
        if entry.channels.is_empty() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        entry.app_id = app_id.to_owned();
        entry.channels.push(Open {
            id: channel_id,
            channel,
            pushes,
        });
        entry.presence
    }

    /// Removes channel `channel_id` of the endpoint. When it was the endpoint's last channel,
    /// returns the endpoint's presence id: the caller [`expire`](Self::expire)s it after
    /// [`LINGER`].
    pub fn unregister(&self, key_hash: &[u8], channel_id: u64) -> Option<u64> {
        let mut shard = self.endpoints.shard(key_hash);
        let entry = shard.get_mut(key_hash)?;
        let before = entry.channels.len();
        entry.channels.retain(|c| c.id != channel_id);
        if before == entry.channels.len() || !entry.channels.is_empty() {
            return None;
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        Some(entry.presence)
    }

    /// Forgets the endpoint if it is still `presence` and no channel came back; true when it
    /// did (its queued events are dropped).
    pub fn expire(&self, key_hash: &[u8], presence: u64) -> bool {
        let mut shard = self.endpoints.shard(key_hash);
        let idle = shard
            .get(key_hash)
            .is_some_and(|e| e.presence == presence && e.channels.is_empty());
        if idle && let Some(mut entry) = shard.remove(key_hash) {
            let dropped = entry.events.take(&self.event_metrics).len();
            if dropped > 0 {
                tracing::debug!(
                    dropped,
                    "events for an endpoint that did not come back dropped"
                );
            }
            return true;
        }
        false
    }

    /// Sends `push` to the endpoint: a revocation to every channel, anything else to one that
    /// takes it. False when it has no open channel here.
    pub fn push(&self, key_hash: &[u8], push: Push) -> bool {
        let shard = self.endpoints.shard(key_hash);
        let Some(entry) = shard.get(key_hash) else {
            return false;
        };
        match push {
            Push::Revoked => entry.push_all(&push),
            push => entry.push_one(push),
        }
    }

    /// Queues `events` for the endpoint and wakes one of its channels; false when the endpoint
    /// is not known here.
    pub fn deliver_events(&self, key_hash: &[u8], events: Vec<Event>) -> bool {
        let mut shard = self.endpoints.shard(key_hash);
        let Some(entry) = shard.get_mut(key_hash) else {
            return false;
        };
        let dropped = entry
            .events
            .push(events, self.event_queue_bytes, &self.event_metrics);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "an endpoint's event queue overflowed; oldest events dropped"
            );
        }
        entry.push_one(Push::Events);
        true
    }

    /// Takes the events queued for the endpoint, oldest first.
    pub fn take_events(&self, key_hash: &[u8]) -> Vec<Event> {
        self.endpoints
            .shard(key_hash)
            .get_mut(key_hash)
            .map(|entry| entry.events.take(&self.event_metrics))
            .unwrap_or_default()
    }

    /// Sends `push` to one channel of every endpoint of application `app_id`; returns to how
    /// many endpoints.
    pub fn push_app(&self, app_id: &str, push: &Push) -> usize {
        let mut reached = 0;
        for shard in self.endpoints.each_shard() {
            for entry in shard.values().filter(|e| e.app_id == app_id) {
                if entry.push_one(push.clone()) {
                    reached += 1;
                }
            }
        }
        reached
    }

    /// How many endpoints have a channel here.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether no endpoint has a channel here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use kaa_transport::pushes::{PushReceiver, push_queue};

    use super::*;

    fn channel() -> (PushSender<Push>, PushReceiver<Push>) {
        push_queue(4)
    }

    fn event(n: i32) -> Event {
        Event {
            seq_num: n,
            ..Event::default()
        }
    }

    #[test]
    fn a_push_goes_to_the_waiting_poll_and_a_closing_request_removes_only_itself() {
        let sessions = Sessions::default();
        let (poll_tx, mut poll_rx) = channel();
        let (post_tx, mut post_rx) = channel();
        let poll = sessions.new_session_id();
        let post = sessions.new_session_id();
        let presence = sessions.register(b"ep", "app", poll, Channel::Waiting, poll_tx);
        assert_eq!(
            sessions.register(b"ep", "app", post, Channel::Request, post_tx),
            presence,
            "one presence for all channels of an endpoint"
        );
        assert_eq!(sessions.len(), 1, "the load counts endpoints, not channels");
        assert!(sessions.push(b"ep", Push::Resync));
        assert_eq!(poll_rx.try_recv(), Some(Push::Resync));
        assert!(post_rx.try_recv().is_none(), "one channel takes a push");
        assert_eq!(sessions.unregister(b"ep", post), None);
        assert!(sessions.push(b"ep", Push::Notifications));
        assert_eq!(poll_rx.try_recv(), Some(Push::Notifications));
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions.push_app("app", &Push::Resync), 1);
        assert_eq!(sessions.push_app("other", &Push::Resync), 0);
        assert_eq!(sessions.unregister(b"ep", poll), Some(presence));
        assert!(!sessions.push(b"ep", Push::Resync));
        assert!(sessions.is_empty());
    }

    #[test]
    fn without_a_waiting_channel_a_push_goes_to_a_request_and_skips_closed_ones() {
        let sessions = Sessions::default();
        let (post_tx, mut post_rx) = channel();
        let (gone_tx, gone_rx) = channel();
        sessions.register(b"ep", "app", 1, Channel::Request, post_tx);
        sessions.register(b"ep", "app", 2, Channel::Waiting, gone_tx);
        drop(gone_rx);
        assert!(sessions.push(b"ep", Push::ServerProfile));
        assert_eq!(post_rx.try_recv(), Some(Push::ServerProfile));
    }

    #[test]
    fn the_newest_waiting_channel_takes_a_push_and_a_revocation_reaches_all() {
        let sessions = Sessions::default();
        let (old_tx, mut old_rx) = channel();
        let (new_tx, mut new_rx) = channel();
        sessions.register(b"ep", "app", 1, Channel::Waiting, old_tx);
        sessions.register(b"ep", "app", 2, Channel::Waiting, new_tx);
        assert!(sessions.push(b"ep", Push::OwnerChanged("phone".into())));
        assert_eq!(new_rx.try_recv(), Some(Push::OwnerChanged("phone".into())));
        assert!(old_rx.try_recv().is_none());
        assert!(sessions.push(b"ep", Push::Revoked));
        assert_eq!(old_rx.try_recv(), Some(Push::Revoked));
        assert_eq!(new_rx.try_recv(), Some(Push::Revoked));
    }

    #[test]
    fn events_outlive_a_closing_channel_until_the_endpoint_expires() {
        let sessions = Sessions::default();
        let (poll_tx, mut poll_rx) = channel();
        let (post_tx, _post_rx) = channel();
        let presence = sessions.register(b"ep", "app", 1, Channel::Waiting, poll_tx);
        sessions.register(b"ep", "app", 2, Channel::Request, post_tx);
        assert!(sessions.deliver_events(b"ep", vec![event(1)]));
        assert_eq!(
            poll_rx.try_recv(),
            Some(Push::Events),
            "the waiting poll is woken"
        );
        // The short-lived request closes; the events stay for the endpoint.
        assert_eq!(sessions.unregister(b"ep", 2), None);
        assert_eq!(sessions.unregister(b"ep", 1), Some(presence));
        assert!(sessions.is_empty());
        // Between two polls: kept for the next one.
        assert!(sessions.deliver_events(b"ep", vec![event(2)]));
        let (next_tx, _next_rx) = channel();
        assert_eq!(
            sessions.register(b"ep", "app", 3, Channel::Waiting, next_tx),
            presence,
            "a channel within the linger keeps the presence"
        );
        assert!(!sessions.expire(b"ep", presence), "a channel came back");
        assert_eq!(sessions.take_events(b"ep"), vec![event(1), event(2)]);
        assert!(sessions.take_events(b"ep").is_empty());
        assert_eq!(sessions.unregister(b"ep", 3), Some(presence));
        assert!(sessions.expire(b"ep", presence));
        assert!(!sessions.deliver_events(b"ep", vec![event(3)]));
        let (later_tx, _later_rx) = channel();
        assert_ne!(
            sessions.register(b"ep", "app", 4, Channel::Waiting, later_tx),
            presence,
            "an expired endpoint comes back with a new presence"
        );
        assert!(!sessions.expire(b"ep", presence));
    }
}
