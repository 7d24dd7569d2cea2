//! The endpoint client's decisions, without I/O: which bootstrap server to ask and which
//! Operations server to try next, what each sync request carries, what a server's answer means
//! for the application, and when a silent server is taken for dead.
//!
//! [`Engine`] is a state machine. The shell in [`crate::client`] owns the sockets, timers, state
//! files and the event channel; it feeds the engine what happened — a bootstrap answer, a session
//! that ended, a sync response, an application command, a timer that fired, a ping sent — and
//! carries out what the engine returns:
//!
//! - between sessions, a [`Plan`]: events for the application, then the [`Next`] step (start a
//!   bootstrap round, ask one bootstrap server, open a session with one Operations server, or
//!   pause before going on);
//! - within a session, the request to send and a [`Reaction`]: events for the application and
//!   the configuration to keep, in the order they must happen, then the request to send next.
//!
//! After a failure the engine pauses before the next attempt: exponential back-off from
//! `retry_delay` up to `max_retry_delay`, each pause drawn between half the step and the full
//! step ("equal jitter", [`backoff`]), so a fleet that lost its server at once does not come
//! back in lockstep. The draws come from a small generator seeded by the endpoint's key hash,
//! so the engine stays deterministic for a given endpoint and endpoints differ.
//!
//! The engine reads the clock only through the `now` it is given and exposes its timers
//! ([`Engine::log_deadline`], [`Engine::ping_deadline`], [`Engine::ping_interval`]) for the shell
//! to wait on. Two pieces of state are shared with the application's threads and stay behind
//! their locks: the log buffer (the engine's uploader takes batches from it and moves its
//! acknowledged mark, see [`crate::logs`]) and the owner and event queue ([`crate::owner`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use kaa_idl::endpoint::crypto::{PublicKey, sha1};
use kaa_idl::endpoint::sync::{
    ConfigurationSyncRequest, EventSequenceNumberRequest, EventSyncRequest,
    NotificationSyncRequest, ProfileSyncRequest, SubscriptionCommand, SubscriptionCommandType,
    SyncRequest, SyncRequestMetaData, SyncResponse, SyncResponseResultType, SyncResponseStatus,
    TopicState, topic_list_hash,
};
use tokio::time::Instant;

use crate::SdkError;
use crate::bootstrap::{OperationsServer, Transport};
use crate::client_config::ClientConfig;
use crate::event::Event;
use crate::http;
use crate::logs::{Delivery, SharedLogs, Uploader};
use crate::owner::SharedOwner;

/// What the application asks of the client.
#[derive(Debug)]
pub(crate) enum Command {
    Subscribe(i64),
    Unsubscribe(i64),
    Profile(Vec<u8>),
}

/// How to ask one bootstrap server for the Operations servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BootstrapAsk {
    /// Over HTTP at `address`; the answer is signed with `public_key`.
    Http {
        address: String,
        public_key: Vec<u8>,
    },
    /// Over Kaatcp at `address`, encrypted when `public_key` is known.
    Kaatcp {
        address: String,
        public_key: Option<Vec<u8>>,
    },
}

impl BootstrapAsk {
    fn address(&self) -> &str {
        match self {
            BootstrapAsk::Http { address, .. } | BootstrapAsk::Kaatcp { address, .. } => address,
        }
    }
}

/// The shell's next step between sessions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    /// A bootstrap round begins: unless the client was stopped, call [`Engine::new_round`].
    NewRound,
    /// Ask this bootstrap server, then call [`Engine::bootstrap_answered`].
    Ask(BootstrapAsk),
    /// Open a session with this server ([`Engine::open_session`] first); when it fails, call
    /// [`Engine::session_ended`].
    Connect(OperationsServer),
    /// Wait this long (unless the client is stopped meanwhile), then call [`Engine::resumed`].
    Pause(Duration),
}

/// Events for the application, then the next step.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) events: Vec<Event>,
    pub(crate) next: Next,
}

/// Something the shell does for the engine within a session, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Tell the application.
    Emit(Event),
    /// Keep this configuration body for the next start (a failure is reported as
    /// [`failure`]`("cannot keep the configuration: …")`).
    SaveConfiguration(Vec<u8>),
}

/// The effects of an input within a session, then the request to send, if one is due.
#[derive(Debug)]
pub(crate) struct Reaction {
    pub(crate) effects: Vec<Effect>,
    pub(crate) request: Option<SyncRequest>,
}

/// What the endpoint holds across sessions.
#[derive(Debug, Default)]
struct State {
    profile: Vec<u8>,
    configuration_hash: Vec<u8>,
    topic_list_hash: i32,
    topic_states: BTreeMap<i64, i32>,
    accepted_unicasts: Vec<String>,
    next_request_id: i32,
}

/// The client's state machine (see the module docs).
pub(crate) struct Engine {
    config: ClientConfig,
    key_hash: [u8; 20],
    public_key: Vec<u8>,
    state: State,
    uploader: Uploader,
    owner: Arc<SharedOwner>,
    /// Failures in a row, for the back-off.
    failures: u32,
    /// The back-off's jitter generator (SplitMix64 state).
    jitter: u64,
    /// Sessions established so far.
    sessions: u64,
    /// Index in `config.bootstrap` of the next bootstrap server to ask this round.
    next_bootstrap: usize,
    /// Where the current bootstrap question went, for messages.
    asked: String,
    /// The Operations servers of the last bootstrap answer.
    servers: Vec<OperationsServer>,
    /// Indices in `servers` still to try before the next bootstrap round.
    queue: VecDeque<usize>,
    /// Redirects followed since the last bootstrap answer.
    redirects: usize,
    /// Index in `servers` of the server of the current session.
    current: usize,
    /// `sessions` when the current session was opened.
    sessions_before: u64,
    /// The oldest ping of this session not yet followed by bytes from the server.
    unanswered_ping: Option<Instant>,
}

impl Engine {
    /// An engine for the endpoint whose public key (X.509 DER) is `public_key` and whose key
    /// hash is `key_hash`, holding the configuration of hash `configuration_hash` (empty: none),
    /// uploading from `logs` and sending the owner work queued in `owner`.
    pub(crate) fn new(
        config: ClientConfig,
        key_hash: [u8; 20],
        public_key: Vec<u8>,
        configuration_hash: Vec<u8>,
        logs: Arc<SharedLogs>,
        owner: Arc<SharedOwner>,
    ) -> Self {
        Self {
            state: State {
                profile: config.profile.clone(),
                configuration_hash,
                ..State::default()
            },
            uploader: Uploader::new(logs, config.logs.delivery_timeout, config.retry_delay),
            owner,
            config,
            key_hash,
            public_key,
            failures: 0,
            jitter: u64::from_le_bytes(key_hash[..8].try_into().unwrap_or_default()),
            sessions: 0,
            next_bootstrap: 0,
            asked: String::new(),
            servers: Vec::new(),
            queue: VecDeque::new(),
            redirects: 0,
            current: 0,
            sessions_before: 0,
            unanswered_ping: None,
        }
    }

    /// How the client runs.
    pub(crate) fn config(&self) -> &ClientConfig {
        &self.config
    }

    // ---- Between sessions: bootstrap, failover, back-off.

    /// A bootstrap round: the bootstrap servers are asked in their order.
    pub(crate) fn new_round(&mut self) -> Plan {
        self.next_bootstrap = 0;
        let mut events = Vec::new();
        if self.config.bootstrap.is_empty() {
            events.push(failure("no bootstrap server configured".into()));
        }
        self.ask_next(events)
    }

    /// The next bootstrap server of the round with a usable key (every one skipped is
    /// reported); over HTTP when the client runs over HTTP and the server has an HTTP address
    /// and a key. With none left, a pause and then a new round.
    fn ask_next(&mut self, mut events: Vec<Event>) -> Plan {
        while let Some(server) = self.config.bootstrap.get(self.next_bootstrap) {
            self.next_bootstrap += 1;
            if let Some(key) = &server.public_key
                && let Err(error) = PublicKey::from_der(key)
            {
                events.push(failure(format!(
                    "bootstrap server {}: bad public key ({error}): not the X.509 DER of an RSA key",
                    server.address
                )));
                continue;
            }
            let ask = match (
                self.config.transport,
                &server.http_address,
                &server.public_key,
            ) {
                (Transport::Http, Some(address), Some(key)) => BootstrapAsk::Http {
                    address: address.clone(),
                    public_key: key.clone(),
                },
                _ => BootstrapAsk::Kaatcp {
                    address: server.address.clone(),
                    public_key: server.public_key.clone(),
                },
            };
            self.asked = ask.address().to_owned();
            return Plan {
                events,
                next: Next::Ask(ask),
            };
        }
        self.servers.clear();
        self.queue.clear();
        Plan {
            events,
            next: Next::Pause(self.pause()),
        }
    }

    /// The bootstrap server asked last answered: the Operations servers speaking the client's
    /// transport are tried in the order listed; an empty or failed answer moves on to the next
    /// bootstrap server.
    pub(crate) fn bootstrap_answered(
        &mut self,
        answer: Result<Vec<OperationsServer>, SdkError>,
    ) -> Plan {
        let list = match answer {
            Ok(list) if !list.is_empty() => list,
            Ok(_) => {
                let event = failure(format!(
                    "bootstrap server {} listed no Operations server",
                    self.asked
                ));
                return self.ask_next(vec![event]);
            }
            Err(error) => {
                let event = failure(format!(
                    "bootstrap server {}: {}",
                    self.asked,
                    self.explain(&error)
                ));
                return self.ask_next(vec![event]);
            }
        };
        let transport = self.config.transport;
        self.redirects = 0;
        self.queue = list
            .iter()
            .enumerate()
            .filter(|(_, server)| server.transport == transport)
            .map(|(at, _)| at)
            .collect();
        self.servers = list;
        if self.queue.is_empty() {
            let event = failure(format!(
                "the bootstrap servers list no Operations server speaking {transport:?}"
            ));
            return Plan {
                events: vec![event],
                next: Next::Pause(self.pause()),
            };
        }
        self.resumed()
    }

    /// A pause is over: the next Operations server waiting its turn, or a new bootstrap round
    /// when none is.
    pub(crate) fn resumed(&mut self) -> Plan {
        Plan {
            events: Vec::new(),
            next: self.connect_next(),
        }
    }

    fn connect_next(&mut self) -> Next {
        match self.queue.pop_front() {
            Some(at) => {
                self.current = at;
                self.sessions_before = self.sessions;
                Next::Connect(self.servers[at].clone())
            }
            None => Next::NewRound,
        }
    }

    /// The session with the current server failed (or could not start). A redirect goes to the
    /// named server at once (at most as many redirects as servers listed per bootstrap answer);
    /// any other failure is reported and paused for. When the failed server had served the
    /// endpoint (it died, or its network did), every other server of the list gets a turn,
    /// starting after it, before the bootstrap servers are asked again.
    pub(crate) fn session_ended(&mut self, error: SdkError) -> Plan {
        let transport = self.config.transport;
        let address = self.servers[self.current].address();
        match error {
            SdkError::Redirected(access_point) if self.redirects < self.servers.len() => {
                // The server is overloaded and names a less loaded one: go there at once.
                let target = self
                    .servers
                    .iter()
                    .position(|s| s.transport == transport && s.access_point_id == access_point);
                let Some(target) = target else {
                    tracing::warn!(access_point, "redirected to an unknown access point");
                    return self.resumed();
                };
                self.redirects += 1;
                let to = self.servers[target].address();
                tracing::info!(from = %address, to = %to, "redirected");
                self.queue.push_front(target);
                Plan {
                    events: vec![Event::Redirected(to)],
                    next: self.connect_next(),
                }
            }
            error => {
                tracing::info!(server = %address, %error, "session ended");
                let events = vec![
                    failure(format!("server {address}: {}", self.explain(&error))),
                    Event::Disconnected(error.to_string()),
                ];
                if self.sessions > self.sessions_before {
                    let at = self.current;
                    let servers = &self.servers;
                    self.queue = (at + 1..servers.len())
                        .chain(0..at)
                        .filter(|&other| servers[other].transport == transport)
                        .collect();
                }
                Plan {
                    events,
                    next: Next::Pause(self.pause()),
                }
            }
        }
    }

    /// The pause before the next attempt, longer after each failure in a row.
    fn pause(&mut self) -> Duration {
        let delay = backoff(&self.config, self.failures, draw(&mut self.jitter));
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// `error` for people: a refusal names the SDK token the client presented.
    fn explain(&self, error: &SdkError) -> String {
        match error {
            SdkError::Refused(_) => format!("{error} (SDK token {})", self.config.sdk_token),
            other => other.to_string(),
        }
    }

    // ---- Within a session: requests, answers, timers.

    /// A session begins: what the last one had in flight goes again, and its first request is
    /// the full one.
    pub(crate) fn open_session(&mut self) -> SyncRequest {
        self.uploader.session_ended();
        self.owner.pending().session_ended();
        self.unanswered_ping = None;
        self.full_request()
    }

    /// The session is up with `address`: the back-off starts over.
    pub(crate) fn connected(&mut self, address: String) -> Event {
        self.failures = 0;
        self.sessions += 1;
        Event::Connected(address)
    }

    /// Takes in a response: events for the application and state for the next request; the
    /// request to send next is the full one when the server asks for the profile, else the next
    /// log batch and owner work when due. A failure or a redirect ends the session.
    pub(crate) fn response(
        &mut self,
        response: SyncResponse,
        now: Instant,
    ) -> Result<Reaction, SdkError> {
        match response.status {
            SyncResponseResultType::ProfileResync => {
                return Ok(Reaction {
                    effects: Vec::new(),
                    request: Some(self.full_request()),
                });
            }
            SyncResponseResultType::Failure => {
                return Err(SdkError::Refused("sync failed".into()));
            }
            SyncResponseResultType::Redirect => {
                let access_point = response
                    .redirect_sync_response
                    .map(|r| r.access_point_id)
                    .ok_or_else(|| SdkError::Protocol("REDIRECT without an access point".into()))?;
                return Err(SdkError::Redirected(access_point));
            }
            _ => {}
        }
        let mut effects = Vec::new();
        let statuses = response
            .log_sync_response
            .as_ref()
            .and_then(|logs| logs.delivery_statuses.as_deref());
        if let Some(statuses) = statuses {
            for delivery in self.uploader.on_statuses(statuses, now)? {
                effects.push(Effect::Emit(delivered(delivery)));
            }
        }
        let owner_events = self.owner.pending().absorb(
            response.request_id,
            response.user_sync_response,
            response.event_sync_response,
        );
        effects.extend(owner_events.into_iter().map(Effect::Emit));
        if let Some(configuration) = response.configuration_sync_response
            && configuration.response_status != SyncResponseStatus::NoDelta
            && let Some(body) = configuration.conf_delta_body
        {
            self.state.configuration_hash = sha1(&body).to_vec();
            effects.push(Effect::SaveConfiguration(body.clone()));
            effects.push(Effect::Emit(Event::Configuration(body)));
        }
        if let Some(notifications) = response.notification_sync_response {
            if let Some(topics) = notifications.available_topics {
                self.state.topic_list_hash = topic_list_hash(topics.iter().map(|t| t.id));
                effects.push(Effect::Emit(Event::Topics(topics)));
            }
            for notification in notifications.notifications.into_iter().flatten() {
                if let Some(seq) = notification.seq_number {
                    let state = self
                        .state
                        .topic_states
                        .entry(notification.topic_id)
                        .or_default();
                    *state = (*state).max(seq);
                }
                if let Some(uid) = &notification.uid {
                    self.state.accepted_unicasts.push(uid.clone());
                }
                effects.push(Effect::Emit(Event::Notification {
                    topic_id: notification.topic_id,
                    seq_number: notification.seq_number,
                    uid: notification.uid,
                    body: notification.body,
                }));
            }
        }
        // The next log batch and queued events go as soon as the last ones are settled.
        Ok(Reaction {
            effects,
            request: self.due(now),
        })
    }

    /// The request an application command makes.
    pub(crate) fn command(&mut self, command: Command) -> SyncRequest {
        let request_id = self.request_id();
        match command {
            Command::Subscribe(topic_id) | Command::Unsubscribe(topic_id) => {
                let kind = match command {
                    Command::Subscribe(_) => SubscriptionCommandType::Add,
                    _ => SubscriptionCommandType::Remove,
                };
                let notifications = self.notification_request(vec![SubscriptionCommand {
                    topic_id,
                    command: kind,
                }]);
                SyncRequest {
                    request_id,
                    sync_request_meta_data: Some(self.meta()),
                    notification_sync_request: Some(notifications),
                    ..SyncRequest::default()
                }
            }
            Command::Profile(profile) => {
                self.state.profile = profile;
                SyncRequest {
                    request_id,
                    sync_request_meta_data: Some(self.meta()),
                    profile_sync_request: Some(ProfileSyncRequest {
                        endpoint_public_key: None,
                        profile_body: self.state.profile.clone(),
                        endpoint_access_token: None,
                    }),
                    configuration_sync_request: Some(ConfigurationSyncRequest {
                        configuration_hash: self.state.configuration_hash.clone(),
                        resync_only: Some(true),
                    }),
                    ..SyncRequest::default()
                }
            }
        }
    }

    /// A request carrying what is due (after a record was logged, owner work was queued, or an
    /// answer settled the last ones): the next log batch, and the owner and event work the
    /// application queued; `None` when nothing is.
    pub(crate) fn due(&mut self, now: Instant) -> Option<SyncRequest> {
        let logs = self.uploader.next(now);
        let request_id = self.state.next_request_id + 1;
        let (user, events) = self
            .owner
            .pending()
            .sections(request_id)
            .unwrap_or_default();
        if logs.is_none() && user.is_none() && events.is_none() {
            return None;
        }
        Some(SyncRequest {
            request_id: self.request_id(),
            sync_request_meta_data: Some(self.meta()),
            log_sync_request: logs,
            user_sync_request: user,
            event_sync_request: events,
            ..SyncRequest::default()
        })
    }

    /// When [`Engine::log_deadline_passed`] must run: a log batch's delivery timeout or the end
    /// of its retry pause.
    pub(crate) fn log_deadline(&self) -> Option<Instant> {
        self.uploader.deadline()
    }

    /// A log deadline passed: a batch that got no status in time is reported failed and goes
    /// again with whatever else is due.
    pub(crate) fn log_deadline_passed(&mut self, now: Instant) -> Reaction {
        let effects = self
            .uploader
            .on_deadline(now)
            .map(|delivery| Effect::Emit(delivered(delivery)))
            .into_iter()
            .collect();
        Reaction {
            effects,
            request: self.due(now),
        }
    }

    /// A long-poll request (HTTP): what the endpoint holds, so the server answers when that
    /// changes.
    pub(crate) fn poll_request(&mut self) -> SyncRequest {
        let request_id = self.request_id();
        let notifications = self.notification_request(Vec::new());
        SyncRequest {
            request_id,
            sync_request_meta_data: Some(self.meta()),
            configuration_sync_request: Some(ConfigurationSyncRequest {
                configuration_hash: self.state.configuration_hash.clone(),
                resync_only: Some(true),
            }),
            notification_sync_request: Some(notifications),
            ..SyncRequest::default()
        }
    }

    /// How often a Kaatcp session pings: half the keepalive, at least every second.
    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.keep_alive / 2).max(1))
    }

    /// A ping went out at `now`; the server's last bytes arrived at `last_read`. The oldest ping
    /// not yet followed by bytes from the server is the one supervised: a cut network sends no
    /// FIN, so a server silent for the network timeout after a ping is taken for dead (left
    /// within keepalive/2 + timeout of going silent).
    pub(crate) fn pinged(&mut self, now: Instant, last_read: Instant) {
        if self.unanswered_ping.is_none_or(|sent| last_read >= sent) {
            self.unanswered_ping = Some(now);
        }
    }

    /// When [`Engine::ping_deadline_passed`] must run: the network timeout after the supervised
    /// ping.
    pub(crate) fn ping_deadline(&self) -> Option<Instant> {
        self.unanswered_ping.map(|sent| sent + self.config.timeout)
    }

    /// The supervised ping's timeout passed with the server's last bytes at `last_read`: the
    /// session ends when nothing came since the ping.
    pub(crate) fn ping_deadline_passed(&mut self, last_read: Instant) -> Result<(), SdkError> {
        if self.unanswered_ping.is_some_and(|sent| last_read < sent) {
            return Err(SdkError::Timeout("PINGRESP"));
        }
        self.unanswered_ping = None;
        Ok(())
    }

    fn request_id(&mut self) -> i32 {
        self.state.next_request_id += 1;
        self.state.next_request_id
    }

    fn meta(&self) -> SyncRequestMetaData {
        SyncRequestMetaData {
            sdk_token: self.config.sdk_token.clone(),
            endpoint_public_key_hash: Some(self.key_hash.to_vec()),
            profile_hash: Some(sha1(&self.state.profile).to_vec()),
            timeout: Some(self.config.timeout.as_millis() as i64),
        }
    }

    fn notification_request(
        &mut self,
        commands: Vec<SubscriptionCommand>,
    ) -> NotificationSyncRequest {
        NotificationSyncRequest {
            topic_list_hash: self.state.topic_list_hash,
            topic_states: Some(
                self.state
                    .topic_states
                    .iter()
                    .map(|(&topic_id, &seq_number)| TopicState {
                        topic_id,
                        seq_number,
                    })
                    .collect(),
            ),
            accepted_unicast_notifications: Some(std::mem::take(&mut self.state.accepted_unicasts)),
            subscription_commands: Some(commands),
        }
    }

    /// The first request of a session: every section, as the Java SDK sends it.
    fn full_request(&mut self) -> SyncRequest {
        let request_id = self.request_id();
        let notifications = self.notification_request(Vec::new());
        SyncRequest {
            request_id,
            sync_request_meta_data: Some(self.meta()),
            profile_sync_request: Some(ProfileSyncRequest {
                endpoint_public_key: Some(self.public_key.clone()),
                profile_body: self.state.profile.clone(),
                endpoint_access_token: (!self.config.access_token.is_empty())
                    .then(|| self.config.access_token.clone()),
            }),
            configuration_sync_request: Some(ConfigurationSyncRequest {
                configuration_hash: self.state.configuration_hash.clone(),
                resync_only: Some(true),
            }),
            notification_sync_request: Some(notifications),
            event_sync_request: Some(EventSyncRequest {
                event_sequence_number_request: Some(EventSequenceNumberRequest),
                event_listeners_requests: None,
                events: None,
            }),
            ..SyncRequest::default()
        }
    }
}

/// The HTTP path for `request`: `/EP/Sync` when it carries something the server answers at
/// once (profile, logs, owner work, events), else `/EP/LongSync`, which the server may hold
/// until it has news.
pub(crate) fn http_path(request: &SyncRequest) -> http::Path {
    let answered_at_once = request.profile_sync_request.is_some()
        || request.log_sync_request.is_some()
        || request.user_sync_request.is_some()
        || request.event_sync_request.is_some();
    if answered_at_once {
        http::Path::Sync
    } else {
        http::Path::LongSync
    }
}

/// A failure for the application (the client goes on retrying), logged as it is made.
pub(crate) fn failure(message: String) -> Event {
    tracing::warn!(error = %message, "endpoint client failure");
    Event::Error(message)
}

/// What became of a log batch, as the application hears it.
fn delivered(delivery: Delivery) -> Event {
    match delivery {
        Delivery::Delivered { first, last } => Event::LogsDelivered { first, last },
        Delivery::Failed { first, last, code } => Event::LogsFailed { first, last, code },
    }
}

/// The pause after `failures` failures in a row: a step of `retry_delay`, doubling with each
/// failure up to `max_retry_delay`, of which `jitter` (in `[0, 1)`) picks a point between half
/// the step and the whole step.
fn backoff(config: &ClientConfig, failures: u32, jitter: f64) -> Duration {
    let step = config
        .retry_delay
        .saturating_mul(1 << failures.min(16))
        .min(config.max_retry_delay.max(config.retry_delay));
    step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// The next draw in `[0, 1)` of a SplitMix64 generator whose state is `state`.
fn draw(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 53 bits, as the fraction of a double.
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use kaa_idl::endpoint::sync::{
        ConfigurationSyncResponse, EndpointDetachResponse, Event as WireEvent,
        EventSequenceNumberResponse, EventSyncResponse, LogDeliveryErrorCode, LogDeliveryStatus,
        LogSyncResponse, Notification, NotificationSyncResponse, NotificationType,
        RedirectSyncResponse, SubscriptionType, Topic, UserAttachRequest, UserAttachResponse,
        UserSyncResponse,
    };

    use super::*;
    use crate::client_config::BootstrapServer;
    use crate::keys::EndpointKeys;
    use crate::logs::{LogBuffer, LogSettings};

    /// An engine over a log buffer in a temporary dir, with its shared queues.
    struct Rig {
        engine: Engine,
        logs: Arc<SharedLogs>,
        owner: Arc<SharedOwner>,
        _dir: tempfile::TempDir,
    }

    fn rig(config: ClientConfig) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let logs = SharedLogs::new(LogBuffer::open(dir.path(), config.logs.clone()).unwrap());
        let owner = SharedOwner::new();
        let engine = Engine::new(
            config,
            [7; 20],
            b"endpoint key".to_vec(),
            b"stored hash".to_vec(),
            logs.clone(),
            owner.clone(),
        );
        Rig {
            engine,
            logs,
            owner,
            _dir: dir,
        }
    }

    fn plain(address: &str) -> BootstrapServer {
        BootstrapServer {
            address: address.into(),
            http_address: None,
            public_key: None,
        }
    }

    fn config(bootstrap: Vec<BootstrapServer>) -> ClientConfig {
        ClientConfig {
            retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(1),
            profile: b"profile".to_vec(),
            ..ClientConfig::new(bootstrap, "sdk", "state")
        }
    }

    fn ops(access_point_id: i32, transport: Transport) -> OperationsServer {
        OperationsServer {
            access_point_id,
            transport,
            host: "ops".into(),
            port: access_point_id as u16,
            public_key: vec![1],
        }
    }

    fn tcp(count: i32) -> Vec<OperationsServer> {
        (1..=count).map(|id| ops(id, Transport::Tcp)).collect()
    }

    fn ask(address: &str) -> Next {
        Next::Ask(BootstrapAsk::Kaatcp {
            address: address.into(),
            public_key: None,
        })
    }

    fn connect(id: i32) -> Next {
        Next::Connect(ops(id, Transport::Tcp))
    }

    fn errors(plan: &Plan) -> Vec<&str> {
        plan.events
            .iter()
            .filter_map(|event| match event {
                Event::Error(message) => Some(message.as_str()),
                _ => None,
            })
            .collect()
    }

    /// An engine that bootstrapped from one server and got `servers`.
    fn bootstrapped(servers: Vec<OperationsServer>) -> (Rig, Plan) {
        let mut rig = rig(config(vec![plain("b1:1")]));
        assert_eq!(rig.engine.new_round().next, ask("b1:1"));
        let plan = rig.engine.bootstrap_answered(Ok(servers));
        (rig, plan)
    }

    /// The engine's session with the current server is up.
    fn session_up(engine: &mut Engine, address: &str) -> SyncRequest {
        let first = engine.open_session();
        engine.connected(address.into());
        first
    }

    fn answer(request_id: i32) -> SyncResponse {
        SyncResponse::new(request_id, SyncResponseResultType::Success)
    }

    fn emitted(reaction: &Reaction) -> Vec<Event> {
        reaction
            .effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Emit(event) => Some(event.clone()),
                Effect::SaveConfiguration(_) => None,
            })
            .collect()
    }

    fn log_ids(request: &SyncRequest) -> (i32, Vec<Vec<u8>>) {
        let logs = request.log_sync_request.as_ref().expect("a log batch");
        let records = logs.log_entries.iter().flatten();
        (logs.request_id, records.map(|e| e.data.clone()).collect())
    }

    fn status(bucket: i32, result: SyncResponseResultType) -> SyncResponse {
        SyncResponse {
            log_sync_response: Some(LogSyncResponse {
                delivery_statuses: Some(vec![LogDeliveryStatus {
                    request_id: bucket,
                    result,
                    error_code: (result == SyncResponseResultType::Failure)
                        .then_some(LogDeliveryErrorCode::NoAppendersConfigured),
                }]),
            }),
            ..answer(0)
        }
    }

    // ---- Bootstrap list and failover order.

    #[test]
    fn bootstrap_servers_are_asked_in_order_and_every_failure_is_reported() {
        let mut bad_key = plain("b1:1");
        bad_key.public_key = Some(b"not a key".to_vec());
        let mut rig = rig(config(vec![bad_key, plain("b2:1"), plain("b3:1")]));
        let plan = rig.engine.new_round();
        assert_eq!(plan.next, ask("b2:1"), "a server with a bad key is skipped");
        assert_eq!(errors(&plan).len(), 1);
        assert!(errors(&plan)[0].starts_with("bootstrap server b1:1: bad public key"));

        let plan = rig
            .engine
            .bootstrap_answered(Err(SdkError::Unreachable("down".into())));
        assert_eq!(plan.next, ask("b3:1"));
        assert_eq!(
            errors(&plan),
            ["bootstrap server b2:1: no server reachable: down"]
        );

        let plan = rig.engine.bootstrap_answered(Ok(Vec::new()));
        assert_eq!(
            errors(&plan),
            ["bootstrap server b3:1 listed no Operations server"]
        );
        assert_pause(&plan.next, 100);
        assert_eq!(rig.engine.resumed().next, Next::NewRound);
        let plan = rig.engine.new_round();
        assert_eq!(plan.next, ask("b2:1"), "a new round starts from the top");
    }

    #[test]
    fn without_bootstrap_servers_the_client_reports_and_waits() {
        let mut rig = rig(config(Vec::new()));
        let plan = rig.engine.new_round();
        assert_eq!(errors(&plan), ["no bootstrap server configured"]);
        assert_pause(&plan.next, 100);
        assert_eq!(rig.engine.resumed().next, Next::NewRound);
    }

    #[test]
    fn over_http_the_bootstrap_servers_http_address_is_asked_when_its_key_is_known() {
        let key = EndpointKeys::generate().unwrap().public_der().to_vec();
        let with_key = BootstrapServer {
            address: "b1:1".into(),
            http_address: Some("b1:80".into()),
            public_key: Some(key.clone()),
        };
        let without_key = BootstrapServer {
            http_address: Some("b2:80".into()),
            ..plain("b2:1")
        };
        let mut rig = rig(ClientConfig {
            transport: Transport::Http,
            ..config(vec![with_key, without_key])
        });
        assert_eq!(
            rig.engine.new_round().next,
            Next::Ask(BootstrapAsk::Http {
                address: "b1:80".into(),
                public_key: key,
            })
        );
        let plan = rig
            .engine
            .bootstrap_answered(Err(SdkError::Timeout("bootstrap")));
        assert_eq!(
            errors(&plan),
            ["bootstrap server b1:80: timed out waiting for bootstrap"]
        );
        assert_eq!(plan.next, ask("b2:1"), "no key: asked over Kaatcp");
    }

    #[test]
    fn servers_of_the_clients_transport_are_tried_in_the_order_listed() {
        let servers = vec![
            ops(1, Transport::Tcp),
            ops(2, Transport::Http),
            ops(3, Transport::Tcp),
        ];
        let (mut rig, plan) = bootstrapped(servers);
        assert!(plan.events.is_empty());
        assert_eq!(plan.next, connect(1));
        let plan = rig
            .engine
            .session_ended(SdkError::Unreachable("refused".into()));
        assert_eq!(
            plan.events,
            [
                Event::Error("server ops:1: no server reachable: refused".into()),
                Event::Disconnected("no server reachable: refused".into()),
            ]
        );
        assert!(matches!(plan.next, Next::Pause(_)));
        assert_eq!(
            rig.engine.resumed().next,
            connect(3),
            "HTTP servers skipped"
        );
        rig.engine.session_ended(SdkError::Timeout("CONNACK"));
        assert_eq!(
            rig.engine.resumed().next,
            Next::NewRound,
            "the list is used up: bootstrap again"
        );
    }

    #[test]
    fn a_list_without_the_clients_transport_is_reported_and_bootstrapped_again() {
        let (mut rig, plan) = bootstrapped(vec![ops(1, Transport::Http)]);
        assert_eq!(
            errors(&plan),
            ["the bootstrap servers list no Operations server speaking Tcp"]
        );
        assert!(matches!(plan.next, Next::Pause(_)));
        assert_eq!(rig.engine.resumed().next, Next::NewRound);
    }

    #[test]
    fn a_server_that_served_the_endpoint_hands_over_to_every_other_before_bootstrapping_again() {
        let (mut rig, plan) = bootstrapped(tcp(4));
        assert_eq!(plan.next, connect(1));
        rig.engine.session_ended(SdkError::Timeout("CONNACK"));
        assert_eq!(rig.engine.resumed().next, connect(2));
        session_up(&mut rig.engine, "ops:2");
        rig.engine
            .session_ended(SdkError::Refused("DISCONNECT".into()));
        // The whole list, starting after the server that went away, and server 1 again too.
        let mut tried = Vec::new();
        loop {
            match rig.engine.resumed().next {
                Next::Connect(server) => tried.push(server.access_point_id),
                Next::NewRound => break,
                other => panic!("unexpected {other:?}"),
            }
            rig.engine.session_ended(SdkError::Timeout("CONNACK"));
        }
        assert_eq!(tried, [3, 4, 1]);
    }

    #[test]
    fn a_refusal_names_the_sdk_token() {
        let (mut rig, _) = bootstrapped(tcp(1));
        let plan = rig
            .engine
            .session_ended(SdkError::Refused("bad credentials".into()));
        assert_eq!(
            errors(&plan),
            ["server ops:1: refused by the server: bad credentials (SDK token sdk)"]
        );
    }

    /// `next` is a pause of the back-off step `step_ms`: between half of it and all of it.
    fn assert_pause(next: &Next, step_ms: u64) {
        let step = Duration::from_millis(step_ms);
        match next {
            Next::Pause(delay) => assert!(
                (step / 2..=step).contains(delay),
                "{delay:?} is not within the step of {step:?}"
            ),
            other => panic!("expected a pause, got {other:?}"),
        }
    }

    #[test]
    fn pause_steps_double_after_each_failure_up_to_the_longest() {
        let config = ClientConfig {
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(1),
            ..ClientConfig::new(Vec::new(), "sdk", "state")
        };
        let longest: Vec<u128> = (0..5)
            .map(|n| backoff(&config, n, 1.0).as_millis())
            .collect();
        assert_eq!(longest, [200, 400, 800, 1000, 1000]);
        let shortest: Vec<u128> = (0..5)
            .map(|n| backoff(&config, n, 0.0).as_millis())
            .collect();
        assert_eq!(shortest, [100, 200, 400, 500, 500]);
        assert_eq!(backoff(&config, u32::MAX, 1.0), Duration::from_secs(1));
        assert_eq!(
            backoff(&config, 0, 7.0),
            Duration::from_millis(200),
            "clamped"
        );
    }

    #[test]
    fn jittered_pauses_stay_within_their_step_and_spread_over_it() {
        let config = ClientConfig {
            retry_delay: Duration::from_millis(1000),
            max_retry_delay: Duration::from_secs(8),
            ..ClientConfig::new(Vec::new(), "sdk", "state")
        };
        let mut state = 42;
        for failures in 0..6 {
            let step = backoff(&config, failures, 1.0);
            let pauses: Vec<Duration> = (0..1000)
                .map(|_| backoff(&config, failures, draw(&mut state)))
                .collect();
            let (low, high) = (
                pauses.iter().min().copied().unwrap_or_default(),
                pauses.iter().max().copied().unwrap_or_default(),
            );
            assert!(
                low >= step / 2 && high <= step,
                "{low:?}..{high:?} of {step:?}"
            );
            // 1,000 draws cover most of the range: endpoints do not retry in lockstep.
            assert!(low < step * 11 / 20, "lowest {low:?} of {step:?}");
            assert!(high > step * 19 / 20, "highest {high:?} of {step:?}");
        }
        let draws: Vec<f64> = (0..10_000).map(|_| draw(&mut state)).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((0.45..0.55).contains(&mean), "mean draw {mean}");
    }

    #[test]
    fn endpoints_with_different_keys_draw_different_pauses() {
        let first = |key: u8| {
            let mut state = u64::from_le_bytes([key; 8]);
            draw(&mut state)
        };
        assert_ne!(first(1), first(2));
    }

    #[test]
    fn the_back_off_grows_with_failures_in_a_row_and_starts_over_after_a_session() {
        let (mut rig, _) = bootstrapped(tcp(3));
        let pause = |engine: &mut Engine| engine.session_ended(SdkError::Timeout("CONNACK")).next;
        assert_pause(&pause(&mut rig.engine), 100);
        rig.engine.resumed();
        assert_pause(&pause(&mut rig.engine), 200);
        rig.engine.resumed();
        session_up(&mut rig.engine, "ops:3");
        assert_pause(&pause(&mut rig.engine), 100);
    }

    #[test]
    fn a_redirect_goes_to_the_named_server_at_once_and_is_announced() {
        let (mut rig, _) = bootstrapped(tcp(3));
        let plan = rig.engine.session_ended(SdkError::Redirected(3));
        assert_eq!(plan.events, [Event::Redirected("ops:3".into())]);
        assert_eq!(plan.next, connect(3), "no pause");
        // An unknown access point: the next server in line, silently.
        let plan = rig.engine.session_ended(SdkError::Redirected(99));
        assert!(plan.events.is_empty());
        assert_eq!(plan.next, connect(2));
    }

    #[test]
    fn redirects_stop_being_followed_after_as_many_as_servers_listed() {
        let (mut rig, _) = bootstrapped(tcp(2));
        assert_eq!(
            rig.engine.session_ended(SdkError::Redirected(2)).next,
            connect(2)
        );
        assert_eq!(
            rig.engine.session_ended(SdkError::Redirected(1)).next,
            connect(1)
        );
        let plan = rig.engine.session_ended(SdkError::Redirected(2));
        assert_eq!(
            plan.events,
            [
                Event::Error("server ops:1: redirected to access point 2".into()),
                Event::Disconnected("redirected to access point 2".into()),
            ]
        );
        assert!(matches!(plan.next, Next::Pause(_)));
    }

    // ---- Registration and profile.

    #[test]
    fn a_session_opens_with_the_full_request() {
        let mut rig = rig(ClientConfig {
            access_token: "lamp-1".into(),
            ..config(Vec::new())
        });
        let first = rig.engine.open_session();
        assert_eq!(first.request_id, 1);
        let meta = first.sync_request_meta_data.unwrap();
        assert_eq!(meta.sdk_token, "sdk");
        assert_eq!(meta.endpoint_public_key_hash, Some(vec![7; 20]));
        assert_eq!(meta.profile_hash, Some(sha1(b"profile").to_vec()));
        assert_eq!(meta.timeout, Some(10_000));
        let profile = first.profile_sync_request.unwrap();
        assert_eq!(profile.endpoint_public_key, Some(b"endpoint key".to_vec()));
        assert_eq!(profile.profile_body, b"profile");
        assert_eq!(profile.endpoint_access_token.as_deref(), Some("lamp-1"));
        let configuration = first.configuration_sync_request.unwrap();
        assert_eq!(configuration.configuration_hash, b"stored hash");
        assert_eq!(configuration.resync_only, Some(true));
        let notifications = first.notification_sync_request.unwrap();
        assert_eq!(notifications.topic_list_hash, 0);
        assert_eq!(notifications.topic_states, Some(Vec::new()));
        assert_eq!(notifications.subscription_commands, Some(Vec::new()));
        let events = first.event_sync_request.unwrap();
        assert!(events.event_sequence_number_request.is_some());
        assert!(first.log_sync_request.is_none() && first.user_sync_request.is_none());

        let mut anonymous = self::rig(config(Vec::new()));
        let first = anonymous.engine.open_session();
        assert_eq!(
            first.profile_sync_request.unwrap().endpoint_access_token,
            None
        );
    }

    #[test]
    fn a_profile_resync_answer_sends_the_full_request_again() {
        let mut rig = rig(config(Vec::new()));
        rig.engine.open_session();
        let reaction = rig
            .engine
            .response(
                SyncResponse {
                    status: SyncResponseResultType::ProfileResync,
                    ..answer(1)
                },
                Instant::now(),
            )
            .unwrap();
        assert!(reaction.effects.is_empty());
        let again = reaction.request.unwrap();
        assert_eq!(again.request_id, 2);
        let profile = again.profile_sync_request.unwrap();
        assert_eq!(profile.endpoint_public_key, Some(b"endpoint key".to_vec()));
        assert!(again.event_sync_request.is_some());
    }

    #[test]
    fn a_new_profile_is_sent_with_its_hash_and_kept_for_the_next_session() {
        let mut rig = rig(config(Vec::new()));
        rig.engine.open_session();
        let request = rig.engine.command(Command::Profile(b"new".to_vec()));
        let meta = request.sync_request_meta_data.unwrap();
        assert_eq!(meta.profile_hash, Some(sha1(b"new").to_vec()));
        let profile = request.profile_sync_request.unwrap();
        assert_eq!(profile.profile_body, b"new");
        assert_eq!(profile.endpoint_public_key, None);
        assert!(request.configuration_sync_request.is_some());
        let next = rig.engine.open_session();
        assert_eq!(next.profile_sync_request.unwrap().profile_body, b"new");
    }

    #[test]
    fn a_failed_or_redirected_answer_ends_the_session() {
        let mut rig = rig(config(Vec::new()));
        let now = Instant::now();
        let failed = SyncResponse {
            status: SyncResponseResultType::Failure,
            ..answer(1)
        };
        assert!(matches!(
            rig.engine.response(failed, now),
            Err(SdkError::Refused(_))
        ));
        let redirect = SyncResponse {
            status: SyncResponseResultType::Redirect,
            redirect_sync_response: Some(RedirectSyncResponse {
                access_point_id: 42,
            }),
            ..answer(1)
        };
        assert!(matches!(
            rig.engine.response(redirect, now),
            Err(SdkError::Redirected(42))
        ));
        let nowhere = SyncResponse {
            status: SyncResponseResultType::Redirect,
            ..answer(1)
        };
        assert!(matches!(
            rig.engine.response(nowhere, now),
            Err(SdkError::Protocol(_))
        ));
    }

    // ---- Configuration.

    #[test]
    fn a_new_configuration_is_kept_announced_and_its_hash_sent_next() {
        let mut rig = rig(config(Vec::new()));
        rig.engine.open_session();
        let response = SyncResponse {
            configuration_sync_response: Some(ConfigurationSyncResponse {
                response_status: SyncResponseStatus::Delta,
                conf_schema_body: None,
                conf_delta_body: Some(b"conf".to_vec()),
            }),
            ..answer(1)
        };
        let reaction = rig.engine.response(response, Instant::now()).unwrap();
        assert_eq!(
            reaction.effects,
            [
                Effect::SaveConfiguration(b"conf".to_vec()),
                Effect::Emit(Event::Configuration(b"conf".to_vec())),
            ],
            "kept before the application hears of it"
        );
        assert!(reaction.request.is_none());
        let poll = rig.engine.poll_request();
        assert_eq!(
            poll.configuration_sync_request.unwrap().configuration_hash,
            sha1(b"conf")
        );
        assert_eq!(
            rig.engine
                .open_session()
                .configuration_sync_request
                .unwrap()
                .configuration_hash,
            sha1(b"conf")
        );
    }

    #[test]
    fn an_unchanged_configuration_is_not_announced() {
        let mut rig = rig(config(Vec::new()));
        let response = SyncResponse {
            configuration_sync_response: Some(ConfigurationSyncResponse {
                response_status: SyncResponseStatus::NoDelta,
                conf_schema_body: None,
                conf_delta_body: Some(b"conf".to_vec()),
            }),
            ..answer(1)
        };
        let reaction = rig.engine.response(response, Instant::now()).unwrap();
        assert!(reaction.effects.is_empty());
        let poll = rig.engine.poll_request();
        assert_eq!(
            poll.configuration_sync_request.unwrap().configuration_hash,
            b"stored hash"
        );
    }

    // ---- Notifications and topics.

    fn notification(topic_id: i64, seq_number: Option<i32>, uid: Option<&str>) -> Notification {
        Notification {
            topic_id,
            notification_type: NotificationType::Custom,
            uid: uid.map(Into::into),
            seq_number,
            body: vec![topic_id as u8],
        }
    }

    #[test]
    fn topics_and_notifications_reach_the_application_and_the_next_requests() {
        let mut rig = rig(config(Vec::new()));
        let topics: Vec<Topic> = [1, 2]
            .map(|id| Topic {
                id,
                name: format!("t{id}"),
                subscription_type: SubscriptionType::Optional,
            })
            .into();
        let response = SyncResponse {
            notification_sync_response: Some(NotificationSyncResponse {
                response_status: SyncResponseStatus::Delta,
                notifications: Some(vec![
                    notification(1, Some(5), None),
                    notification(1, Some(3), None),
                    notification(2, None, Some("u1")),
                ]),
                available_topics: Some(topics.clone()),
            }),
            ..answer(1)
        };
        let reaction = rig.engine.response(response, Instant::now()).unwrap();
        let events = emitted(&reaction);
        assert_eq!(events[0], Event::Topics(topics));
        assert_eq!(
            events[3],
            Event::Notification {
                topic_id: 2,
                seq_number: None,
                uid: Some("u1".into()),
                body: vec![2],
            }
        );
        assert_eq!(events.len(), 4);
        let poll = rig.engine.poll_request().notification_sync_request.unwrap();
        assert_eq!(poll.topic_list_hash, topic_list_hash([1, 2]));
        assert_eq!(
            poll.topic_states,
            Some(vec![TopicState {
                topic_id: 1,
                seq_number: 5
            }]),
            "the highest sequence number seen"
        );
        assert_eq!(
            poll.accepted_unicast_notifications,
            Some(vec!["u1".to_owned()])
        );
        let again = rig.engine.poll_request().notification_sync_request.unwrap();
        assert_eq!(
            again.accepted_unicast_notifications,
            Some(Vec::new()),
            "a unicast is acknowledged once"
        );
        assert_eq!(again.topic_states.unwrap().len(), 1);
    }

    #[test]
    fn subscribing_and_unsubscribing_send_topic_commands() {
        let mut rig = rig(config(Vec::new()));
        for (command, kind) in [
            (Command::Subscribe(7), SubscriptionCommandType::Add),
            (Command::Unsubscribe(7), SubscriptionCommandType::Remove),
        ] {
            let request = rig.engine.command(command);
            assert!(request.profile_sync_request.is_none());
            let notifications = request.notification_sync_request.unwrap();
            assert_eq!(
                notifications.subscription_commands,
                Some(vec![SubscriptionCommand {
                    topic_id: 7,
                    command: kind
                }])
            );
        }
    }

    // ---- Log delivery.

    fn logging(batch_records: usize, buffer_records: usize) -> Rig {
        rig(ClientConfig {
            logs: LogSettings {
                batch_records,
                buffer_records,
                delivery_timeout: Duration::from_secs(30),
            },
            ..config(Vec::new())
        })
    }

    #[test]
    fn log_batches_go_one_at_a_time_and_the_next_follows_its_confirmation() {
        let mut rig = logging(2, 3);
        for n in 1..=3u8 {
            rig.logs.append(vec![n]).unwrap();
        }
        assert!(matches!(
            rig.logs.append(vec![4]),
            Err(SdkError::LogBufferFull(3))
        ));
        let now = Instant::now();
        let first = rig.engine.due(now).unwrap();
        assert_eq!(log_ids(&first), (1, vec![vec![1], vec![2]]));
        assert!(rig.engine.due(now).is_none(), "one batch in flight");
        let reaction = rig
            .engine
            .response(status(1, SyncResponseResultType::Success), now)
            .unwrap();
        assert_eq!(
            emitted(&reaction),
            [Event::LogsDelivered { first: 1, last: 2 }]
        );
        assert_eq!(log_ids(&reaction.request.unwrap()), (2, vec![vec![3]]));
        rig.logs.append(vec![4]).unwrap();
        let stale = rig
            .engine
            .response(status(1, SyncResponseResultType::Success), now)
            .unwrap();
        assert!(stale.effects.is_empty(), "a status of an older batch");
    }

    #[test]
    fn a_refused_batch_is_reported_and_sent_again_after_the_retry_delay() {
        let mut rig = logging(10, 10);
        rig.logs.append(vec![1]).unwrap();
        let now = Instant::now();
        rig.engine.due(now).unwrap();
        let reaction = rig
            .engine
            .response(status(1, SyncResponseResultType::Failure), now)
            .unwrap();
        assert_eq!(
            emitted(&reaction),
            [Event::LogsFailed {
                first: 1,
                last: 1,
                code: Some(LogDeliveryErrorCode::NoAppendersConfigured)
            }]
        );
        assert!(reaction.request.is_none(), "not before the retry delay");
        let retry_at = now + Duration::from_millis(100);
        assert_eq!(rig.engine.log_deadline(), Some(retry_at));
        let retried = rig.engine.log_deadline_passed(retry_at);
        assert!(retried.effects.is_empty());
        assert_eq!(log_ids(&retried.request.unwrap()), (2, vec![vec![1]]));
    }

    #[test]
    fn a_batch_without_a_status_in_time_fails_and_goes_again() {
        let mut rig = logging(10, 10);
        rig.logs.append(vec![1]).unwrap();
        let now = Instant::now();
        rig.engine.due(now).unwrap();
        let deadline = now + Duration::from_secs(30);
        assert_eq!(rig.engine.log_deadline(), Some(deadline));
        let reaction = rig.engine.log_deadline_passed(deadline);
        assert_eq!(
            emitted(&reaction),
            [Event::LogsFailed {
                first: 1,
                last: 1,
                code: None
            }]
        );
        assert_eq!(log_ids(&reaction.request.unwrap()), (2, vec![vec![1]]));
    }

    #[test]
    fn a_new_session_sends_the_batch_in_flight_again() {
        let mut rig = logging(10, 10);
        rig.logs.append(vec![1]).unwrap();
        let now = Instant::now();
        rig.engine.due(now).unwrap();
        rig.engine.open_session();
        assert_eq!(log_ids(&rig.engine.due(now).unwrap()).1, [vec![1]]);
    }

    // ---- Owners and events.

    #[test]
    fn owner_attach_and_detach_go_with_the_next_request_and_their_answers_become_events() {
        let mut rig = rig(config(Vec::new()));
        rig.owner.update(|pending| {
            pending.attach_to_owner(UserAttachRequest {
                user_verifier_id: "v".into(),
                user_external_id: "alice".into(),
                user_access_token: "t".into(),
            })
        });
        let detach = rig
            .owner
            .update(|pending| pending.detach_endpoint("a2V5".into()));
        let now = Instant::now();
        let request = rig.engine.due(now).unwrap();
        let user = request.user_sync_request.unwrap();
        assert_eq!(user.user_attach_request.unwrap().user_external_id, "alice");
        assert_eq!(user.endpoint_detach_requests.unwrap()[0].request_id, detach);
        assert!(rig.engine.due(now).is_none(), "awaiting the answer");
        let response = SyncResponse {
            user_sync_response: Some(UserSyncResponse {
                user_attach_response: Some(UserAttachResponse {
                    result: SyncResponseResultType::Success,
                    error_code: None,
                    error_reason: None,
                }),
                endpoint_detach_responses: Some(vec![EndpointDetachResponse {
                    request_id: detach,
                    result: SyncResponseResultType::Success,
                }]),
                ..UserSyncResponse::default()
            }),
            ..answer(request.request_id)
        };
        let reaction = rig.engine.response(response, now).unwrap();
        assert_eq!(
            emitted(&reaction),
            [
                Event::AttachedToOwner {
                    user_external_id: "alice".into()
                },
                Event::EndpointDetached {
                    request_id: detach,
                    success: true
                },
            ]
        );
        assert!(reaction.request.is_none(), "nothing left to send");
    }

    #[test]
    fn events_are_numbered_after_the_servers_counter_and_received_events_reach_the_application() {
        let mut rig = rig(config(Vec::new()));
        let first = rig.engine.open_session();
        let now = Instant::now();
        let numbered = SyncResponse {
            event_sync_response: Some(EventSyncResponse {
                event_sequence_number_response: Some(EventSequenceNumberResponse { seq_num: 10 }),
                ..EventSyncResponse::default()
            }),
            ..answer(first.request_id)
        };
        rig.engine.response(numbered, now).unwrap();
        rig.owner
            .update(|pending| pending.send_event("Ping".into(), vec![1], None));
        let request = rig.engine.due(now).unwrap();
        let sent = request.event_sync_request.unwrap().events.unwrap();
        assert_eq!(sent[0].seq_num, 11);
        let received = SyncResponse {
            event_sync_response: Some(EventSyncResponse {
                events: Some(vec![WireEvent {
                    seq_num: 1,
                    event_class_fqn: "Pong".into(),
                    event_data: vec![2],
                    source: Some("src".into()),
                    target: None,
                }]),
                ..EventSyncResponse::default()
            }),
            ..answer(request.request_id)
        };
        let reaction = rig.engine.response(received, now).unwrap();
        assert_eq!(
            emitted(&reaction),
            [Event::EventReceived {
                fqn: "Pong".into(),
                data: vec![2],
                source: Some("src".into())
            }]
        );
        assert!(reaction.request.is_none(), "the event was handed over");
    }

    // ---- Ping supervision.

    #[test]
    fn a_ping_unanswered_for_the_network_timeout_ends_the_session() {
        let mut rig = rig(config(Vec::new()));
        let read = Instant::now();
        let sent = read + Duration::from_secs(100);
        rig.engine.pinged(sent, read);
        assert_eq!(
            rig.engine.ping_deadline(),
            Some(sent + Duration::from_secs(10))
        );
        assert!(matches!(
            rig.engine.ping_deadline_passed(read),
            Err(SdkError::Timeout("PINGRESP"))
        ));
    }

    #[test]
    fn bytes_after_the_ping_keep_the_session() {
        let mut rig = rig(config(Vec::new()));
        let sent = Instant::now();
        rig.engine.pinged(sent, sent - Duration::from_secs(1));
        rig.engine.ping_deadline_passed(sent).unwrap();
        assert_eq!(rig.engine.ping_deadline(), None);
    }

    #[test]
    fn the_oldest_unanswered_ping_is_the_one_supervised() {
        let mut rig = rig(config(Vec::new()));
        let read = Instant::now();
        let first = read + Duration::from_secs(100);
        let second = first + Duration::from_secs(100);
        rig.engine.pinged(first, read);
        rig.engine.pinged(second, read);
        assert_eq!(
            rig.engine.ping_deadline(),
            Some(first + Duration::from_secs(10))
        );
        // The server answered the first: the next ping is the one watched.
        rig.engine.pinged(second, first);
        assert_eq!(
            rig.engine.ping_deadline(),
            Some(second + Duration::from_secs(10))
        );
        rig.engine.open_session();
        assert_eq!(
            rig.engine.ping_deadline(),
            None,
            "a new session starts clean"
        );
    }

    #[test]
    fn pings_go_at_half_the_keepalive_and_at_least_every_second() {
        let mut rig = rig(config(Vec::new()));
        assert_eq!(rig.engine.ping_interval(), Duration::from_secs(100));
        rig.engine.config.keep_alive = 1;
        assert_eq!(rig.engine.ping_interval(), Duration::from_secs(1));
    }

    // ---- HTTP long polls.

    #[test]
    fn over_http_requests_with_work_are_answered_at_once_and_the_rest_long_polled() {
        let mut rig = rig(config(Vec::new()));
        assert_eq!(http_path(&rig.engine.open_session()), http::Path::Sync);
        assert_eq!(http_path(&rig.engine.poll_request()), http::Path::LongSync);
        assert_eq!(
            http_path(&rig.engine.command(Command::Subscribe(1))),
            http::Path::LongSync
        );
        rig.logs.append(vec![1]).unwrap();
        let logs = rig.engine.due(Instant::now()).unwrap();
        assert_eq!(http_path(&logs), http::Path::Sync);
    }
}
