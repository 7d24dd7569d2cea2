//! The records of the endpoint-data store, the same for every backend.
//!
//! Binary ids are raw bytes: an endpoint is named by its key hash (SHA-1 of its public key, 20
//! bytes), a configuration body by its hash. Application, group, topic and notification ids are the
//! metadata store's id strings. Times are Unix milliseconds.

/// Whether an endpoint may use its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialStatus {
    /// Provisioned; no endpoint has connected with them yet.
    Available,
    /// An endpoint registered with them.
    InUse,
    /// Withdrawn: the endpoint may not connect.
    Revoked,
}

impl CredentialStatus {
    /// Kaa's name of the status, as stored: `AVAILABLE`, `IN_USE` or `REVOKED`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Available => "AVAILABLE",
            Self::InUse => "IN_USE",
            Self::Revoked => "REVOKED",
        }
    }

    /// The status named `name` (see [`CredentialStatus::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "AVAILABLE" => Some(Self::Available),
            "IN_USE" => Some(Self::InUse),
            "REVOKED" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// An endpoint's credentials in one application: its public key and whether it may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Application.
    pub application_id: String,
    /// SHA-1 of the public key.
    pub endpoint_key_hash: Vec<u8>,
    /// The public key (X.509 DER).
    pub public_key: Vec<u8>,
    /// Whether it may be used.
    pub status: CredentialStatus,
}

/// An endpoint's membership of one endpoint group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// The group.
    pub group_id: String,
    /// The profile filter that admitted the endpoint (`None` for the group `all`).
    pub filter_id: Option<String>,
    /// The group's configuration the endpoint's configuration was merged from, if any.
    pub configuration_id: Option<String>,
}

/// A registered endpoint: what it reported, what the server derived from it, and where its
/// session lives.
///
/// Writes are optimistic: [`EndpointStore::save_profile`](super::EndpointStore::save_profile)
/// succeeds only if `version` still equals the stored version (0 for a new endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointProfile {
    /// Application.
    pub application_id: String,
    /// SHA-1 of the public key: the endpoint's id, unique across applications.
    pub endpoint_key_hash: Vec<u8>,
    /// The public key (X.509 DER).
    pub public_key: Vec<u8>,
    /// The token owners attach the endpoint by. Meant to be unique in the application; the store
    /// does not enforce it, and a lookup by a shared token returns any one of its endpoints.
    pub access_token: Option<String>,
    /// Token of the SDK profile the endpoint runs.
    pub sdk_token: String,
    /// Client-profile schema version (0: no client profile).
    pub client_profile_version: i32,
    /// The client profile, Avro binary.
    pub client_profile: Vec<u8>,
    /// SHA-1 of `client_profile`.
    pub profile_hash: Vec<u8>,
    /// Server-profile schema version.
    pub server_profile_version: i32,
    /// The server profile, JSON.
    pub server_profile: String,
    /// The groups the endpoint belongs to.
    pub groups: Vec<GroupState>,
    /// Hash of the endpoint's merged configuration (see
    /// [`EndpointStore::configuration`](super::EndpointStore::configuration)).
    pub configuration_hash: Vec<u8>,
    /// Hash of the endpoint's topic list (see
    /// [`EndpointStore::topic_list`](super::EndpointStore::topic_list)).
    pub topic_hash: i32,
    /// Ids of the optional topics the endpoint subscribed to.
    pub subscriptions: Vec<String>,
    /// Spare: last system notification sequence number delivered.
    pub system_notification_seq: i32,
    /// The owner (user) the endpoint is attached to.
    pub owner_id: Option<String>,
    /// The Operations node holding the endpoint's session.
    pub node_id: Option<String>,
    /// When the endpoint was last heard from.
    pub last_seen_ms: i64,
    /// The stored version this record was read at (0: not stored yet).
    pub version: i64,
}

/// Whether a notification is for the SDK or for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// For the SDK itself.
    System,
    /// For the application on the endpoint.
    User,
}

impl NotificationKind {
    /// Kaa's name of the kind, as stored: `SYSTEM` or `USER`.
    pub fn name(self) -> &'static str {
        match self {
            Self::System => "SYSTEM",
            Self::User => "USER",
        }
    }

    /// The kind named `name` (see [`NotificationKind::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SYSTEM" => Some(Self::System),
            "USER" => Some(Self::User),
            _ => None,
        }
    }
}

/// A notification to every endpoint subscribed to a topic. A topic's notifications are numbered
/// 1, 2, … by the sender (`seq`); an endpoint asks for those after the last it received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Id.
    pub id: String,
    /// Application.
    pub application_id: String,
    /// Topic.
    pub topic_id: String,
    /// Sequence number in the topic; saving another notification with the same number replaces it.
    pub seq: i32,
    /// System or user.
    pub kind: NotificationKind,
    /// Body, Avro binary of the notification schema.
    pub body: Vec<u8>,
    /// After this instant the notification is never returned.
    pub expires_at_ms: i64,
}

/// A notification to one endpoint, kept until the endpoint accepts it or it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastNotification {
    /// Id, unique for the endpoint.
    pub id: String,
    /// The endpoint's key hash.
    pub endpoint_key_hash: Vec<u8>,
    /// The topic it belongs to.
    pub topic_id: String,
    /// System or user.
    pub kind: NotificationKind,
    /// Body, Avro binary of the notification schema.
    pub body: Vec<u8>,
    /// After this instant the notification is never returned.
    pub expires_at_ms: i64,
}

/// A topic list by its hash: endpoints with the same topics share one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListEntry {
    /// The list's hash.
    pub hash: i32,
    /// The topic ids.
    pub topic_ids: Vec<String>,
}

/// An owner's configuration for one application and configuration-schema version: it overrides
/// the merged group configuration of each of the owner's endpoints of that application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfiguration {
    /// The owner (`<tenant id>:<user external id>`).
    pub owner_id: String,
    /// Application id.
    pub app_id: String,
    /// Configuration-schema version it follows.
    pub schema_version: i64,
    /// The JSON document.
    pub body: String,
    /// When it was last written, Unix milliseconds.
    pub updated_ms: i64,
}

impl UserConfiguration {
    /// A stored configuration of `owner_id` for `app_id`, as a backend reads it back.
    pub(crate) fn stored(
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
        body: String,
        updated_ms: i64,
    ) -> Self {
        Self {
            owner_id: owner_id.to_owned(),
            app_id: app_id.to_owned(),
            schema_version,
            body,
            updated_ms,
        }
    }
}
