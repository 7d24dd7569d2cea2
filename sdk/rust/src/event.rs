//! What the client tells the application: connection changes, configuration, notifications,
//! log deliveries, owner changes and events from other endpoints.

use kaa_idl::endpoint::sync::{LogDeliveryErrorCode, Topic, UserAttachErrorCode};

/// What the client tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A session is up with this server (`host:port`).
    Connected(String),
    /// The session ended; the client is reconnecting.
    Disconnected(String),
    /// A failure: a bootstrap server or Operations server unreachable, a refusal, a damaged
    /// key, a state file that cannot be written. The client goes on retrying with back-off.
    Error(String),
    /// The server sent the endpoint to a less loaded server (`host:port`), which it tries next.
    Redirected(String),
    /// The server stored log records `first..=last` (ids from [`KaaClient::log`](crate::client::KaaClient::log)).
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
        /// The server's reason; none when no status came within the delivery timeout.
        code: Option<LogDeliveryErrorCode>,
    },
    /// A new configuration body (Avro binary of the configuration schema).
    Configuration(Vec<u8>),
    /// The topics offered to this endpoint.
    Topics(Vec<Topic>),
    /// A notification: topic id, sequence number (topic notifications) or uid (unicast), body.
    Notification {
        /// Topic id on the wire.
        topic_id: i64,
        /// Sequence number within the topic (topic notifications).
        seq_number: Option<i32>,
        /// Id of a unicast notification.
        uid: Option<String>,
        /// Avro binary body.
        body: Vec<u8>,
    },
    /// The endpoint's own attach ([`KaaClient::attach_to_owner`](crate::client::KaaClient::attach_to_owner)) succeeded.
    AttachedToOwner {
        /// The owner's external id.
        user_external_id: String,
    },
    /// The endpoint's own attach was refused.
    OwnerAttachFailed {
        /// Why, as the server says.
        code: Option<UserAttachErrorCode>,
        /// The server's explanation.
        reason: Option<String>,
    },
    /// Another endpoint attached this one to its owner.
    AttachedByEndpoint {
        /// The owner's external id.
        user_external_id: String,
        /// The access token of the endpoint that did it.
        by_access_token: String,
    },
    /// Another endpoint detached this one from its owner.
    DetachedByEndpoint {
        /// The access token of the endpoint that did it.
        by_access_token: String,
    },
    /// The answer to [`KaaClient::attach_endpoint`](crate::client::KaaClient::attach_endpoint).
    EndpointAttached {
        /// The request id the call returned.
        request_id: i32,
        /// The attached endpoint's key hash (Base64).
        key_hash: Option<String>,
        /// Whether it was attached.
        success: bool,
    },
    /// The answer to [`KaaClient::detach_endpoint`](crate::client::KaaClient::detach_endpoint).
    EndpointDetached {
        /// The request id the call returned.
        request_id: i32,
        /// Whether it was detached.
        success: bool,
    },
    /// An event from another endpoint of the owner.
    EventReceived {
        /// Its event class.
        fqn: String,
        /// Avro binary of the class.
        data: Vec<u8>,
        /// The sender's key hash (Base64).
        source: Option<String>,
    },
    /// The answer to [`KaaClient::find_listeners`](crate::client::KaaClient::find_listeners).
    Listeners {
        /// The request id the call returned.
        request_id: i32,
        /// Key hashes (Base64) of the owner's endpoints that receive every class asked for.
        listeners: Vec<String>,
        /// Whether the server could answer.
        success: bool,
    },
}
