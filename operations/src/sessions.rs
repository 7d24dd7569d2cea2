//! The endpoint sessions connected to this node, by endpoint key hash, so a change can reach the
//! session that serves an endpoint.
//!
//! A session registers a sender of [`Push`]es when it learns its endpoint; the registry keeps
//! only the newest session per endpoint (a reconnect replaces the old one). Events from other
//! endpoints wait in the session's entry until the session takes them. The map is split into
//! shards, each behind its own short-lived mutex, so syncs of different endpoints never wait on
//! one global lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kaa_idl::endpoint::sync::Event;
use tokio::sync::mpsc;

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
    /// Events wait in the session's queue ([`Sessions::take_events`]).
    Events,
    /// Another endpoint, named by its access token, attached this one to its owner or detached
    /// it.
    OwnerChanged(String),
}

/// A registered session: its id (to unregister only itself), where pushes go, and the events
/// waiting for it.
#[derive(Debug)]
struct Entry {
    session_id: u64,
    app_id: String,
    pushes: mpsc::Sender<Push>,
    events: Vec<Event>,
}

/// Events a session holds for its endpoint before the oldest are dropped (an endpoint that
/// stopped reading).
const MAX_QUEUED_EVENTS: usize = 10_000;

const SHARDS: usize = 64;

/// The sessions of this node.
pub struct Sessions {
    shards: Vec<Mutex<HashMap<Vec<u8>, Entry>>>,
    hasher: RandomState,
    next_id: AtomicU64,
    count: Arc<AtomicUsize>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::counted(Arc::default())
    }
}

impl Sessions {
    /// An empty registry that keeps `count` equal to the number of endpoints with a session
    /// (the node publishes it as its load).
    pub fn counted(count: Arc<AtomicUsize>) -> Self {
        count.store(0, Ordering::Relaxed);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(1),
            count,
        }
    }

    /// A fresh session id.
    pub fn new_session_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn shard(&self, key_hash: &[u8]) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        let index = (self.hasher.hash_one(key_hash) as usize) % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes `session_id` the session of endpoint `key_hash` (of application `app_id`).
    pub fn register(
        &self,
        key_hash: &[u8],
        app_id: &str,
        session_id: u64,
        pushes: mpsc::Sender<Push>,
    ) {
        let previous = self.shard(key_hash).insert(
            key_hash.to_vec(),
            Entry {
                session_id,
                app_id: app_id.to_owned(),
                pushes,
                events: Vec::new(),
            },
        );
        if previous.is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets the endpoint's session if it is still `session_id`.
    pub fn unregister(&self, key_hash: &[u8], session_id: u64) {
        let mut shard = self.shard(key_hash);
        if shard
            .get(key_hash)
            .is_some_and(|e| e.session_id == session_id)
        {
            shard.remove(key_hash);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Sends `push` to the endpoint's session; false when it has none here. A session whose
    /// queue is full already has pushes pending, which will make it resync anyway.
    pub fn push(&self, key_hash: &[u8], push: Push) -> bool {
        let sender = self.shard(key_hash).get(key_hash).map(|e| e.pushes.clone());
        match sender {
            Some(sender) => {
                let _ = sender.try_send(push);
                true
            }
            None => false,
        }
    }

    /// Queues `events` for the endpoint's session and wakes it; false when it has none here.
    pub fn deliver_events(&self, key_hash: &[u8], events: Vec<Event>) -> bool {
        let mut shard = self.shard(key_hash);
        let Some(entry) = shard.get_mut(key_hash) else {
            return false;
        };
        entry.events.extend(events);
        if entry.events.len() > MAX_QUEUED_EVENTS {
            let excess = entry.events.len() - MAX_QUEUED_EVENTS;
            entry.events.drain(..excess);
            tracing::warn!(dropped = excess, "an endpoint's event queue overflowed");
        }
        let _ = entry.pushes.try_send(Push::Events);
        true
    }

    /// Takes the events queued for session `session_id` of the endpoint, oldest first.
    pub fn take_events(&self, key_hash: &[u8], session_id: u64) -> Vec<Event> {
        match self.shard(key_hash).get_mut(key_hash) {
            Some(entry) if entry.session_id == session_id => std::mem::take(&mut entry.events),
            _ => Vec::new(),
        }
    }

    /// Sends `push` to every session of application `app_id`; returns how many.
    pub fn push_app(&self, app_id: &str, push: &Push) -> usize {
        let mut senders = Vec::new();
        for shard in &self.shards {
            let shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            senders.extend(
                shard
                    .values()
                    .filter(|e| e.app_id == app_id)
                    .map(|e| e.pushes.clone()),
            );
        }
        for sender in &senders {
            let _ = sender.try_send(push.clone());
        }
        senders.len()
    }

    /// How many endpoints have a session here.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether no session is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn newest_session_wins_and_old_one_cannot_unregister_it() {
        let sessions = Sessions::default();
        let (old_tx, mut old_rx) = mpsc::channel(4);
        let (new_tx, mut new_rx) = mpsc::channel(4);
        let old = sessions.new_session_id();
        let new = sessions.new_session_id();
        sessions.register(b"ep", "app", old, old_tx);
        sessions.register(b"ep", "app", new, new_tx);
        sessions.unregister(b"ep", old);
        assert!(sessions.push(b"ep", Push::Notifications));
        assert_eq!(new_rx.recv().await, Some(Push::Notifications));
        assert!(old_rx.try_recv().is_err());
        assert_eq!(sessions.push_app("app", &Push::Resync), 1);
        assert_eq!(sessions.push_app("other", &Push::Resync), 0);
        sessions.unregister(b"ep", new);
        assert!(!sessions.push(b"ep", Push::Resync));
        assert!(sessions.is_empty());
    }
}
