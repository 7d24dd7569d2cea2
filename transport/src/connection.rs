//! One endpoint session, the same over Kaatcp and HTTP, and the framed Kaatcp connection it runs
//! on.
//!
//! - [`Session`] is the session logic both transports share: it opens a session from its start
//!   (a CONNECT or one HTTP request: key unwrap, signature, first request), and answers each
//!   request with one step: sync and take the pushes that came meanwhile
//!   ([`Session::exchange`]), then, for an HTTP long poll whose answer has no news, wait for a
//!   push that brings some ([`Session::wait_for_news`]); every push taken is [`merge`]d into the
//!   answer, all sections of it. A Kaatcp session takes pushes between requests
//!   ([`Session::recv_push`], [`Session::answer_push`]) and sends them unsolicited. Dropping a
//!   session closes it in the service, so a long poll whose client went away leaves nothing
//!   registered.
//! - [`Connection`] is one Kaatcp socket as frames: the read buffer and the pure decoder, the
//!   writer, and the session's cipher once CONNECT set it (as mini-redis' `Connection`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use kaa_idl::endpoint::kaatcp::{Frame, FrameDecoder, FrameError, KaaSync};
use kaa_idl::endpoint::sync::{
    SyncRequest, SyncResponse, SyncResponseResultType, SyncResponseStatus,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::pushes::{PushReceiver, push_queue};
use crate::secure::{self, Cipher, Opening};
use crate::{EndpointService, NodeKeys, SyncFailure};

/// How a session's channel takes pushes; an endpoint may have several channels at once (Kaa's
/// HTTP SDK keeps a long poll waiting while it posts logs), and a push goes preferably to one
/// that waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A Kaatcp session or an HTTP long poll: takes pushes whenever they come.
    Waiting,
    /// An HTTP `/EP/Sync`: takes pushes only until it answers.
    Request,
}

/// Pushes a session holds before the service's sends find it full (a full queue already has
/// work pending for the session).
const PUSH_QUEUE: usize = 8;

/// A session of a service with one endpoint: the service's state and the pushes sent to it.
pub(crate) struct Session<S: EndpointService> {
    service: Arc<S>,
    /// Always `Some` until dropped.
    state: Option<S::Session>,
    pushes: PushReceiver<S::Push>,
}

/// A session just started: the session, its cipher and its first request.
pub(crate) struct Started<S: EndpointService> {
    pub session: Session<S>,
    pub cipher: Cipher,
    pub request: SyncRequest,
}

impl<S: EndpointService> Session<S> {
    /// Opens a session from its start: unwraps the session key, decodes the first request and
    /// checks the endpoint's identity, then opens the service's session on `channel`.
    pub(crate) async fn start(
        service: &Arc<S>,
        keys: &NodeKeys,
        allow_plaintext: bool,
        opening: Opening<'_>,
        channel: Channel,
    ) -> Result<Started<S>, SyncFailure> {
        let opened = secure::open(service.as_ref(), keys, allow_plaintext, opening).await?;
        let (pushes_tx, pushes) = push_queue(PUSH_QUEUE);
        let state = service.open(pushes_tx, opened.identity, channel);
        Ok(Started {
            session: Self {
                service: service.clone(),
                state: Some(state),
                pushes,
            },
            cipher: opened.cipher,
            request: opened.request,
        })
    }

    /// The service and its state of this session, borrowed apart.
    fn parts(&mut self) -> (&S, &mut S::Session) {
        let state = self
            .state
            .as_mut()
            .expect("a session's state lives until it is dropped");
        (&self.service, state)
    }

    /// Answers `request`: syncs and merges the pushes that came meanwhile.
    pub(crate) async fn exchange(
        &mut self,
        request: SyncRequest,
    ) -> Result<SyncResponse, SyncFailure> {
        let (service, state) = self.parts();
        let mut response = service.sync(state, request).await?;
        while let Some(push) = self.pushes.try_recv() {
            self.take(&mut response, push).await?;
        }
        Ok(response)
    }

    /// The long poll's half of the step: unless `response` has news already, waits up to `wait`
    /// for a push that brings some, merging every push taken into it.
    pub(crate) async fn wait_for_news(
        &mut self,
        mut response: SyncResponse,
        wait: Duration,
    ) -> Result<SyncResponse, SyncFailure> {
        let deadline = tokio::time::Instant::now() + wait;
        while !has_news(&response)
            && let Ok(Some(push)) = tokio::time::timeout_at(deadline, self.pushes.recv()).await
        {
            self.take(&mut response, push).await?;
        }
        Ok(response)
    }

    async fn take(
        &mut self,
        response: &mut SyncResponse,
        push: S::Push,
    ) -> Result<(), SyncFailure> {
        let (service, state) = self.parts();
        if let Some(pushed) = service.push(state, push).await? {
            merge(response, pushed);
        }
        Ok(())
    }

    /// The next push sent to the session (cancel-safe, for `select!`); pends forever once the
    /// service dropped its sender.
    pub(crate) async fn recv_push(&mut self) -> S::Push {
        match self.pushes.recv().await {
            Some(push) => push,
            None => std::future::pending().await,
        }
    }

    /// Turns a push into an unsolicited response, or nothing if the endpoint has it already.
    pub(crate) async fn answer_push(
        &mut self,
        push: S::Push,
    ) -> Result<Option<SyncResponse>, SyncFailure> {
        let (service, state) = self.parts();
        service.push(state, push).await
    }
}

impl<S: EndpointService> Drop for Session<S> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.service.close(state);
        }
    }
}

/// Whether a response carries something for the endpoint, so a long poll answers at once; empty
/// owner or event sections (a poll that asked nothing of them) are no news.
pub(crate) fn has_news(response: &SyncResponse) -> bool {
    let changed = |status: SyncResponseStatus| status != SyncResponseStatus::NoDelta;
    response.status != SyncResponseResultType::Success
        || response
            .configuration_sync_response
            .as_ref()
            .is_some_and(|c| changed(c.response_status))
        || response
            .notification_sync_response
            .as_ref()
            .is_some_and(|n| changed(n.response_status))
        || response.profile_sync_response.is_some()
        || response.user_sync_response.as_ref().is_some_and(|u| {
            u.user_attach_response.is_some()
                || u.user_attach_notification.is_some()
                || u.user_detach_notification.is_some()
                || u.endpoint_attach_responses
                    .as_ref()
                    .is_some_and(|r| !r.is_empty())
                || u.endpoint_detach_responses
                    .as_ref()
                    .is_some_and(|r| !r.is_empty())
        })
        || response.event_sync_response.as_ref().is_some_and(|e| {
            e.event_sequence_number_response.is_some()
                || e.event_listeners_responses
                    .as_ref()
                    .is_some_and(|r| !r.is_empty())
                || e.events.as_ref().is_some_and(|events| !events.is_empty())
        })
        || response.log_sync_response.is_some()
        || response.redirect_sync_response.is_some()
        || response.bootstrap_sync_response.is_some()
        || response.extension_sync_responses.is_some()
}

/// Merges a pushed response into the answer of a request, keeping every section of both: the
/// pushed configuration, topic list, owner notices and redirect are newer and win; notifications,
/// events, listener answers, endpoint attach/detach answers, log delivery statuses and extension
/// answers are appended after the answer's own, in order; a sync's own profile and attach
/// answers stay. A pushed failure or redirect status replaces a success.
pub(crate) fn merge(into: &mut SyncResponse, pushed: SyncResponse) {
    if into.status == SyncResponseResultType::Success {
        into.status = pushed.status;
    }
    or_newer(
        &mut into.bootstrap_sync_response,
        pushed.bootstrap_sync_response,
    );
    or_older(
        &mut into.profile_sync_response,
        pushed.profile_sync_response,
    );
    if let Some(configuration) = pushed.configuration_sync_response
        && (configuration.response_status != SyncResponseStatus::NoDelta
            || into.configuration_sync_response.is_none())
    {
        into.configuration_sync_response = Some(configuration);
    }
    if let Some(pushed) = pushed.notification_sync_response {
        match &mut into.notification_sync_response {
            None => into.notification_sync_response = Some(pushed),
            Some(own) => {
                if pushed.response_status != SyncResponseStatus::NoDelta {
                    own.response_status = pushed.response_status;
                }
                or_newer(&mut own.available_topics, pushed.available_topics);
                append(&mut own.notifications, pushed.notifications);
            }
        }
    }
    if let Some(pushed) = pushed.user_sync_response {
        let own = into.user_sync_response.get_or_insert_with(Default::default);
        or_older(&mut own.user_attach_response, pushed.user_attach_response);
        or_newer(
            &mut own.user_attach_notification,
            pushed.user_attach_notification,
        );
        or_newer(
            &mut own.user_detach_notification,
            pushed.user_detach_notification,
        );
        append(
            &mut own.endpoint_attach_responses,
            pushed.endpoint_attach_responses,
        );
        append(
            &mut own.endpoint_detach_responses,
            pushed.endpoint_detach_responses,
        );
    }
    if let Some(pushed) = pushed.event_sync_response {
        let own = into
            .event_sync_response
            .get_or_insert_with(Default::default);
        or_older(
            &mut own.event_sequence_number_response,
            pushed.event_sequence_number_response,
        );
        append(
            &mut own.event_listeners_responses,
            pushed.event_listeners_responses,
        );
        append(&mut own.events, pushed.events);
    }
    or_newer(
        &mut into.redirect_sync_response,
        pushed.redirect_sync_response,
    );
    if let Some(pushed) = pushed.log_sync_response {
        let own = into.log_sync_response.get_or_insert_with(Default::default);
        append(&mut own.delivery_statuses, pushed.delivery_statuses);
    }
    append(
        &mut into.extension_sync_responses,
        pushed.extension_sync_responses,
    );
}

/// Takes `newer` when it is there.
fn or_newer<T>(own: &mut Option<T>, newer: Option<T>) {
    if newer.is_some() {
        *own = newer;
    }
}

/// Keeps `own` when it is there.
fn or_older<T>(own: &mut Option<T>, newer: Option<T>) {
    if own.is_none() {
        *own = newer;
    }
}

/// Appends `more` after `own`.
fn append<T>(own: &mut Option<Vec<T>>, more: Option<Vec<T>>) {
    match (own.as_mut(), more) {
        (Some(own), Some(more)) => own.extend(more),
        (None, more) => *own = more,
        (Some(_), None) => {}
    }
}

/// Bytes a connection reads from its socket at a time.
const READ_CHUNK: usize = 8 * 1024;

/// Why a Kaatcp connection could not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    /// The bytes are not a Kaatcp frame (or a too big one).
    #[error("malformed frame: {0}")]
    Malformed(#[from] FrameError),
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A Kaatcp socket read and written as frames, with the cipher of its session (plaintext until
/// CONNECT started one).
pub(crate) struct Connection<T> {
    stream: T,
    buffer: BytesMut,
    decoder: FrameDecoder,
    cipher: Cipher,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<T> {
    /// A connection accepting frames up to `max_frame` bytes.
    pub(crate) fn new(stream: T, max_frame: usize) -> Self {
        Self {
            stream,
            buffer: BytesMut::new(),
            decoder: FrameDecoder::new(max_frame),
            cipher: Cipher::Plain,
        }
    }

    /// The next frame, or `None` when the peer closed the connection. Cancel-safe: a frame
    /// half-read stays in the buffer. Once the buffer is drained its memory goes, so an idle
    /// connection waiting for its next frame holds no buffer.
    pub(crate) async fn read_frame(&mut self) -> Result<Option<Frame>, ConnectionError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buffer)? {
                if self.buffer.is_empty() {
                    self.buffer = BytesMut::new();
                }
                return Ok(Some(frame));
            }
            if self.read_some().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Appends what the socket has to the buffer, read through a chunk on the stack of each
    /// poll: the buffer grows only by the bytes that arrived, and nothing is held while the
    /// socket has none. Cancel-safe: bytes are appended in the poll that reads them.
    async fn read_some(&mut self) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| {
            let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut read = ReadBuf::uninit(&mut chunk);
            std::task::ready!(Pin::new(&mut self.stream).poll_read(cx, &mut read))?;
            self.buffer.extend_from_slice(read.filled());
            Poll::Ready(Ok(read.filled().len()))
        })
        .await
    }

    /// Writes `frames` in one write.
    pub(crate) async fn write_frames(&mut self, frames: &[Frame]) -> std::io::Result<()> {
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        self.stream.write_all(&bytes).await
    }

    /// Writes one frame.
    pub(crate) async fn write_frame(&mut self, frame: Frame) -> std::io::Result<()> {
        self.write_frames(&[frame]).await
    }

    /// Writes `response` as a KAASYNC frame under the session's cipher.
    pub(crate) async fn write_sync(&mut self, response: &SyncResponse) -> std::io::Result<()> {
        let frame = self.sync_frame(response);
        self.write_frame(frame).await
    }

    /// From now on KAASYNC payloads go under `cipher` (a session started).
    pub(crate) fn secure(&mut self, cipher: Cipher) {
        self.cipher = cipher;
    }

    /// `response` as a KAASYNC frame under the session's cipher.
    pub(crate) fn sync_frame(&self, response: &SyncResponse) -> Frame {
        Frame::KaaSync(KaaSync {
            request: false,
            encrypted: self.cipher.is_encrypted(),
            message_id: 0,
            payload: self.cipher.encrypt(&response.encode()),
        })
    }

    /// The request a KAASYNC frame of the endpoint carries, decrypted under the session's cipher.
    pub(crate) fn open_sync(&self, sync: KaaSync) -> Result<SyncRequest, SyncFailure> {
        if !sync.request {
            return Err(SyncFailure::BadRequest(
                "KAASYNC from an endpoint must be a request".into(),
            ));
        }
        if sync.encrypted != self.cipher.is_encrypted() {
            return Err(SyncFailure::BadRequest(
                "KAASYNC encryption flag differs from the session's".into(),
            ));
        }
        secure::decode(&self.cipher, &sync.payload)
    }

    /// Closes the writing side.
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use kaa_idl::endpoint::sync::{
        ConfigurationSyncResponse, EndpointAttachResponse, Event, EventSequenceNumberResponse,
        EventSyncResponse, LogDeliveryStatus, LogSyncResponse, Notification,
        NotificationSyncResponse, NotificationType, ProfileSyncResponse, RedirectSyncResponse,
        UserAttachNotification, UserDetachNotification, UserSyncResponse,
    };

    use super::*;

    fn success() -> SyncResponse {
        SyncResponse::new(7, SyncResponseResultType::Success)
    }

    fn configuration(status: SyncResponseStatus, body: &[u8]) -> ConfigurationSyncResponse {
        ConfigurationSyncResponse {
            response_status: status,
            conf_schema_body: None,
            conf_delta_body: (!body.is_empty()).then(|| body.to_vec()),
        }
    }

    fn event(n: i32) -> Event {
        Event {
            seq_num: n,
            event_class_fqn: "org.Ping".into(),
            ..Event::default()
        }
    }

    fn notification(seq: i32) -> Notification {
        Notification {
            topic_id: 1,
            notification_type: NotificationType::Custom,
            uid: None,
            seq_number: Some(seq),
            body: vec![seq as u8],
        }
    }

    fn delivered(request_id: i32) -> LogDeliveryStatus {
        LogDeliveryStatus {
            request_id,
            result: SyncResponseResultType::Success,
            error_code: None,
        }
    }

    #[test]
    fn a_merged_push_keeps_every_section_of_both_responses() {
        let mut answer = success();
        answer.profile_sync_response = Some(ProfileSyncResponse {
            response_status: SyncResponseStatus::Delta,
        });
        answer.configuration_sync_response = Some(configuration(SyncResponseStatus::NoDelta, &[]));
        answer.notification_sync_response = Some(NotificationSyncResponse {
            response_status: SyncResponseStatus::Delta,
            notifications: Some(vec![notification(1)]),
            available_topics: None,
        });
        answer.event_sync_response = Some(EventSyncResponse {
            event_sequence_number_response: Some(EventSequenceNumberResponse { seq_num: 3 }),
            event_listeners_responses: None,
            events: Some(vec![event(1)]),
        });
        answer.user_sync_response = Some(UserSyncResponse {
            endpoint_attach_responses: Some(vec![EndpointAttachResponse {
                request_id: 1,
                endpoint_key_hash: None,
                result: SyncResponseResultType::Success,
            }]),
            ..UserSyncResponse::default()
        });
        answer.log_sync_response = Some(LogSyncResponse {
            delivery_statuses: Some(vec![delivered(4)]),
        });

        let mut pushed = SyncResponse::new(2, SyncResponseResultType::Success);
        pushed.configuration_sync_response =
            Some(configuration(SyncResponseStatus::Resync, b"new"));
        pushed.notification_sync_response = Some(NotificationSyncResponse {
            response_status: SyncResponseStatus::Delta,
            notifications: Some(vec![notification(2)]),
            available_topics: Some(Vec::new()),
        });
        pushed.event_sync_response = Some(EventSyncResponse {
            events: Some(vec![event(2), event(3)]),
            ..EventSyncResponse::default()
        });
        pushed.user_sync_response = Some(UserSyncResponse {
            user_attach_notification: Some(UserAttachNotification {
                user_external_id: "alice".into(),
                endpoint_access_token: "phone".into(),
            }),
            ..UserSyncResponse::default()
        });
        pushed.log_sync_response = Some(LogSyncResponse {
            delivery_statuses: Some(vec![delivered(5)]),
        });
        pushed.redirect_sync_response = Some(RedirectSyncResponse { access_point_id: 9 });

        merge(&mut answer, pushed);
        assert_eq!(answer.request_id, 7, "the answer keeps its request id");
        assert_eq!(
            answer.configuration_sync_response,
            Some(configuration(SyncResponseStatus::Resync, b"new"))
        );
        let notifications = answer.notification_sync_response.unwrap();
        assert_eq!(
            notifications.notifications,
            Some(vec![notification(1), notification(2)])
        );
        assert_eq!(notifications.available_topics, Some(Vec::new()));
        let events = answer.event_sync_response.unwrap();
        assert_eq!(events.events, Some(vec![event(1), event(2), event(3)]));
        assert_eq!(
            events.event_sequence_number_response,
            Some(EventSequenceNumberResponse { seq_num: 3 })
        );
        let user = answer.user_sync_response.unwrap();
        assert_eq!(user.endpoint_attach_responses.map(|r| r.len()), Some(1));
        assert_eq!(
            user.user_attach_notification.map(|n| n.user_external_id),
            Some("alice".into())
        );
        assert_eq!(
            answer.log_sync_response.unwrap().delivery_statuses,
            Some(vec![delivered(4), delivered(5)])
        );
        assert!(answer.profile_sync_response.is_some());
        assert_eq!(
            answer.redirect_sync_response,
            Some(RedirectSyncResponse { access_point_id: 9 })
        );
    }

    #[test]
    fn a_push_without_a_section_leaves_the_answers_own() {
        let mut answer = success();
        answer.configuration_sync_response = Some(configuration(SyncResponseStatus::Resync, b"a"));
        answer.user_sync_response = Some(UserSyncResponse {
            user_detach_notification: Some(UserDetachNotification {
                endpoint_access_token: "phone".into(),
            }),
            ..UserSyncResponse::default()
        });
        let before = answer.clone();
        merge(&mut answer, success());
        assert_eq!(answer, before);
        // A pushed "no change" does not hide the answer's own change.
        let mut unchanged = success();
        unchanged.configuration_sync_response =
            Some(configuration(SyncResponseStatus::NoDelta, &[]));
        merge(&mut answer, unchanged);
        assert_eq!(answer, before);
    }

    #[test]
    fn a_pushed_failure_replaces_a_success_and_counts_as_news() {
        let mut answer = success();
        assert!(!has_news(&answer));
        merge(
            &mut answer,
            SyncResponse::new(1, SyncResponseResultType::ProfileResync),
        );
        assert_eq!(answer.status, SyncResponseResultType::ProfileResync);
        assert!(has_news(&answer));
    }

    #[test]
    fn only_changes_are_news() {
        let mut answer = success();
        answer.configuration_sync_response = Some(configuration(SyncResponseStatus::NoDelta, &[]));
        answer.notification_sync_response = Some(NotificationSyncResponse {
            response_status: SyncResponseStatus::NoDelta,
            notifications: None,
            available_topics: None,
        });
        assert!(!has_news(&answer));
        let mut events = answer.clone();
        events.event_sync_response = Some(EventSyncResponse {
            events: Some(vec![event(1)]),
            ..EventSyncResponse::default()
        });
        assert!(has_news(&events));
        let mut empty = answer.clone();
        empty.user_sync_response = Some(UserSyncResponse::default());
        empty.event_sync_response = Some(EventSyncResponse {
            events: Some(Vec::new()),
            ..EventSyncResponse::default()
        });
        assert!(!has_news(&empty), "empty sections are no news");
        let mut notice = answer.clone();
        notice.user_sync_response = Some(UserSyncResponse {
            user_detach_notification: Some(UserDetachNotification {
                endpoint_access_token: "phone".into(),
            }),
            ..UserSyncResponse::default()
        });
        assert!(has_news(&notice));
        let mut configured = answer;
        configured.configuration_sync_response =
            Some(configuration(SyncResponseStatus::Resync, b"x"));
        assert!(has_news(&configured));
    }

    /// A service whose pushes are event numbers: a push of 0 is something the endpoint has
    /// already, any other becomes a response with that event. It counts closed sessions.
    #[derive(Default)]
    struct Numbers {
        closed: std::sync::atomic::AtomicUsize,
    }

    impl EndpointService for Numbers {
        type Session = ();
        type Push = i32;
        type Identity = ();
        const KEEPS_SESSIONS: bool = true;
        const SIGNS_RESPONSES: bool = false;
        const VERIFIES_SIGNATURES: bool = false;

        fn open(&self, _: crate::PushSender<i32>, _: Option<()>, _: Channel) {}

        async fn identify(&self, _: &[u8]) -> Result<crate::Identified<()>, SyncFailure> {
            Ok(crate::Identified {
                public_key: None,
                identity: (),
            })
        }

        async fn sync(
            &self,
            _: &mut (),
            request: SyncRequest,
        ) -> Result<SyncResponse, SyncFailure> {
            let mut response =
                SyncResponse::new(request.request_id, SyncResponseResultType::Success);
            response.configuration_sync_response =
                Some(configuration(SyncResponseStatus::NoDelta, &[]));
            Ok(response)
        }

        async fn push(&self, _: &mut (), push: i32) -> Result<Option<SyncResponse>, SyncFailure> {
            Ok((push != 0).then(|| {
                let mut response = success();
                response.event_sync_response = Some(EventSyncResponse {
                    events: Some(vec![event(push)]),
                    ..EventSyncResponse::default()
                });
                response
            }))
        }

        fn close(&self, _: ()) {
            self.closed
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn numbers() -> (Arc<Numbers>, Session<Numbers>, crate::PushSender<i32>) {
        let service = Arc::new(Numbers::default());
        let (pushes_tx, pushes) = push_queue(PUSH_QUEUE);
        let session = Session {
            service: service.clone(),
            state: Some(()),
            pushes,
        };
        (service, session, pushes_tx)
    }

    fn events_of(response: &SyncResponse) -> Vec<i32> {
        response
            .event_sync_response
            .iter()
            .flat_map(|e| e.events.iter().flatten())
            .map(|e| e.seq_num)
            .collect()
    }

    #[tokio::test]
    async fn a_waiting_exchange_answers_with_the_first_push_that_brings_news() {
        let (service, mut session, pushes) = numbers();
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            pushes.try_send(0).unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            pushes.try_send(5).unwrap();
        });
        let request = SyncRequest {
            request_id: 3,
            ..SyncRequest::default()
        };
        let answer = session.exchange(request).await.unwrap();
        let answer = session
            .wait_for_news(answer, Duration::from_secs(30))
            .await
            .unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(30),
            "answered after {waited:?}"
        );
        assert_eq!(answer.request_id, 3);
        assert_eq!(events_of(&answer), [5]);
        assert!(answer.configuration_sync_response.is_some());
        drop(session);
        assert_eq!(
            service.closed.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "a dropped session is closed once"
        );
    }

    #[tokio::test]
    async fn an_exchange_takes_the_pushes_that_came_during_the_sync_and_times_out_without_news() {
        let (_, mut session, pushes) = numbers();
        pushes.try_send(1).unwrap();
        pushes.try_send(2).unwrap();
        let answer = session.exchange(SyncRequest::default()).await.unwrap();
        assert_eq!(events_of(&answer), [1, 2], "both pushes, in order");
        let started = tokio::time::Instant::now();
        let answer = session.exchange(SyncRequest::default()).await.unwrap();
        let answer = session
            .wait_for_news(answer, Duration::from_millis(300))
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(!has_news(&answer));
    }

    #[tokio::test]
    async fn frames_split_across_reads_are_read_whole() {
        let (client, server) = tokio::io::duplex(64);
        let mut connection = Connection::new(server, 1024);
        let mut client = client;
        let bytes: Vec<u8> = [
            Frame::PingReq,
            Frame::Disconnect(kaa_idl::endpoint::kaatcp::DisconnectReason::None),
        ]
        .iter()
        .flat_map(Frame::encode)
        .collect();
        let writer = tokio::spawn(async move {
            for byte in bytes {
                client.write_all(&[byte]).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        assert_eq!(connection.read_frame().await.unwrap(), Some(Frame::PingReq));
        assert!(matches!(
            connection.read_frame().await.unwrap(),
            Some(Frame::Disconnect(_))
        ));
        writer.await.unwrap();
        assert_eq!(
            connection.read_frame().await.unwrap(),
            None,
            "the peer closed"
        );
    }

    /// A frame announced at 400 KB costs only the bytes that came; a connection that read its
    /// last frame holds no buffer while it waits for the next.
    #[tokio::test]
    async fn the_read_buffer_holds_only_bytes_that_arrived() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut connection = Connection::new(server, 512 * 1024);
        let big = Frame::KaaSync(KaaSync {
            request: true,
            encrypted: false,
            message_id: 0,
            payload: vec![0; 400 * 1024],
        })
        .encode();
        client.write_all(&big[..100]).await.unwrap();
        let reading = tokio::time::timeout(Duration::from_millis(100), connection.read_frame());
        assert!(reading.await.is_err(), "the frame is not complete");
        assert_eq!(connection.buffer.len(), 100);
        assert!(
            connection.buffer.capacity() < 16 * 1024,
            "{} bytes reserved for 100 that arrived",
            connection.buffer.capacity()
        );

        let (mut client, server) = tokio::io::duplex(1024);
        let mut connection = Connection::new(server, 1024);
        client.write_all(&Frame::PingReq.encode()).await.unwrap();
        assert_eq!(connection.read_frame().await.unwrap(), Some(Frame::PingReq));
        assert_eq!(connection.buffer.capacity(), 0);
    }
}
