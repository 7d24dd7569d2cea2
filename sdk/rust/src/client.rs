//! The endpoint client: bootstrap, connect, register, keep the session, surface what the server
//! sends, and fail over.
//!
//! [`KaaClient::start`] spawns one task that owns the connection. The application reads
//! [`Event`]s (configuration, notifications, topic lists, connection changes, owner changes,
//! events from other endpoints) and sends commands (subscribe, unsubscribe, new profile), log
//! records, and owner and event requests (see [`crate::owner`]). Each session starts with a full request
//! (public key and profile, configuration hash, topic list hash and sequence numbers), so a
//! reconnect to another server resumes where the last one stopped. On any failure the client
//! waits a moment and moves on to the next Operations server of the bootstrap list, bootstrapping
//! again when the list is used up.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kaa_idl::endpoint::crypto::{PublicKey, sha1};
use kaa_idl::endpoint::sync::{
    ConfigurationSyncRequest, EventSequenceNumberRequest, EventSyncRequest,
    NotificationSyncRequest, ProfileSyncRequest, SubscriptionCommand, SubscriptionCommandType,
    SyncRequest, SyncRequestMetaData, SyncResponse, SyncResponseResultType, SyncResponseStatus,
    TopicState, UserAttachRequest, topic_list_hash,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::SdkError;
use crate::bootstrap::{OperationsServer, Transport, fetch_servers, fetch_servers_http};
use crate::channel::{Channel, Security, Tls};
use crate::configuration::ConfigurationStore;
pub use crate::event::Event;
use crate::http;
use crate::keys::EndpointKeys;
use crate::logs::{Delivery, LogBuffer, LogSettings, SharedLogs, Uploader};
use crate::owner::SharedOwner;

/// A Bootstrap server the client may ask.
#[derive(Debug, Clone)]
pub struct BootstrapServer {
    /// `host:port` of its Kaatcp transport.
    pub address: String,
    /// `host:port` of its HTTP transport, asked instead when the client runs over HTTP (which
    /// needs the public key too); `None`: Kaatcp only.
    pub http_address: Option<String>,
    /// Its public key (X.509 DER); `None` bootstraps in plaintext.
    pub public_key: Option<Vec<u8>>,
}

/// How the client runs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bootstrap servers, tried in order.
    pub bootstrap: Vec<BootstrapServer>,
    /// The SDK token of the application's SDK profile.
    pub sdk_token: String,
    /// The client profile, Avro binary (empty for an application without a profile schema).
    pub profile: Vec<u8>,
    /// Where the endpoint's keys live.
    pub state_dir: PathBuf,
    /// The endpoint access token (owners attach endpoints by it); empty: none.
    pub access_token: String,
    /// Network timeouts.
    pub timeout: Duration,
    /// Pause after the first failure; it doubles with each failure in a row.
    pub retry_delay: Duration,
    /// Longest pause between attempts.
    pub max_retry_delay: Duration,
    /// Kaatcp keepalive announced to servers, in seconds; pings go at half of it.
    pub keep_alive: u16,
    /// TLS towards Operations servers over Kaatcp (their transports must have TLS on), or none.
    pub tls: Option<Tls>,
    /// Kaatcp sessions (pushes arrive at once) or HTTP (long polls).
    pub transport: Transport,
    /// Log upload: batch size, buffer size, delivery timeout.
    pub logs: LogSettings,
}

impl ClientConfig {
    /// A Kaatcp client of the SDK profile `sdk_token`, bootstrapping from `bootstrap`, keys in
    /// `state_dir`, with an empty profile and default timings (10 s timeouts, retries after 1 s
    /// backing off to 30 s, keepalive 200 s as the Java SDK); change the fields for anything
    /// else.
    pub fn new(
        bootstrap: Vec<BootstrapServer>,
        sdk_token: impl Into<String>,
        state_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            bootstrap,
            sdk_token: sdk_token.into(),
            profile: Vec::new(),
            state_dir: state_dir.into(),
            access_token: String::new(),
            timeout: Duration::from_secs(10),
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(30),
            keep_alive: 200,
            tls: None,
            transport: Transport::Tcp,
            logs: LogSettings::default(),
        }
    }
}

/// What the application asks of the client.
#[derive(Debug)]
enum Command {
    Subscribe(i64),
    Unsubscribe(i64),
    Profile(Vec<u8>),
}

/// A running endpoint client.
pub struct KaaClient {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    stop: CancellationToken,
    task: JoinHandle<()>,
    key_hash: [u8; 20],
    stored_configuration: Option<Vec<u8>>,
    logs: Arc<SharedLogs>,
    owner: Arc<SharedOwner>,
}

impl KaaClient {
    /// Loads (or creates) the endpoint's keys, loads the configuration kept by an earlier run
    /// and starts connecting in the background.
    pub fn start(config: ClientConfig) -> Result<Self, SdkError> {
        let keys = EndpointKeys::load_or_create(&config.state_dir)?;
        let key_hash = *keys.key_hash();
        let configurations = ConfigurationStore::new(&config.state_dir);
        let stored = configurations.load()?;
        let logs = SharedLogs::new(LogBuffer::open(
            &config.state_dir.join("logs"),
            config.logs.clone(),
        )?);
        let owner = SharedOwner::new();
        let (commands_tx, commands_rx) = mpsc::channel(16);
        let (events_tx, events_rx) = mpsc::channel(256);
        let stop = CancellationToken::new();
        let runner = Runner {
            state: State {
                profile: config.profile.clone(),
                configuration_hash: stored
                    .as_ref()
                    .map(|stored| stored.hash.to_vec())
                    .unwrap_or_default(),
                ..State::default()
            },
            configurations,
            failures: 0,
            sessions: 0,
            uploader: Uploader::new(
                logs.clone(),
                config.logs.delivery_timeout,
                config.retry_delay,
            ),
            owner: owner.clone(),
            config,
            keys,
            events: events_tx,
            commands: commands_rx,
            stop: stop.clone(),
        };
        let task = tokio::spawn(runner.run());
        Ok(Self {
            commands: commands_tx,
            events: events_rx,
            stop,
            task,
            key_hash,
            stored_configuration: stored.map(|stored| stored.body),
            logs,
            owner,
        })
    }

    /// Stores a log record (Avro binary of the SDK profile's log schema) in the endpoint's
    /// persistent buffer and returns its id; the client uploads it and reports its fate as
    /// [`Event::LogsDelivered`] or [`Event::LogsFailed`] (then retries). Fails when the buffer
    /// is full ([`SdkError::LogBufferFull`]) or cannot be written.
    pub fn log(&self, record: Vec<u8>) -> Result<u64, SdkError> {
        self.logs.append(record)
    }

    /// Attaches this endpoint to owner `user_external_id`, proven by `user_access_token` through
    /// the application's user verifier `verifier_token` (`None`: the SDK profile's default).
    /// The answer comes as [`Event::AttachedToOwner`] or [`Event::OwnerAttachFailed`].
    pub fn attach_to_owner(
        &self,
        verifier_token: Option<String>,
        user_external_id: String,
        user_access_token: String,
    ) -> Result<(), SdkError> {
        self.running()?;
        self.owner.update(|pending| {
            pending.attach_to_owner(UserAttachRequest {
                user_verifier_id: verifier_token.unwrap_or_default(),
                user_external_id,
                user_access_token,
            })
        });
        Ok(())
    }

    /// Attaches the endpoint with access token `endpoint_access_token` to this endpoint's owner;
    /// returns the request id [`Event::EndpointAttached`] answers.
    pub fn attach_endpoint(&self, endpoint_access_token: String) -> Result<i32, SdkError> {
        self.running()?;
        Ok(self
            .owner
            .update(|pending| pending.attach_endpoint(endpoint_access_token)))
    }

    /// Detaches the endpoint with key hash `endpoint_key_hash` (Base64) from this endpoint's
    /// owner; returns the request id [`Event::EndpointDetached`] answers.
    pub fn detach_endpoint(&self, endpoint_key_hash: String) -> Result<i32, SdkError> {
        self.running()?;
        Ok(self
            .owner
            .update(|pending| pending.detach_endpoint(endpoint_key_hash)))
    }

    /// Sends an event of class `fqn` (Avro binary `data`) to endpoint `target` (key hash,
    /// Base64) or, with `None`, to every other endpoint of the owner that receives the class.
    /// Events go in the order sent, at least once.
    pub fn send_event(
        &self,
        fqn: String,
        data: Vec<u8>,
        target: Option<String>,
    ) -> Result<(), SdkError> {
        self.running()?;
        self.owner
            .update(|pending| pending.send_event(fqn, data, target));
        Ok(())
    }

    /// Asks which endpoints of the owner receive every class in `fqns`; returns the request id
    /// [`Event::Listeners`] answers.
    pub fn find_listeners(&self, fqns: Vec<String>) -> Result<i32, SdkError> {
        self.running()?;
        Ok(self.owner.update(|pending| pending.find_listeners(fqns)))
    }

    fn running(&self) -> Result<(), SdkError> {
        if self.stop.is_cancelled() || self.task.is_finished() {
            return Err(SdkError::Refused("the client has stopped".into()));
        }
        Ok(())
    }

    /// The configuration the endpoint kept from its last run (Avro binary of the configuration
    /// schema), which it holds until the server sends another; `None` on a first start.
    pub fn stored_configuration(&self) -> Option<&[u8]> {
        self.stored_configuration.as_deref()
    }

    /// The endpoint's key hash (its identity on the server).
    pub fn key_hash(&self) -> &[u8; 20] {
        &self.key_hash
    }

    /// The next event; `None` after [`KaaClient::stop`].
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Subscribes to an optional topic.
    pub async fn subscribe(&self, topic_id: i64) {
        let _ = self.commands.send(Command::Subscribe(topic_id)).await;
    }

    /// Unsubscribes from an optional topic.
    pub async fn unsubscribe(&self, topic_id: i64) {
        let _ = self.commands.send(Command::Unsubscribe(topic_id)).await;
    }

    /// Replaces the client profile (Avro binary) and sends it.
    pub async fn set_profile(&self, profile: Vec<u8>) {
        let _ = self.commands.send(Command::Profile(profile)).await;
    }

    /// Closes the session (DISCONNECT) and stops.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// What the endpoint holds across sessions.
#[derive(Default)]
struct State {
    profile: Vec<u8>,
    configuration_hash: Vec<u8>,
    topic_list_hash: i32,
    topic_states: BTreeMap<i64, i32>,
    accepted_unicasts: Vec<String>,
    next_request_id: i32,
}

struct Runner {
    config: ClientConfig,
    configurations: ConfigurationStore,
    /// Failures in a row, for the back-off.
    failures: u32,
    /// Sessions established so far.
    sessions: u64,
    uploader: Uploader,
    owner: Arc<SharedOwner>,
    keys: EndpointKeys,
    state: State,
    events: mpsc::Sender<Event>,
    commands: mpsc::Receiver<Command>,
    stop: CancellationToken,
}

/// Why a session ended.
enum End {
    Stopped,
    Failed(SdkError),
}

impl Runner {
    async fn run(mut self) {
        while !self.stop.is_cancelled() {
            let Some(servers) = self.bootstrap().await else {
                if self.pause().await {
                    return;
                }
                continue;
            };
            let transport = self.config.transport;
            let mut queue: VecDeque<&OperationsServer> = servers
                .iter()
                .filter(|s| s.transport == transport)
                .collect();
            if queue.is_empty() {
                self.error(format!(
                    "the bootstrap servers list no Operations server speaking {transport:?}"
                ))
                .await;
                if self.pause().await {
                    return;
                }
            }
            let mut redirects = 0;
            while let Some(server) = queue.pop_front() {
                let sessions_before = self.sessions;
                let ended = match transport {
                    Transport::Tcp => self.session(server).await,
                    Transport::Http => self.http_session(server).await,
                };
                match ended {
                    End::Stopped => return,
                    End::Failed(SdkError::Redirected(access_point))
                        if redirects < servers.len() =>
                    {
                        // The server is overloaded and names a less loaded one: go there at once.
                        let target = servers.iter().find(|s| {
                            s.transport == transport && s.access_point_id == access_point
                        });
                        let Some(target) = target else {
                            tracing::warn!(access_point, "redirected to an unknown access point");
                            continue;
                        };
                        redirects += 1;
                        tracing::info!(from = %server.address(), to = %target.address(), "redirected");
                        let _ = self.events.send(Event::Redirected(target.address())).await;
                        queue.push_front(target);
                    }
                    End::Failed(error) => {
                        tracing::info!(server = %server.address(), %error, "session ended");
                        self.error(format!(
                            "server {}: {}",
                            server.address(),
                            self.explain(&error)
                        ))
                        .await;
                        let _ = self
                            .events
                            .send(Event::Disconnected(error.to_string()))
                            .await;
                        if self.sessions > sessions_before {
                            // A server that served this endpoint went away (it died, or its
                            // network did): every other server of the list gets a turn before
                            // the bootstrap servers are asked again, starting after this one.
                            let at = servers.iter().position(|s| std::ptr::eq(s, server));
                            let (after, before) = servers.split_at(at.map_or(0, |i| i + 1));
                            queue = after
                                .iter()
                                .chain(before)
                                .filter(|s| s.transport == transport && !std::ptr::eq(*s, server))
                                .collect();
                        }
                        if self.pause().await {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Waits before the next attempt, longer after each failure in a row; true if the client
    /// was stopped meanwhile.
    async fn pause(&mut self) -> bool {
        let delay = backoff(&self.config, self.failures);
        self.failures = self.failures.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            _ = self.stop.cancelled() => true,
        }
    }

    /// Tells the application about a failure (the client goes on retrying).
    async fn error(&self, message: String) {
        tracing::warn!(error = %message, "endpoint client failure");
        let _ = self.events.send(Event::Error(message)).await;
    }

    /// `error` for people: a refusal names the SDK token the client presented.
    fn explain(&self, error: &SdkError) -> String {
        match error {
            SdkError::Refused(_) => format!("{error} (SDK token {})", self.config.sdk_token),
            other => other.to_string(),
        }
    }

    /// A session is up with `address`: the back-off starts over.
    async fn connected(&mut self, address: String) {
        self.failures = 0;
        self.sessions += 1;
        let _ = self.events.send(Event::Connected(address)).await;
    }

    /// Asks the bootstrap servers in turn for the Operations servers, over HTTP when the client
    /// runs over HTTP and the server has an HTTP address; every failure is reported.
    async fn bootstrap(&self) -> Option<Vec<OperationsServer>> {
        if self.config.bootstrap.is_empty() {
            self.error("no bootstrap server configured".into()).await;
        }
        for server in &self.config.bootstrap {
            if let Some(key) = &server.public_key
                && let Err(error) = PublicKey::from_der(key)
            {
                self.error(format!(
                    "bootstrap server {}: bad public key ({error}): not the X.509 DER of an RSA key",
                    server.address
                ))
                .await;
                continue;
            }
            let over_http = match (
                self.config.transport,
                &server.http_address,
                &server.public_key,
            ) {
                (Transport::Http, Some(address), Some(key)) => Some((address, key)),
                _ => None,
            };
            let (address, answer) = match over_http {
                Some((address, key)) => (
                    address,
                    fetch_servers_http(
                        address,
                        key,
                        &self.keys,
                        &self.config.sdk_token,
                        self.config.timeout,
                    )
                    .await,
                ),
                None => {
                    let security = match &server.public_key {
                        Some(key) => Security::Encrypted {
                            server_key: key,
                            endpoint: &self.keys,
                        },
                        None => Security::Plain,
                    };
                    let answer = fetch_servers(
                        &server.address,
                        security,
                        &self.config.sdk_token,
                        self.config.timeout,
                    )
                    .await;
                    (&server.address, answer)
                }
            };
            match answer {
                Ok(list) if !list.is_empty() => return Some(list),
                Ok(_) => {
                    self.error(format!(
                        "bootstrap server {address} listed no Operations server"
                    ))
                    .await;
                }
                Err(error) => {
                    self.error(format!(
                        "bootstrap server {address}: {}",
                        self.explain(&error)
                    ))
                    .await;
                }
            }
        }
        None
    }

    async fn session(&mut self, server: &OperationsServer) -> End {
        self.uploader.session_ended();
        self.owner.pending().session_ended();
        let logs = self.uploader.logs().clone();
        let owner = self.owner.clone();
        let first = self.full_request();
        let security = Security::Encrypted {
            server_key: &server.public_key,
            endpoint: &self.keys,
        };
        let connected = Channel::connect(
            &server.address(),
            self.config.tls.as_ref(),
            security,
            self.config.keep_alive,
            &first,
            self.config.timeout,
        )
        .await;
        let (mut channel, response) = match connected {
            Ok(connected) => connected,
            Err(error) => return End::Failed(error),
        };
        self.connected(server.address()).await;
        if let Err(error) = self.absorb_over(&mut channel, response).await {
            return End::Failed(error);
        }
        let mut ping = tokio::time::interval(Duration::from_secs(
            u64::from(self.config.keep_alive / 2).max(1),
        ));
        ping.tick().await;
        // The oldest ping not yet followed by bytes from the server: a cut network sends no
        // FIN, so a server silent for the network timeout after a ping is taken for dead (left
        // within keepalive/2 + timeout of going silent).
        let mut unanswered: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => {
                    channel.close().await;
                    return End::Stopped;
                }
                _ = ping.tick() => {
                    if let Err(error) = channel.ping().await {
                        return End::Failed(error);
                    }
                    if unanswered.is_none_or(|sent| channel.last_read() >= sent) {
                        unanswered = Some(tokio::time::Instant::now());
                    }
                }
                _ = until(unanswered.map(|sent| sent + self.config.timeout)) => {
                    if unanswered.is_some_and(|sent| channel.last_read() < sent) {
                        return End::Failed(SdkError::Timeout("PINGRESP"));
                    }
                    unanswered = None;
                }
                Some(command) = self.commands.recv() => {
                    let request = self.command_request(command);
                    if let Err(error) = channel.send(&request).await {
                        return End::Failed(error);
                    }
                }
                _ = logs.appended() => {
                    if let Some(request) = self.next_request()
                        && let Err(error) = channel.send(&request).await
                    {
                        return End::Failed(error);
                    }
                }
                _ = owner.changed() => {
                    if let Some(request) = self.next_request()
                        && let Err(error) = channel.send(&request).await
                    {
                        return End::Failed(error);
                    }
                }
                _ = until(self.uploader.deadline()) => {
                    self.log_deadline().await;
                    if let Some(request) = self.next_request()
                        && let Err(error) = channel.send(&request).await
                    {
                        return End::Failed(error);
                    }
                }
                received = channel.receive() => {
                    let outcome = match received {
                        Ok(response) => self.absorb_over(&mut channel, response).await,
                        Err(error) => Err(error),
                    };
                    if let Err(error) = outcome {
                        return End::Failed(error);
                    }
                }
            }
        }
    }

    /// Takes in a response on a Kaatcp session, sending the follow-up request if there is one.
    async fn absorb_over(
        &mut self,
        channel: &mut Channel,
        response: SyncResponse,
    ) -> Result<(), SdkError> {
        match self.absorb(response).await? {
            Some(request) => channel.send(&request).await,
            None => Ok(()),
        }
    }

    /// A session over HTTP: the full request, then long polls (`/EP/LongSync`) that the server
    /// answers when it has news, with commands sent as they come (`/EP/Sync`).
    async fn http_session(&mut self, server: &OperationsServer) -> End {
        self.uploader.session_ended();
        self.owner.pending().session_ended();
        let logs = self.uploader.logs().clone();
        let owner = self.owner.clone();
        let address = server.address();
        let mut request = self.full_request();
        let mut announced = false;
        loop {
            let answered_at_once = request.profile_sync_request.is_some()
                || request.log_sync_request.is_some()
                || request.user_sync_request.is_some()
                || request.event_sync_request.is_some();
            let path = if answered_at_once {
                http::Path::Sync
            } else {
                http::Path::LongSync
            };
            let exchange = http::sync(
                &address,
                path,
                &server.public_key,
                &self.keys,
                &request,
                self.config.timeout * 2,
            );
            let response = tokio::select! {
                _ = self.stop.cancelled() => return End::Stopped,
                Some(command) = self.commands.recv() => {
                    request = self.command_request(command);
                    continue;
                }
                _ = logs.appended() => {
                    if let Some(next) = self.next_request() {
                        request = next;
                    }
                    continue;
                }
                _ = owner.changed() => {
                    if let Some(next) = self.next_request() {
                        request = next;
                    }
                    continue;
                }
                _ = until(self.uploader.deadline()) => {
                    self.log_deadline().await;
                    if let Some(next) = self.next_request() {
                        request = next;
                    }
                    continue;
                }
                response = exchange => response,
            };
            let response = match response {
                Ok(response) => response,
                Err(error) => return End::Failed(error),
            };
            if !announced {
                announced = true;
                self.connected(address.clone()).await;
            }
            request = match self.absorb(response).await {
                Ok(Some(follow_up)) => follow_up,
                Ok(None) => self.poll_request(),
                Err(error) => return End::Failed(error),
            };
        }
    }

    /// A long-poll request: what the endpoint holds, so the server answers when that changes.
    fn poll_request(&mut self) -> SyncRequest {
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

    /// A request carrying what is due: the next log batch, and the owner and event work the
    /// application queued; `None` when nothing is.
    fn next_request(&mut self) -> Option<SyncRequest> {
        let logs = self.uploader.next(tokio::time::Instant::now());
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

    /// A log deadline passed: a batch that got no status in time is reported failed.
    async fn log_deadline(&mut self) {
        if let Some(delivery) = self.uploader.on_deadline(tokio::time::Instant::now()) {
            self.report(delivery).await;
        }
    }

    async fn report(&self, delivery: Delivery) {
        let event = match delivery {
            Delivery::Delivered { first, last } => Event::LogsDelivered { first, last },
            Delivery::Failed { first, last, code } => Event::LogsFailed { first, last, code },
        };
        let _ = self.events.send(event).await;
    }

    fn request_id(&mut self) -> i32 {
        self.state.next_request_id += 1;
        self.state.next_request_id
    }

    fn meta(&self) -> SyncRequestMetaData {
        SyncRequestMetaData {
            sdk_token: self.config.sdk_token.clone(),
            endpoint_public_key_hash: Some(self.keys.key_hash().to_vec()),
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
                endpoint_public_key: Some(self.keys.public_der().to_vec()),
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

    fn command_request(&mut self, command: Command) -> SyncRequest {
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

    /// Takes in a response: events for the application and state for the next request; returns
    /// the request to send next: the full profile when the server asks for it, else the next log
    /// batch when one is due.
    async fn absorb(&mut self, response: SyncResponse) -> Result<Option<SyncRequest>, SdkError> {
        match response.status {
            SyncResponseResultType::ProfileResync => return Ok(Some(self.full_request())),
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
        let statuses = response
            .log_sync_response
            .as_ref()
            .and_then(|logs| logs.delivery_statuses.as_deref());
        if let Some(statuses) = statuses {
            let now = tokio::time::Instant::now();
            for delivery in self.uploader.on_statuses(statuses, now)? {
                self.report(delivery).await;
            }
        }
        let owner_events = self.owner.pending().absorb(
            response.request_id,
            response.user_sync_response,
            response.event_sync_response,
        );
        for event in owner_events {
            let _ = self.events.send(event).await;
        }
        if let Some(configuration) = response.configuration_sync_response
            && configuration.response_status != SyncResponseStatus::NoDelta
            && let Some(body) = configuration.conf_delta_body
        {
            self.state.configuration_hash = sha1(&body).to_vec();
            if let Err(error) = self.configurations.save(body.clone()) {
                self.error(format!("cannot keep the configuration: {error}"))
                    .await;
            }
            let _ = self.events.send(Event::Configuration(body)).await;
        }
        if let Some(notifications) = response.notification_sync_response {
            if let Some(topics) = notifications.available_topics {
                self.state.topic_list_hash = topic_list_hash(topics.iter().map(|t| t.id));
                let _ = self.events.send(Event::Topics(topics)).await;
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
                let _ = self
                    .events
                    .send(Event::Notification {
                        topic_id: notification.topic_id,
                        seq_number: notification.seq_number,
                        uid: notification.uid,
                        body: notification.body,
                    })
                    .await;
            }
        }
        // The next log batch and queued events go as soon as the last ones are settled.
        Ok(self.next_request())
    }
}

/// The pause after `failures` failures in a row: `retry_delay`, doubling with each failure, at
/// most `max_retry_delay`.
fn backoff(config: &ClientConfig, failures: u32) -> Duration {
    config
        .retry_delay
        .saturating_mul(1 << failures.min(16))
        .min(config.max_retry_delay.max(config.retry_delay))
}

/// Resolves at `deadline`, or never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_after_each_failure_up_to_the_longest() {
        let config = ClientConfig {
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(1),
            ..ClientConfig::new(Vec::new(), "sdk", "state")
        };
        let pauses: Vec<u128> = (0..5).map(|n| backoff(&config, n).as_millis()).collect();
        assert_eq!(pauses, [200, 400, 800, 1000, 1000]);
        assert_eq!(backoff(&config, u32::MAX), Duration::from_secs(1));
    }
}
