//! A session's push queue: what a service sends an open session without being asked (a
//! configuration changed, events wait), taken by the session between requests.
//!
//! Every connected endpoint has one for as long as it stays connected, most of them idle, so
//! the queue is small when empty: one allocation of about a hundred bytes, the pushes' own
//! storage only while some wait. (A tokio `mpsc` channel reserves a block of 32 slots and a
//! cache-padded header up front, over a kilobyte per session.) One receiver, any number of
//! senders; bounded, because a full queue already has work pending for the session.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// A new queue holding at most `capacity` pushes.
pub fn push_queue<P>(capacity: usize) -> (PushSender<P>, PushReceiver<P>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        capacity,
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        arrived: Notify::new(),
    });
    (PushSender(shared.clone()), PushReceiver(shared))
}

struct Shared<P> {
    queue: Mutex<VecDeque<P>>,
    capacity: usize,
    senders: AtomicUsize,
    receiver_gone: AtomicBool,
    /// Woken when a push arrives or the last sender goes.
    arrived: Notify,
}

impl<P> Shared<P> {
    fn queue(&self) -> MutexGuard<'_, VecDeque<P>> {
        // A push queue holds plain values; a panic elsewhere cannot leave it half-changed.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why a push was not queued; the push comes back.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<P> {
    /// The queue is full: pushes are already pending for the session.
    #[error("the session's push queue is full")]
    Full(P),
    /// The session is gone.
    #[error("the session is closed")]
    Closed(P),
}

/// The sending side of a session's push queue; clones send to the same session.
pub struct PushSender<P>(Arc<Shared<P>>);

impl<P> PushSender<P> {
    /// Queues `push` unless the queue is full or the session gone.
    pub fn try_send(&self, push: P) -> Result<(), TrySendError<P>> {
        if self.is_closed() {
            return Err(TrySendError::Closed(push));
        }
        {
            let mut queue = self.0.queue();
            if queue.len() >= self.0.capacity {
                return Err(TrySendError::Full(push));
            }
            queue.push_back(push);
        }
        self.0.arrived.notify_one();
        Ok(())
    }

    /// Whether the session is gone.
    pub fn is_closed(&self) -> bool {
        self.0.receiver_gone.load(Ordering::Acquire)
    }
}

impl<P> Clone for PushSender<P> {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        Self(self.0.clone())
    }
}

impl<P> Drop for PushSender<P> {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.arrived.notify_one();
        }
    }
}

impl<P> std::fmt::Debug for PushSender<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// The session's side of its push queue.
pub struct PushReceiver<P>(Arc<Shared<P>>);

impl<P> PushReceiver<P> {
    /// The oldest push waiting, if any.
    pub fn try_recv(&mut self) -> Option<P> {
        self.0.queue().pop_front()
    }

    /// The next push; `None` once every sender is gone and the queue is empty. Cancel-safe: a
    /// push is taken only by the poll that returns it.
    pub async fn recv(&mut self) -> Option<P> {
        loop {
            if let Some(push) = self.try_recv() {
                return Some(push);
            }
            if self.0.senders.load(Ordering::Acquire) == 0 {
                return self.try_recv();
            }
            // A push sent between the check and here left a permit: this returns at once.
            self.0.arrived.notified().await;
        }
    }
}

impl<P> Drop for PushReceiver<P> {
    fn drop(&mut self) {
        self.0.receiver_gone.store(true, Ordering::Release);
        self.0.queue().clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn pushes_come_in_order_up_to_the_capacity() {
        let (sender, mut receiver) = push_queue(2);
        sender.try_send(1).unwrap();
        sender.clone().try_send(2).unwrap();
        assert_eq!(sender.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(receiver.recv().await, Some(1));
        assert_eq!(receiver.try_recv(), Some(2));
        assert_eq!(receiver.try_recv(), None);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_push_and_ends_when_the_senders_go() {
        let (sender, mut receiver) = push_queue(4);
        let waiting = tokio::spawn(async move {
            let first = receiver.recv().await;
            let after = receiver.recv().await;
            (first, after)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let other = sender.clone();
        sender.try_send(7).unwrap();
        drop(sender);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a sender is left");
        drop(other);
        assert_eq!(waiting.await.unwrap(), (Some(7), None));
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_no_push() {
        let (sender, mut receiver) = push_queue(4);
        let cancelled = tokio::time::timeout(Duration::from_millis(20), receiver.recv()).await;
        assert!(cancelled.is_err());
        sender.try_send("news").unwrap();
        assert_eq!(receiver.recv().await, Some("news"));
    }

    #[test]
    fn sending_to_a_closed_session_gives_the_push_back() {
        let (sender, receiver) = push_queue(4);
        assert!(!sender.is_closed());
        drop(receiver);
        assert!(sender.is_closed());
        assert_eq!(sender.try_send(1), Err(TrySendError::Closed(1)));
    }
}
