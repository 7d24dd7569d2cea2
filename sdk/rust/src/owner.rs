//! Owners and events on the endpoint side: what the application asked (attach to an owner,
//! attach or detach other endpoints, send events, find listeners) until the server answers it,
//! and what the server's answers and pushes mean for the application.
//!
//! The application writes into [`SharedOwner`] from any thread; the session takes the pending
//! work as the user and event sections of one request at a time ([`Pending::sections`]). Nothing
//! leaves the queue before the response to the request that carried it: a session that ends
//! first sends it all again on the next one, so events are delivered at least once and in order.
//! Each event gets the next sequence number; the server's number at session start (it answers
//! the first request's `eventSequenceNumberRequest`) moves the counter forward if it is ahead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kaa_idl::endpoint::sync::{
    EndpointAttachRequest, EndpointDetachRequest, Event as WireEvent, EventListenersRequest,
    EventSyncRequest, EventSyncResponse, SyncResponseResultType, UserAttachRequest,
    UserSyncRequest, UserSyncResponse,
};
use tokio::sync::Notify;

use crate::event::Event;

/// Most events one request carries.
const EVENTS_PER_REQUEST: usize = 256;

/// What one request carried, until its response.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct InFlight {
    request_id: i32,
    events: usize,
    attach_self: bool,
    attaches: Vec<i32>,
    detaches: Vec<i32>,
    queries: Vec<i32>,
}

/// The application's pending owner and event work.
#[derive(Debug, Default)]
pub struct Pending {
    attach_self: Option<UserAttachRequest>,
    attaches: Vec<EndpointAttachRequest>,
    detaches: Vec<EndpointDetachRequest>,
    queries: Vec<EventListenersRequest>,
    events: VecDeque<WireEvent>,
    in_flight: Option<InFlight>,
    next_request_id: i32,
    last_seq: i32,
}

impl Pending {
    fn next_id(&mut self) -> i32 {
        self.next_request_id += 1;
        self.next_request_id
    }

    /// Queues the endpoint's own attach (replacing an unsent one).
    pub fn attach_to_owner(&mut self, request: UserAttachRequest) {
        self.attach_self = Some(request);
    }

    /// Queues an attach of the endpoint with `access_token`; returns its request id.
    pub fn attach_endpoint(&mut self, access_token: String) -> i32 {
        let request_id = self.next_id();
        self.attaches.push(EndpointAttachRequest {
            request_id,
            endpoint_access_token: access_token,
        });
        request_id
    }

    /// Queues a detach of the endpoint with Base64 key hash `key_hash`; returns its request id.
    pub fn detach_endpoint(&mut self, key_hash: String) -> i32 {
        let request_id = self.next_id();
        self.detaches.push(EndpointDetachRequest {
            request_id,
            endpoint_key_hash: key_hash,
        });
        request_id
    }

    /// Queues a listener query; returns its request id.
    pub fn find_listeners(&mut self, fqns: Vec<String>) -> i32 {
        let request_id = self.next_id();
        self.queries.push(EventListenersRequest {
            request_id,
            event_class_fqns: fqns,
        });
        request_id
    }

    /// Queues an event with the next sequence number.
    pub fn send_event(&mut self, fqn: String, data: Vec<u8>, target: Option<String>) {
        self.last_seq += 1;
        self.events.push_back(WireEvent {
            seq_num: self.last_seq,
            event_class_fqn: fqn,
            event_data: data,
            source: None,
            target,
        });
    }

    /// The user and event sections of request `request_id`, when there is pending work and no
    /// earlier request's answer is awaited.
    pub fn sections(
        &mut self,
        request_id: i32,
    ) -> Option<(Option<UserSyncRequest>, Option<EventSyncRequest>)> {
        if self.in_flight.is_some() {
            return None;
        }
        let events: Vec<WireEvent> = self
            .events
            .iter()
            .take(EVENTS_PER_REQUEST)
            .cloned()
            .collect();
        let has_user =
            self.attach_self.is_some() || !self.attaches.is_empty() || !self.detaches.is_empty();
        if !has_user && events.is_empty() && self.queries.is_empty() {
            return None;
        }
        self.in_flight = Some(InFlight {
            request_id,
            events: events.len(),
            attach_self: self.attach_self.is_some(),
            attaches: self.attaches.iter().map(|a| a.request_id).collect(),
            detaches: self.detaches.iter().map(|d| d.request_id).collect(),
            queries: self.queries.iter().map(|q| q.request_id).collect(),
        });
        let user = has_user.then(|| UserSyncRequest {
            user_attach_request: self.attach_self.clone(),
            endpoint_attach_requests: (!self.attaches.is_empty()).then(|| self.attaches.clone()),
            endpoint_detach_requests: (!self.detaches.is_empty()).then(|| self.detaches.clone()),
        });
        let event = (!events.is_empty() || !self.queries.is_empty()).then(|| EventSyncRequest {
            event_sequence_number_request: None,
            event_listeners_requests: (!self.queries.is_empty()).then(|| self.queries.clone()),
            events: (!events.is_empty()).then_some(events),
        });
        Some((user, event))
    }

    /// The session ended: whatever was in flight is sent again on the next one.
    pub fn session_ended(&mut self) {
        self.in_flight = None;
    }

    /// Takes in a response (to request `request_id`, or a push carrying it): settles what that
    /// request carried and returns the events for the application.
    pub fn absorb(
        &mut self,
        request_id: i32,
        user: Option<UserSyncResponse>,
        events: Option<EventSyncResponse>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let answered = self
            .in_flight
            .take_if(|in_flight| in_flight.request_id == request_id);
        if let Some(in_flight) = &answered {
            // The server handed these events over before it answered.
            self.events.drain(..in_flight.events.min(self.events.len()));
        }
        if let Some(user) = user {
            if let Some(attach) = user.user_attach_response {
                let asked = if answered.as_ref().is_some_and(|a| a.attach_self) {
                    self.attach_self.take()
                } else {
                    None
                };
                out.push(match attach.result {
                    SyncResponseResultType::Success => Event::AttachedToOwner {
                        user_external_id: asked.map(|a| a.user_external_id).unwrap_or_default(),
                    },
                    _ => Event::OwnerAttachFailed {
                        code: attach.error_code,
                        reason: attach.error_reason,
                    },
                });
            }
            if let Some(notice) = user.user_attach_notification {
                out.push(Event::AttachedByEndpoint {
                    user_external_id: notice.user_external_id,
                    by_access_token: notice.endpoint_access_token,
                });
            }
            if let Some(notice) = user.user_detach_notification {
                out.push(Event::DetachedByEndpoint {
                    by_access_token: notice.endpoint_access_token,
                });
            }
            for attached in user.endpoint_attach_responses.into_iter().flatten() {
                self.attaches
                    .retain(|a| a.request_id != attached.request_id);
                out.push(Event::EndpointAttached {
                    request_id: attached.request_id,
                    key_hash: attached.endpoint_key_hash,
                    success: attached.result == SyncResponseResultType::Success,
                });
            }
            for detached in user.endpoint_detach_responses.into_iter().flatten() {
                self.detaches
                    .retain(|d| d.request_id != detached.request_id);
                out.push(Event::EndpointDetached {
                    request_id: detached.request_id,
                    success: detached.result == SyncResponseResultType::Success,
                });
            }
        }
        if let Some(events) = events {
            if let Some(seq) = events.event_sequence_number_response {
                self.last_seq = self.last_seq.max(seq.seq_num);
            }
            for answer in events.event_listeners_responses.into_iter().flatten() {
                self.queries.retain(|q| q.request_id != answer.request_id);
                out.push(Event::Listeners {
                    request_id: answer.request_id,
                    listeners: answer.listeners.unwrap_or_default(),
                    success: answer.result == SyncResponseResultType::Success,
                });
            }
            for event in events.events.into_iter().flatten() {
                out.push(Event::EventReceived {
                    fqn: event.event_class_fqn,
                    data: event.event_data,
                    source: event.source,
                });
            }
        }
        out
    }
}

/// [`Pending`] shared by the application and the session, with a wake-up for the session.
#[derive(Debug, Default)]
pub struct SharedOwner {
    pending: Mutex<Pending>,
    changed: Notify,
}

impl SharedOwner {
    /// An empty queue.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Runs `change` on the queue and wakes the session.
    pub fn update<T>(&self, change: impl FnOnce(&mut Pending) -> T) -> T {
        let result = change(&mut self.pending());
        self.changed.notify_one();
        result
    }

    /// The queue, for the session.
    pub fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves after the application queued something (at once if it did since the last call).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use kaa_idl::endpoint::sync::{
        EndpointAttachResponse, EventListenersResponse, EventSequenceNumberResponse,
        UserAttachErrorCode, UserAttachNotification, UserAttachResponse,
    };

    use super::*;

    #[test]
    fn events_leave_the_queue_only_when_their_request_is_answered() {
        let mut pending = Pending::default();
        pending.send_event("Ping".into(), vec![1], None);
        pending.send_event("Ping".into(), vec![2], Some("key".into()));
        let (user, events) = pending.sections(10).unwrap();
        assert!(user.is_none());
        let sent = events.unwrap().events.unwrap();
        assert_eq!(sent.iter().map(|e| e.seq_num).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(sent[1].target.as_deref(), Some("key"));
        // One request at a time.
        pending.send_event("Ping".into(), vec![3], None);
        assert!(pending.sections(11).is_none());
        // A response to another request settles nothing.
        pending.absorb(9, None, None);
        assert!(pending.sections(11).is_none());
        // The session ends: everything goes again, in order.
        pending.session_ended();
        let (_, events) = pending.sections(12).unwrap();
        let again = events.unwrap().events.unwrap();
        assert_eq!(
            again.iter().map(|e| e.seq_num).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        pending.absorb(12, None, None);
        assert!(pending.sections(13).is_none(), "all three were handed over");
    }

    #[test]
    fn the_servers_sequence_number_moves_the_counter_forward() {
        let mut pending = Pending::default();
        pending.absorb(
            1,
            None,
            Some(EventSyncResponse {
                event_sequence_number_response: Some(EventSequenceNumberResponse { seq_num: 41 }),
                ..EventSyncResponse::default()
            }),
        );
        pending.send_event("Ping".into(), vec![], None);
        let (_, events) = pending.sections(2).unwrap();
        assert_eq!(events.unwrap().events.unwrap()[0].seq_num, 42);
    }

    #[test]
    fn answers_and_notifications_become_application_events() {
        let mut pending = Pending::default();
        pending.attach_to_owner(UserAttachRequest {
            user_verifier_id: "v".into(),
            user_external_id: "alice".into(),
            user_access_token: "t".into(),
        });
        let attach = pending.attach_endpoint("lamp".into());
        let query = pending.find_listeners(vec!["Ping".into()]);
        let (user, events) = pending.sections(5).unwrap();
        let user = user.unwrap();
        assert_eq!(user.user_attach_request.unwrap().user_external_id, "alice");
        assert_eq!(user.endpoint_attach_requests.unwrap()[0].request_id, attach);
        assert_eq!(
            events.unwrap().event_listeners_requests.unwrap()[0].request_id,
            query
        );
        let out = pending.absorb(
            5,
            Some(UserSyncResponse {
                user_attach_response: Some(UserAttachResponse {
                    result: SyncResponseResultType::Success,
                    error_code: None,
                    error_reason: None,
                }),
                user_attach_notification: Some(UserAttachNotification {
                    user_external_id: "bob".into(),
                    endpoint_access_token: "phone".into(),
                }),
                endpoint_attach_responses: Some(vec![EndpointAttachResponse {
                    request_id: attach,
                    endpoint_key_hash: Some("k".into()),
                    result: SyncResponseResultType::Success,
                }]),
                ..UserSyncResponse::default()
            }),
            Some(EventSyncResponse {
                event_listeners_responses: Some(vec![EventListenersResponse {
                    request_id: query,
                    listeners: Some(vec!["k".into()]),
                    result: SyncResponseResultType::Success,
                }]),
                events: Some(vec![WireEvent {
                    seq_num: 3,
                    event_class_fqn: "Pong".into(),
                    event_data: vec![7],
                    source: Some("src".into()),
                    target: None,
                }]),
                ..EventSyncResponse::default()
            }),
        );
        assert_eq!(
            out,
            vec![
                Event::AttachedToOwner {
                    user_external_id: "alice".into()
                },
                Event::AttachedByEndpoint {
                    user_external_id: "bob".into(),
                    by_access_token: "phone".into()
                },
                Event::EndpointAttached {
                    request_id: attach,
                    key_hash: Some("k".into()),
                    success: true
                },
                Event::Listeners {
                    request_id: query,
                    listeners: vec!["k".into()],
                    success: true
                },
                Event::EventReceived {
                    fqn: "Pong".into(),
                    data: vec![7],
                    source: Some("src".into())
                },
            ]
        );
        assert!(pending.sections(6).is_none(), "everything was answered");
    }

    #[test]
    fn a_refused_attach_reports_the_code_and_is_not_sent_again() {
        let mut pending = Pending::default();
        pending.attach_to_owner(UserAttachRequest::default());
        pending.sections(1).unwrap();
        let out = pending.absorb(
            1,
            Some(UserSyncResponse {
                user_attach_response: Some(UserAttachResponse {
                    result: SyncResponseResultType::Failure,
                    error_code: Some(UserAttachErrorCode::TokenInvalid),
                    error_reason: Some("no".into()),
                }),
                ..UserSyncResponse::default()
            }),
            None,
        );
        assert_eq!(
            out,
            vec![Event::OwnerAttachFailed {
                code: Some(UserAttachErrorCode::TokenInvalid),
                reason: Some("no".into())
            }]
        );
        assert!(pending.sections(2).is_none());
    }
}
