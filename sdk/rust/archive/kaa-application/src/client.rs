//! The typed client: the `kaa-sdk` runtime's [`KaaClient`] with the application's types, so
//! the application sets a [`Profile`], logs [`LogRecord`]s, sends event classes and reads
//! [`ClientEvent`]s carrying a decoded [`Configuration`], [`Notification`]s and incoming events,
//! and never handles Avro bytes.
//!
//! [`baked_in_config`] builds the runtime's settings from [`properties`](crate::properties)
//! (SDK token, bootstrap servers); change its fields (transport, timeouts, the bootstrap list)
//! before [`Client::start`] to run differently.

use std::path::PathBuf;

use base64::Engine as _;
use kaa_sdk::SdkError;
use kaa_sdk::avro::{AvroError, AvroRecord, EventClass};
use kaa_sdk::client::{self, BootstrapServer, ClientConfig, KaaClient};
use kaa_sdk::idl::endpoint::sync::{LogDeliveryErrorCode, Topic, UserAttachErrorCode};

use crate::events::IncomingEvent;
use crate::{Configuration, LogRecord, Notification, Profile, properties};

/// The runtime's settings for this SDK: the baked-in SDK token and bootstrap servers, keys,
/// configuration and log buffer in `state_dir`, Kaatcp sessions and default timings.
pub fn baked_in_config(state_dir: impl Into<PathBuf>) -> ClientConfig {
    let bootstrap = properties::BOOTSTRAP_SERVERS
        .iter()
        .map(|server| {
            let tcp = server.tcp_port.or(server.http_port).unwrap_or_default();
            BootstrapServer {
                address: format!("{}:{tcp}", server.host),
                http_address: server.http_port.map(|port| format!("{}:{port}", server.host)),
                // A key that is not Base64 is passed on empty: the client reports it as damaged
                // each time it tries that server.
                public_key: Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(server.public_key)
                        .unwrap_or_default(),
                ),
            }
        })
        .collect();
    ClientConfig::new(bootstrap, properties::SDK_TOKEN, state_dir)
}

/// What the client tells the application, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A session is up with this server (`host:port`).
    Connected(String),
    /// The session ended; the client reconnects.
    Disconnected(String),
    /// A failure (a server unreachable or refusing, a damaged key, a value that does not
    /// decode); the client goes on retrying with back-off.
    Error(String),
    /// A configuration from the server (also kept for the next start).
    Configuration(Configuration),
    /// A notification on topic `topic_id`.
    Notification {
        /// The topic's id.
        topic_id: i64,
        /// The notification.
        notification: Notification,
    },
    /// The topics offered to the endpoint.
    Topics(Vec<Topic>),
    /// The server stored log records `first..=last` (ids from [`Client::log`]).
    LogsDelivered {
        /// First record id.
        first: u64,
        /// Last record id.
        last: u64,
    },
    /// Log records `first..=last` were not stored; the client sends them again.
    LogsFailed {
        /// First record id.
        first: u64,
        /// Last record id.
        last: u64,
        /// The server's reason, if it gave one.
        code: Option<LogDeliveryErrorCode>,
    },
    /// An event from another endpoint of the owner.
    Event {
        /// The event.
        event: IncomingEvent,
        /// The sender's key hash (Base64).
        source: Option<String>,
    },
    /// The endpoint was attached to owner `user_external_id`.
    AttachedToOwner {
        /// The owner's external id.
        user_external_id: String,
    },
    /// The endpoint's attach was refused.
    OwnerAttachFailed {
        /// Why, as the server says.
        code: Option<UserAttachErrorCode>,
        /// The server's explanation.
        reason: Option<String>,
    },
    /// Anything else the runtime reports (redirects, endpoint attach answers, listeners).
    Other(client::Event),
}

/// A running typed endpoint client.
pub struct Client {
    runtime: KaaClient,
}

impl Client {
    /// Starts the client with `config` (see [`baked_in_config`]) and `profile`.
    pub fn start(mut config: ClientConfig, profile: &Profile) -> Result<Self, SdkError> {
        config.profile = profile.to_avro();
        Ok(Self {
            runtime: KaaClient::start(config)?,
        })
    }

    /// The configuration kept from the last run, until the server sends another; `None` on a
    /// first start (or when it does not decode with this SDK's schema).
    pub fn stored_configuration(&self) -> Option<Configuration> {
        Configuration::from_avro(self.runtime.stored_configuration()?).ok()
    }

    /// The configuration the SDK was generated with, the one to use before the server sent one.
    pub fn default_configuration() -> Option<Configuration> {
        Configuration::from_avro(properties::DEFAULT_CONFIGURATION?).ok()
    }

    /// The endpoint's key hash (SHA-1 of its public key): its identity on the server.
    pub fn key_hash(&self) -> &[u8; 20] {
        self.runtime.key_hash()
    }

    /// The next event; `None` after [`Client::stop`].
    pub async fn next_event(&mut self) -> Option<ClientEvent> {
        let event = self.runtime.next_event().await?;
        Some(typed(event))
    }

    /// Stores `record` in the persistent log buffer and returns its id; its delivery comes as
    /// [`ClientEvent::LogsDelivered`].
    pub fn log(&self, record: &LogRecord) -> Result<u64, SdkError> {
        self.runtime.log(record.to_avro())
    }

    /// Replaces the client profile and sends it.
    pub async fn set_profile(&self, profile: &Profile) {
        self.runtime.set_profile(profile.to_avro()).await;
    }

    /// Sends `event` to endpoint `target` (key hash, Base64) or, with `None`, to every other
    /// endpoint of the owner that receives its class.
    pub fn send_event<E: EventClass>(&self, event: &E, target: Option<String>) -> Result<(), SdkError> {
        self.runtime.send_event(E::FQN.to_string(), event.to_avro(), target)
    }

    /// Subscribes to an optional topic.
    pub async fn subscribe(&self, topic_id: i64) {
        self.runtime.subscribe(topic_id).await;
    }

    /// Unsubscribes from an optional topic.
    pub async fn unsubscribe(&self, topic_id: i64) {
        self.runtime.unsubscribe(topic_id).await;
    }

    /// Attaches the endpoint to owner `user_external_id`, proven by `user_access_token` through
    /// the SDK profile's default user verifier.
    pub fn attach_to_owner(
        &self,
        user_external_id: String,
        user_access_token: String,
    ) -> Result<(), SdkError> {
        self.runtime.attach_to_owner(
            properties::DEFAULT_VERIFIER_TOKEN.map(str::to_string),
            user_external_id,
            user_access_token,
        )
    }

    /// The runtime client, for what this wrapper does not cover (endpoint attach, listeners).
    pub fn runtime(&self) -> &KaaClient {
        &self.runtime
    }

    /// Closes the session and stops.
    pub async fn stop(self) {
        self.runtime.stop().await;
    }
}

/// The runtime's event with its bytes decoded.
fn typed(event: client::Event) -> ClientEvent {
    let undecodable = |what: &str, error: AvroError| {
        ClientEvent::Error(format!("{what} does not decode with this SDK's schema: {error}"))
    };
    match event {
        client::Event::Connected(address) => ClientEvent::Connected(address),
        client::Event::Disconnected(reason) => ClientEvent::Disconnected(reason),
        client::Event::Error(message) => ClientEvent::Error(message),
        client::Event::Configuration(body) => match Configuration::from_avro(&body) {
            Ok(configuration) => ClientEvent::Configuration(configuration),
            Err(error) => undecodable("the configuration", error),
        },
        client::Event::Notification { topic_id, body, .. } => match Notification::from_avro(&body) {
            Ok(notification) => ClientEvent::Notification {
                topic_id,
                notification,
            },
            Err(error) => undecodable("a notification", error),
        },
        client::Event::Topics(topics) => ClientEvent::Topics(topics),
        client::Event::LogsDelivered { first, last } => ClientEvent::LogsDelivered { first, last },
        client::Event::LogsFailed { first, last, code } => {
            ClientEvent::LogsFailed { first, last, code }
        }
        client::Event::EventReceived { fqn, data, source } => match IncomingEvent::decode(&fqn, &data) {
            Some(Ok(event)) => ClientEvent::Event { event, source },
            Some(Err(error)) => undecodable(&format!("an event of class {fqn}"), error),
            None => ClientEvent::Error(format!("an event of class {fqn}, which this SDK does not receive")),
        },
        client::Event::AttachedToOwner { user_external_id } => {
            ClientEvent::AttachedToOwner { user_external_id }
        }
        client::Event::OwnerAttachFailed { code, reason } => {
            ClientEvent::OwnerAttachFailed { code, reason }
        }
        other => ClientEvent::Other(other),
    }
}
