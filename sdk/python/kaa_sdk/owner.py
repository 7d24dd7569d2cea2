"""Owners and events on the endpoint side: what the application asked (attach to an owner,
attach or detach other endpoints, find listeners, send events) until the server answers it.

The application queues work from any thread; the session takes it as the user and event
sections of one request at a time (:meth:`Pending.sections`). Nothing leaves the queue before
the response to the request that carried it: a session that ends first sends it all again on
the next one, so events go at least once and in order. Each event gets the next sequence
number; the server's number (the answer to the first request's ``eventSequenceNumberRequest``)
moves the counter forward when it is ahead.
"""

import collections
import threading

from .protocol import (
    EndpointAttachRequest,
    EndpointDetachRequest,
    Event,
    EventListenersRequest,
    EventSyncRequest,
    SyncResponseResultType,
    UserAttachRequest,
    UserSyncRequest,
)

#: Most events one request carries.
EVENTS_PER_REQUEST = 256


class Pending:
    """The application's pending owner and event work (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attach_self = None
        self.attaches = []
        self.detaches = []
        self.queries = []
        self.events = collections.deque()
        self.in_flight = None
        self.next_request_id = 0
        self.last_seq = 0

    def _next_id(self):
        self.next_request_id += 1
        return self.next_request_id

    def attach_to_owner(self, verifier_token, user_external_id, user_access_token):
        with self.lock:
            self.attach_self = UserAttachRequest(
                user_verifier_id=verifier_token,
                user_external_id=user_external_id,
                user_access_token=user_access_token,
            )

    def attach_endpoint(self, access_token):
        with self.lock:
            request_id = self._next_id()
            self.attaches.append(
                EndpointAttachRequest(request_id=request_id, endpoint_access_token=access_token)
            )
            return request_id

    def detach_endpoint(self, key_hash):
        with self.lock:
            request_id = self._next_id()
            self.detaches.append(EndpointDetachRequest(request_id=request_id, endpoint_key_hash=key_hash))
            return request_id

    def find_listeners(self, fqns):
        with self.lock:
            request_id = self._next_id()
            self.queries.append(EventListenersRequest(request_id=request_id, event_class_fqns=list(fqns)))
            return request_id

    def send_event(self, fqn, data, target):
        with self.lock:
            self.last_seq += 1
            self.events.append(
                Event(seq_num=self.last_seq, event_class_fqn=fqn, event_data=data, target=target)
            )

    def sections(self, request_id):
        """``(UserSyncRequest or None, EventSyncRequest or None)`` for request ``request_id``, or
        ``None`` when nothing waits or an earlier request's answer is awaited."""
        with self.lock:
            if self.in_flight is not None:
                return None
            events = [self.events[i] for i in range(min(EVENTS_PER_REQUEST, len(self.events)))]
            has_user = self.attach_self is not None or bool(self.attaches) or bool(self.detaches)
            if not has_user and not events and not self.queries:
                return None
            self.in_flight = {
                "request_id": request_id,
                "events": len(events),
                "attach_self": self.attach_self is not None,
            }
            user = None
            if has_user:
                user = UserSyncRequest(
                    user_attach_request=self.attach_self,
                    endpoint_attach_requests=list(self.attaches) or None,
                    endpoint_detach_requests=list(self.detaches) or None,
                )
            event = None
            if events or self.queries:
                event = EventSyncRequest(
                    event_listeners_requests=list(self.queries) or None, events=events or None
                )
            return user, event

    def session_ended(self):
        with self.lock:
            self.in_flight = None

    def absorb(self, request_id, user, events):
        """Settles what request ``request_id`` carried; returns ``(callback name, args)`` pairs
        for the application."""
        out = []
        with self.lock:
            answered = None
            if self.in_flight is not None and self.in_flight["request_id"] == request_id:
                answered, self.in_flight = self.in_flight, None
                for _ in range(min(answered["events"], len(self.events))):
                    self.events.popleft()
            if user is not None:
                attach = user.user_attach_response
                if attach is not None:
                    asked = None
                    if answered is not None and answered["attach_self"]:
                        asked, self.attach_self = self.attach_self, None
                    if attach.result == SyncResponseResultType.SUCCESS:
                        out.append(("owner_attached", (asked.user_external_id if asked else "",)))
                    else:
                        code = attach.error_code.name if attach.error_code is not None else "FAILURE"
                        out.append(("owner_attach_failed", (code, attach.error_reason or "")))
                if user.user_attach_notification is not None:
                    notice = user.user_attach_notification
                    out.append(
                        ("attached_by_endpoint", (notice.user_external_id, notice.endpoint_access_token))
                    )
                if user.user_detach_notification is not None:
                    out.append(
                        ("detached_by_endpoint", (user.user_detach_notification.endpoint_access_token,))
                    )
                for attached in user.endpoint_attach_responses or []:
                    self.attaches = [a for a in self.attaches if a.request_id != attached.request_id]
                    success = attached.result == SyncResponseResultType.SUCCESS
                    out.append(
                        ("endpoint_attached", (attached.request_id, attached.endpoint_key_hash, success))
                    )
                for detached in user.endpoint_detach_responses or []:
                    self.detaches = [d for d in self.detaches if d.request_id != detached.request_id]
                    success = detached.result == SyncResponseResultType.SUCCESS
                    out.append(("endpoint_detached", (detached.request_id, success)))
            if events is not None:
                if events.event_sequence_number_response is not None:
                    self.last_seq = max(self.last_seq, events.event_sequence_number_response.seq_num)
                for answer in events.event_listeners_responses or []:
                    self.queries = [q for q in self.queries if q.request_id != answer.request_id]
                    success = answer.result == SyncResponseResultType.SUCCESS
                    out.append(("listeners", (answer.request_id, answer.listeners or [], success)))
                for event in events.events or []:
                    out.append(("event", (event.event_class_fqn, event.event_data, event.source)))
        return out
