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
//!
//! The task is split in two. What to do — which server next, what each request carries, what an
//! answer means, when a silent server is dead — is decided by a state machine without I/O
//! (`engine.rs`, unit-tested rule by rule without servers). The `Runner` here is the shell
//! around it: it owns the sockets, the timers, the configuration file and the event channel,
//! feeds the engine each answer, command, timer and failure, and carries out the events,
//! requests and writes the engine returns, in the order it returns them.

use std::sync::Arc;

use kaa_idl::endpoint::sync::{SyncRequest, SyncResponse, UserAttachRequest};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::SdkError;
use crate::bootstrap::{OperationsServer, Transport, fetch_servers, fetch_servers_http};
use crate::channel::{Channel, Security};
pub use crate::client_config::{BootstrapServer, ClientConfig};
use crate::configuration::ConfigurationStore;
use crate::engine::{BootstrapAsk, Command, Effect, Engine, Next, Reaction, failure, http_path};
pub use crate::event::Event;
use crate::http;
use crate::keys::EndpointKeys;
use crate::logs::{LogBuffer, SharedLogs};
use crate::owner::SharedOwner;

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
        let configuration_hash = stored
            .as_ref()
            .map(|stored| stored.hash.to_vec())
            .unwrap_or_default();
        let runner = Runner {
            engine: Engine::new(
                config,
                key_hash,
                keys.public_der().to_vec(),
                configuration_hash,
                logs.clone(),
                owner.clone(),
            ),
            configurations,
            logs: logs.clone(),
            owner: owner.clone(),
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

/// The shell around the [`Engine`]: it owns the connection, the timers, the state files and the
/// event channel, feeds the engine what happens and carries out what it decides.
struct Runner {
    engine: Engine,
    configurations: ConfigurationStore,
    logs: Arc<SharedLogs>,
    owner: Arc<SharedOwner>,
    keys: EndpointKeys,
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
        let mut next = Next::NewRound;
        loop {
            let plan = match next {
                Next::NewRound => {
                    if self.stop.is_cancelled() {
                        return;
                    }
                    self.engine.new_round()
                }
                Next::Ask(ask) => {
                    let answer = self.ask(&ask).await;
                    self.engine.bootstrap_answered(answer)
                }
                Next::Connect(server) => {
                    let ended = match self.engine.config().transport {
                        Transport::Tcp => self.session(&server).await,
                        Transport::Http => self.http_session(&server).await,
                    };
                    match ended {
                        End::Stopped => return,
                        End::Failed(error) => self.engine.session_ended(error),
                    }
                }
                Next::Pause(delay) => {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.cancelled() => return,
                    }
                    self.engine.resumed()
                }
            };
            for event in plan.events {
                self.emit(event).await;
            }
            next = plan.next;
        }
    }

    async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }

    /// Asks one bootstrap server for the Operations servers.
    async fn ask(&self, ask: &BootstrapAsk) -> Result<Vec<OperationsServer>, SdkError> {
        let config = self.engine.config();
        match ask {
            BootstrapAsk::Http {
                address,
                public_key,
            } => {
                fetch_servers_http(
                    address,
                    public_key,
                    &self.keys,
                    &config.sdk_token,
                    config.timeout,
                )
                .await
            }
            BootstrapAsk::Kaatcp {
                address,
                public_key,
            } => {
                let security = match public_key {
                    Some(key) => Security::Encrypted {
                        server_key: key,
                        endpoint: &self.keys,
                    },
                    None => Security::Plain,
                };
                fetch_servers(address, security, &config.sdk_token, config.timeout).await
            }
        }
    }

    /// Carries out a reaction's effects in order; returns its request.
    async fn carry_out(&self, reaction: Reaction) -> Option<SyncRequest> {
        for effect in reaction.effects {
            match effect {
                Effect::Emit(event) => self.emit(event).await,
                Effect::SaveConfiguration(body) => {
                    if let Err(error) = self.configurations.save(body) {
                        self.emit(failure(format!("cannot keep the configuration: {error}")))
                            .await;
                    }
                }
            }
        }
        reaction.request
    }

    /// A session over Kaatcp: the full request opens it, then requests go as the application
    /// and the engine make them, answers and pushes come as the server sends them, and pings
    /// keep it (and check the server is alive).
    async fn session(&mut self, server: &OperationsServer) -> End {
        let logs = self.logs.clone();
        let owner = self.owner.clone();
        let first = self.engine.open_session();
        let security = Security::Encrypted {
            server_key: &server.public_key,
            endpoint: &self.keys,
        };
        let config = self.engine.config();
        let connected = Channel::connect(
            &server.address(),
            config.tls.as_ref(),
            security,
            config.keep_alive,
            &first,
            config.timeout,
        )
        .await;
        let (mut channel, response) = match connected {
            Ok(connected) => connected,
            Err(error) => return End::Failed(error),
        };
        let event = self.engine.connected(server.address());
        self.emit(event).await;
        if let Err(error) = self.answer(&mut channel, response).await {
            return End::Failed(error);
        }
        let mut ping = tokio::time::interval(self.engine.ping_interval());
        ping.tick().await;
        loop {
            let sent = tokio::select! {
                _ = self.stop.cancelled() => {
                    channel.close().await;
                    return End::Stopped;
                }
                _ = ping.tick() => {
                    let sent = channel.ping().await;
                    if sent.is_ok() {
                        self.engine.pinged(Instant::now(), channel.last_read());
                    }
                    sent
                }
                _ = until(self.engine.ping_deadline()) => {
                    self.engine.ping_deadline_passed(channel.last_read())
                }
                Some(command) = self.commands.recv() => {
                    let request = self.engine.command(command);
                    channel.send(&request).await
                }
                _ = logs.appended() => self.send_due(&mut channel).await,
                _ = owner.changed() => self.send_due(&mut channel).await,
                _ = until(self.engine.log_deadline()) => {
                    let reaction = self.engine.log_deadline_passed(Instant::now());
                    match self.carry_out(reaction).await {
                        Some(request) => channel.send(&request).await,
                        None => Ok(()),
                    }
                }
                received = channel.receive() => match received {
                    Ok(response) => self.answer(&mut channel, response).await,
                    Err(error) => Err(error),
                },
            };
            if let Err(error) = sent {
                return End::Failed(error);
            }
        }
    }

    /// Sends what is due on a Kaatcp session, if anything is.
    async fn send_due(&mut self, channel: &mut Channel) -> Result<(), SdkError> {
        match self.engine.due(Instant::now()) {
            Some(request) => channel.send(&request).await,
            None => Ok(()),
        }
    }

    /// Takes in a response on a Kaatcp session, sending the follow-up request if there is one.
    async fn answer(
        &mut self,
        channel: &mut Channel,
        response: SyncResponse,
    ) -> Result<(), SdkError> {
        let reaction = self.engine.response(response, Instant::now())?;
        match self.carry_out(reaction).await {
            Some(request) => channel.send(&request).await,
            None => Ok(()),
        }
    }

    /// A session over HTTP: the full request, then long polls (`/EP/LongSync`) that the server
    /// answers when it has news, with commands sent as they come (`/EP/Sync`).
    async fn http_session(&mut self, server: &OperationsServer) -> End {
        let logs = self.logs.clone();
        let owner = self.owner.clone();
        let address = server.address();
        let mut request = self.engine.open_session();
        let mut announced = false;
        loop {
            let exchange = http::sync(
                &address,
                http_path(&request),
                &server.public_key,
                &self.keys,
                &request,
                self.engine.config().timeout * 2,
            );
            let response = tokio::select! {
                _ = self.stop.cancelled() => return End::Stopped,
                Some(command) = self.commands.recv() => {
                    request = self.engine.command(command);
                    continue;
                }
                _ = logs.appended() => {
                    if let Some(next) = self.engine.due(Instant::now()) {
                        request = next;
                    }
                    continue;
                }
                _ = owner.changed() => {
                    if let Some(next) = self.engine.due(Instant::now()) {
                        request = next;
                    }
                    continue;
                }
                _ = until(self.engine.log_deadline()) => {
                    let reaction = self.engine.log_deadline_passed(Instant::now());
                    if let Some(next) = self.carry_out(reaction).await {
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
                let event = self.engine.connected(address.clone());
                self.emit(event).await;
            }
            let reaction = match self.engine.response(response, Instant::now()) {
                Ok(reaction) => reaction,
                Err(error) => return End::Failed(error),
            };
            request = match self.carry_out(reaction).await {
                Some(follow_up) => follow_up,
                None => self.engine.poll_request(),
            };
        }
    }
}

/// Resolves at `deadline`, or never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
