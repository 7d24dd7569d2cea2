//! The messages of one endpoint sync: [`SyncRequest`] (endpoint → server) and [`SyncResponse`]
//! (server → endpoint), Kaa 0.10's `endpoint.avsc` as Rust types.
//!
//! On the wire each is a plain Avro binary datum: no container, no fingerprint, no length prefix.
//! Fields are written in schema order; every optional part is the union `["T", "null"]`, so a
//! present value is branch 0 and `None` is branch 1; arrays are `Vec`, `bytes` are `Vec<u8>` and
//! enums travel as their symbol index. Decoding ignores bytes after the datum, as Kaa's Java reader
//! does, so a frame with padding or garbage at the end still reads as Kaa would read it.
//!
//! Names follow the schema in Rust's case: `syncRequestMetaData` is
//! [`SyncRequest::sync_request_meta_data`], the symbol `PROFILE_RESYNC` is
//! [`SyncResponseResultType::ProfileResync`].

use crate::avro::{AvroError, Reader, Writer};

/// Why a sync message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The bytes are not an Avro `SyncRequest`.
    #[error("malformed SyncRequest: {0}")]
    Request(AvroError),
    /// The bytes are not an Avro `SyncResponse`.
    #[error("malformed SyncResponse: {0}")]
    Response(AvroError),
}

/// A value with a fixed place in the schema: how it is written and read.
trait Datum: Sized {
    fn write(&self, w: &mut Writer);
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError>;
}

impl Datum for i32 {
    fn write(&self, w: &mut Writer) {
        w.int(*self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        r.int()
    }
}

impl Datum for i64 {
    fn write(&self, w: &mut Writer) {
        w.long(*self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        r.long()
    }
}

impl Datum for bool {
    fn write(&self, w: &mut Writer) {
        w.boolean(*self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        r.boolean()
    }
}

impl Datum for String {
    fn write(&self, w: &mut Writer) {
        w.string(self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(r.string()?.to_owned())
    }
}

/// Avro `bytes`.
impl Datum for Vec<u8> {
    fn write(&self, w: &mut Writer) {
        w.bytes(self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(r.bytes()?.to_vec())
    }
}

/// An Avro array of anything but bytes.
impl<T: Datum> Datum for Vec<T> {
    fn write(&self, w: &mut Writer) {
        w.array(self, |w, item| item.write(w));
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        r.array(T::read)
    }
}

/// The union `["T", "null"]`.
impl<T: Datum> Datum for Option<T> {
    fn write(&self, w: &mut Writer) {
        match self {
            Some(value) => {
                w.union_branch(0);
                value.write(w);
            }
            None => w.union_branch(1),
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
        match r.union_branch(2)? {
            0 => Ok(Some(T::read(r)?)),
            _ => Ok(None),
        }
    }
}

/// Declares an Avro enum: the Rust enum (variants in symbol order) and its codec.
macro_rules! avro_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident = $schema:literal {
            $( $(#[$vmeta:meta])* $variant:ident, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every symbol, in schema order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];
        }

        impl Datum for $name {
            fn write(&self, w: &mut Writer) {
                w.enum_symbol(*self as usize);
            }
            fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
                let index = r.enum_symbol($schema, Self::ALL.len())?;
                Ok(Self::ALL[index])
            }
        }
    };
}

/// Declares an Avro record: the Rust struct (fields in schema order) and its codec.
macro_rules! avro_record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )+
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )+
        }

        impl Datum for $name {
            fn write(&self, w: &mut Writer) {
                $( self.$field.write(w); )+
            }
            // Struct expressions evaluate their fields in the order written: schema order.
            fn read(r: &mut Reader<'_>) -> Result<Self, AvroError> {
                Ok(Self { $( $field: Datum::read(r)?, )+ })
            }
        }
    };
}

avro_enum! {
    /// `SyncResponseStatus`: how a configuration, profile or notification section changed.
    pub enum SyncResponseStatus = "SyncResponseStatus" {
        /// `NO_DELTA`: nothing changed.
        NoDelta,
        /// `DELTA`: the section carries the changes.
        Delta,
        /// `RESYNC`: the section carries everything.
        Resync,
    }
}

avro_enum! {
    /// `NotificationType`.
    pub enum NotificationType = "NotificationType" {
        /// `SYSTEM`.
        System,
        /// `CUSTOM`.
        Custom,
    }
}

avro_enum! {
    /// `SubscriptionType`: whether the endpoint may unsubscribe from a topic.
    pub enum SubscriptionType = "SubscriptionType" {
        /// `MANDATORY_SUBSCRIPTION`.
        Mandatory,
        /// `OPTIONAL_SUBSCRIPTION`.
        Optional,
    }
}

avro_enum! {
    /// `SubscriptionCommandType`.
    pub enum SubscriptionCommandType = "SubscriptionCommandType" {
        /// `ADD`: subscribe.
        Add,
        /// `REMOVE`: unsubscribe.
        Remove,
    }
}

avro_enum! {
    /// `SyncResponseResultType`: the outcome of a sync or of one request inside it.
    pub enum SyncResponseResultType = "SyncResponseResultType" {
        /// `SUCCESS`.
        Success,
        /// `FAILURE`.
        Failure,
        /// `PROFILE_RESYNC`: the server needs the full profile.
        ProfileResync,
        /// `REDIRECT`: the endpoint should go to another Operations node.
        Redirect,
    }
}

avro_enum! {
    /// `LogDeliveryErrorCode`.
    pub enum LogDeliveryErrorCode = "LogDeliveryErrorCode" {
        /// `NO_APPENDERS_CONFIGURED`.
        NoAppendersConfigured,
        /// `APPENDER_INTERNAL_ERROR`.
        AppenderInternalError,
        /// `REMOTE_CONNECTION_ERROR`.
        RemoteConnectionError,
        /// `REMOTE_INTERNAL_ERROR`.
        RemoteInternalError,
    }
}

avro_enum! {
    /// `UserAttachErrorCode`.
    pub enum UserAttachErrorCode = "UserAttachErrorCode" {
        /// `NO_VERIFIER_CONFIGURED`.
        NoVerifierConfigured,
        /// `TOKEN_INVALID`.
        TokenInvalid,
        /// `TOKEN_EXPIRED`.
        TokenExpired,
        /// `INTERNAL_ERROR`.
        InternalError,
        /// `CONNECTION_ERROR`.
        ConnectionError,
        /// `REMOTE_ERROR`.
        RemoteError,
        /// `OTHER`.
        Other,
    }
}

avro_record! {
    /// `TopicState`: the last notification sequence number the endpoint saw on a topic.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct TopicState {
        /// `topicId`.
        pub topic_id: i64,
        /// `seqNumber`.
        pub seq_number: i32,
    }
}

avro_record! {
    /// `SubscriptionCommand`: subscribe to or unsubscribe from an optional topic.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SubscriptionCommand {
        /// `topicId`.
        pub topic_id: i64,
        /// `command`.
        pub command: SubscriptionCommandType,
    }
}

avro_record! {
    /// `UserAttachRequest`: attach this endpoint to an owner, proven by a user verifier.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct UserAttachRequest {
        /// `userVerifierId`.
        pub user_verifier_id: String,
        /// `userExternalId`.
        pub user_external_id: String,
        /// `userAccessToken`.
        pub user_access_token: String,
    }
}

avro_record! {
    /// `UserAttachResponse`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct UserAttachResponse {
        /// `result`.
        pub result: SyncResponseResultType,
        /// `errorCode`.
        pub error_code: Option<UserAttachErrorCode>,
        /// `errorReason`.
        pub error_reason: Option<String>,
    }
}

avro_record! {
    /// `UserAttachNotification`: this endpoint was attached to an owner by another endpoint.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct UserAttachNotification {
        /// `userExternalId`.
        pub user_external_id: String,
        /// `endpointAccessToken`: of the endpoint that attached this one.
        pub endpoint_access_token: String,
    }
}

avro_record! {
    /// `UserDetachNotification`: this endpoint was detached from its owner.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct UserDetachNotification {
        /// `endpointAccessToken`: of the endpoint that detached this one.
        pub endpoint_access_token: String,
    }
}

avro_record! {
    /// `EndpointAttachRequest`: attach another endpoint, named by its access token, to this
    /// endpoint's owner.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct EndpointAttachRequest {
        /// `requestId`.
        pub request_id: i32,
        /// `endpointAccessToken`.
        pub endpoint_access_token: String,
    }
}

avro_record! {
    /// `EndpointAttachResponse`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EndpointAttachResponse {
        /// `requestId`.
        pub request_id: i32,
        /// `endpointKeyHash`: of the attached endpoint.
        pub endpoint_key_hash: Option<String>,
        /// `result`.
        pub result: SyncResponseResultType,
    }
}

avro_record! {
    /// `EndpointDetachRequest`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct EndpointDetachRequest {
        /// `requestId`.
        pub request_id: i32,
        /// `endpointKeyHash`.
        pub endpoint_key_hash: String,
    }
}

avro_record! {
    /// `EndpointDetachResponse`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EndpointDetachResponse {
        /// `requestId`.
        pub request_id: i32,
        /// `result`.
        pub result: SyncResponseResultType,
    }
}

avro_record! {
    /// `Event`: an event between endpoints of one owner.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Event {
        /// `seqNum`.
        pub seq_num: i32,
        /// `eventClassFQN`.
        pub event_class_fqn: String,
        /// `eventData`: the Avro-encoded event.
        pub event_data: Vec<u8>,
        /// `source`: sender's key hash (set by the server).
        pub source: Option<String>,
        /// `target`: receiver's key hash; `None` broadcasts.
        pub target: Option<String>,
    }
}

avro_record! {
    /// `EventListenersRequest`: which endpoints of the owner can receive these event classes.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct EventListenersRequest {
        /// `requestId`.
        pub request_id: i32,
        /// `eventClassFQNs`.
        pub event_class_fqns: Vec<String>,
    }
}

avro_record! {
    /// `EventListenersResponse`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EventListenersResponse {
        /// `requestId`.
        pub request_id: i32,
        /// `listeners`: key hashes of the listening endpoints.
        pub listeners: Option<Vec<String>>,
        /// `result`.
        pub result: SyncResponseResultType,
    }
}

/// `EventSequenceNumberRequest`: asks for the event sequence number (a record without fields,
/// so it takes no bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventSequenceNumberRequest;

impl Datum for EventSequenceNumberRequest {
    fn write(&self, _: &mut Writer) {}
    fn read(_: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self)
    }
}

avro_record! {
    /// `EventSequenceNumberResponse`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct EventSequenceNumberResponse {
        /// `seqNum`.
        pub seq_num: i32,
    }
}

avro_record! {
    /// `Notification`: one notification on a topic, or a unicast one (`uid` set).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Notification {
        /// `topicId`.
        pub topic_id: i64,
        /// `type`.
        pub notification_type: NotificationType,
        /// `uid`: set for unicast notifications, which the endpoint acknowledges.
        pub uid: Option<String>,
        /// `seqNumber`: set for topic notifications.
        pub seq_number: Option<i32>,
        /// `body`: the Avro-encoded notification.
        pub body: Vec<u8>,
    }
}

avro_record! {
    /// `Topic`: a notification topic available to the endpoint.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Topic {
        /// `id`.
        pub id: i64,
        /// `name`.
        pub name: String,
        /// `subscriptionType`.
        pub subscription_type: SubscriptionType,
    }
}

avro_record! {
    /// `LogEntry`: one log record.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct LogEntry {
        /// `data`: the Avro-encoded log record.
        pub data: Vec<u8>,
    }
}

avro_record! {
    /// `SyncRequestMetaData`: who is syncing.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct SyncRequestMetaData {
        /// `sdkToken`: names the application and SDK profile.
        pub sdk_token: String,
        /// `endpointPublicKeyHash`: SHA-1 of the endpoint's X.509 public key.
        pub endpoint_public_key_hash: Option<Vec<u8>>,
        /// `profileHash`: SHA-1 of the profile the endpoint last sent.
        pub profile_hash: Option<Vec<u8>>,
        /// `timeout`: milliseconds the endpoint waits for the answer (long poll).
        pub timeout: Option<i64>,
    }
}

avro_record! {
    /// `ProfileSyncRequest`: registration and the client profile.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ProfileSyncRequest {
        /// `endpointPublicKey`: X.509 DER, sent while the endpoint is not registered.
        pub endpoint_public_key: Option<Vec<u8>>,
        /// `profileBody`: the Avro-encoded client profile.
        pub profile_body: Vec<u8>,
        /// `endpointAccessToken`.
        pub endpoint_access_token: Option<String>,
    }
}

avro_record! {
    /// `ProtocolVersionPair`: a transport (by id) and its version.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ProtocolVersionPair {
        /// `id`: the transport id.
        pub id: i32,
        /// `version`.
        pub version: i32,
    }
}

avro_record! {
    /// `BootstrapSyncRequest`: which transports the endpoint can use.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct BootstrapSyncRequest {
        /// `requestId`.
        pub request_id: i32,
        /// `supportedProtocols`.
        pub supported_protocols: Vec<ProtocolVersionPair>,
    }
}

avro_record! {
    /// `ConfigurationSyncRequest`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ConfigurationSyncRequest {
        /// `configurationHash`: SHA-1 of the endpoint's configuration; empty on the first sync.
        pub configuration_hash: Vec<u8>,
        /// `resyncOnly`.
        pub resync_only: Option<bool>,
    }
}

avro_record! {
    /// `NotificationSyncRequest`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct NotificationSyncRequest {
        /// `topicListHash`.
        pub topic_list_hash: i32,
        /// `topicStates`.
        pub topic_states: Option<Vec<TopicState>>,
        /// `acceptedUnicastNotifications`: uids of received unicast notifications.
        pub accepted_unicast_notifications: Option<Vec<String>>,
        /// `subscriptionCommands`.
        pub subscription_commands: Option<Vec<SubscriptionCommand>>,
    }
}

avro_record! {
    /// `UserSyncRequest`: owner attach and endpoint attach/detach.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct UserSyncRequest {
        /// `userAttachRequest`.
        pub user_attach_request: Option<UserAttachRequest>,
        /// `endpointAttachRequests`.
        pub endpoint_attach_requests: Option<Vec<EndpointAttachRequest>>,
        /// `endpointDetachRequests`.
        pub endpoint_detach_requests: Option<Vec<EndpointDetachRequest>>,
    }
}

avro_record! {
    /// `EventSyncRequest`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct EventSyncRequest {
        /// `eventSequenceNumberRequest`.
        pub event_sequence_number_request: Option<EventSequenceNumberRequest>,
        /// `eventListenersRequests`.
        pub event_listeners_requests: Option<Vec<EventListenersRequest>>,
        /// `events`.
        pub events: Option<Vec<Event>>,
    }
}

avro_record! {
    /// `LogSyncRequest`: a batch of log records.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct LogSyncRequest {
        /// `requestId`: the batch (bucket) id the delivery status will name.
        pub request_id: i32,
        /// `logEntries`.
        pub log_entries: Option<Vec<LogEntry>>,
    }
}

avro_record! {
    /// `ProtocolMetaData`: how to reach one transport of one Operations node.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ProtocolMetaData {
        /// `accessPointId`: signed CRC32 of the node's Thrift `host:port`.
        pub access_point_id: i32,
        /// `protocolVersionInfo`: the transport id and version.
        pub protocol_version_info: ProtocolVersionPair,
        /// `connectionInfo`: `i32 keyLen | key | i32 hostLen | host | i32 port`.
        pub connection_info: Vec<u8>,
    }
}

avro_record! {
    /// `BootstrapSyncResponse`: the Operations transports the endpoint may use.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct BootstrapSyncResponse {
        /// `requestId`.
        pub request_id: i32,
        /// `supportedProtocols`.
        pub supported_protocols: Vec<ProtocolMetaData>,
    }
}

avro_record! {
    /// `ProfileSyncResponse`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ProfileSyncResponse {
        /// `responseStatus`.
        pub response_status: SyncResponseStatus,
    }
}

avro_record! {
    /// `ConfigurationSyncResponse`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ConfigurationSyncResponse {
        /// `responseStatus`.
        pub response_status: SyncResponseStatus,
        /// `confSchemaBody`.
        pub conf_schema_body: Option<Vec<u8>>,
        /// `confDeltaBody`: the Avro-encoded configuration (or delta).
        pub conf_delta_body: Option<Vec<u8>>,
    }
}

avro_record! {
    /// `NotificationSyncResponse`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NotificationSyncResponse {
        /// `responseStatus`.
        pub response_status: SyncResponseStatus,
        /// `notifications`.
        pub notifications: Option<Vec<Notification>>,
        /// `availableTopics`.
        pub available_topics: Option<Vec<Topic>>,
    }
}

avro_record! {
    /// `UserSyncResponse`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct UserSyncResponse {
        /// `userAttachResponse`.
        pub user_attach_response: Option<UserAttachResponse>,
        /// `userAttachNotification`.
        pub user_attach_notification: Option<UserAttachNotification>,
        /// `userDetachNotification`.
        pub user_detach_notification: Option<UserDetachNotification>,
        /// `endpointAttachResponses`.
        pub endpoint_attach_responses: Option<Vec<EndpointAttachResponse>>,
        /// `endpointDetachResponses`.
        pub endpoint_detach_responses: Option<Vec<EndpointDetachResponse>>,
    }
}

avro_record! {
    /// `EventSyncResponse`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct EventSyncResponse {
        /// `eventSequenceNumberResponse`.
        pub event_sequence_number_response: Option<EventSequenceNumberResponse>,
        /// `eventListenersResponses`.
        pub event_listeners_responses: Option<Vec<EventListenersResponse>>,
        /// `events`.
        pub events: Option<Vec<Event>>,
    }
}

avro_record! {
    /// `LogDeliveryStatus`: the fate of one log batch.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LogDeliveryStatus {
        /// `requestId`: the batch's [`LogSyncRequest::request_id`].
        pub request_id: i32,
        /// `result`.
        pub result: SyncResponseResultType,
        /// `errorCode`.
        pub error_code: Option<LogDeliveryErrorCode>,
    }
}

avro_record! {
    /// `LogSyncResponse`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct LogSyncResponse {
        /// `deliveryStatuses`.
        pub delivery_statuses: Option<Vec<LogDeliveryStatus>>,
    }
}

avro_record! {
    /// `RedirectSyncResponse`: go to another Operations node.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct RedirectSyncResponse {
        /// `accessPointId`: see [`ProtocolMetaData::access_point_id`].
        pub access_point_id: i32,
    }
}

avro_record! {
    /// `ExtensionSync`: an opaque section for an extension.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ExtensionSync {
        /// `extensionId`.
        pub extension_id: i32,
        /// `payload`.
        pub payload: Vec<u8>,
    }
}

avro_record! {
    /// `SyncRequest`: everything an endpoint asks in one sync; absent sections are `None`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct SyncRequest {
        /// `requestId`.
        pub request_id: i32,
        /// `syncRequestMetaData`.
        pub sync_request_meta_data: Option<SyncRequestMetaData>,
        /// `bootstrapSyncRequest`.
        pub bootstrap_sync_request: Option<BootstrapSyncRequest>,
        /// `profileSyncRequest`.
        pub profile_sync_request: Option<ProfileSyncRequest>,
        /// `configurationSyncRequest`.
        pub configuration_sync_request: Option<ConfigurationSyncRequest>,
        /// `notificationSyncRequest`.
        pub notification_sync_request: Option<NotificationSyncRequest>,
        /// `userSyncRequest`.
        pub user_sync_request: Option<UserSyncRequest>,
        /// `eventSyncRequest`.
        pub event_sync_request: Option<EventSyncRequest>,
        /// `logSyncRequest`.
        pub log_sync_request: Option<LogSyncRequest>,
        /// `extensionSyncRequests`.
        pub extension_sync_requests: Option<Vec<ExtensionSync>>,
    }
}

avro_record! {
    /// `SyncResponse`: the server's answer to a sync, or an unsolicited push; absent sections
    /// are `None`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SyncResponse {
        /// `requestId`: of the request answered.
        pub request_id: i32,
        /// `status`.
        pub status: SyncResponseResultType,
        /// `bootstrapSyncResponse`.
        pub bootstrap_sync_response: Option<BootstrapSyncResponse>,
        /// `profileSyncResponse`.
        pub profile_sync_response: Option<ProfileSyncResponse>,
        /// `configurationSyncResponse`.
        pub configuration_sync_response: Option<ConfigurationSyncResponse>,
        /// `notificationSyncResponse`.
        pub notification_sync_response: Option<NotificationSyncResponse>,
        /// `userSyncResponse`.
        pub user_sync_response: Option<UserSyncResponse>,
        /// `eventSyncResponse`.
        pub event_sync_response: Option<EventSyncResponse>,
        /// `redirectSyncResponse`.
        pub redirect_sync_response: Option<RedirectSyncResponse>,
        /// `logSyncResponse`.
        pub log_sync_response: Option<LogSyncResponse>,
        /// `extensionSyncResponses`.
        pub extension_sync_responses: Option<Vec<ExtensionSync>>,
    }
}

impl SyncRequest {
    /// The request as an Avro binary datum.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.write(&mut writer);
        writer.into_bytes()
    }

    /// Reads a request from the start of `bytes`; bytes after it are ignored, as Kaa does.
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
        Self::read(&mut Reader::new(bytes)).map_err(SyncError::Request)
    }
}

/// The topic-list hash an SDK reports: Java's `Arrays.hashCode(long[])` over the topic ids in
/// ascending order (the Java SDK's `TopicListHashCalculator`); an SDK that has never received a
/// list reports 0.
pub fn topic_list_hash(topic_ids: impl IntoIterator<Item = i64>) -> i32 {
    let mut ids: Vec<i64> = topic_ids.into_iter().collect();
    ids.sort_unstable();
    ids.iter().fold(1i32, |hash, &id| {
        let element = (id ^ ((id as u64) >> 32) as i64) as i32;
        hash.wrapping_mul(31).wrapping_add(element)
    })
}

impl SyncResponse {
    /// A response with `status` and no sections.
    pub fn new(request_id: i32, status: SyncResponseResultType) -> Self {
        Self {
            request_id,
            status,
            bootstrap_sync_response: None,
            profile_sync_response: None,
            configuration_sync_response: None,
            notification_sync_response: None,
            user_sync_response: None,
            event_sync_response: None,
            redirect_sync_response: None,
            log_sync_response: None,
            extension_sync_responses: None,
        }
    }

    /// The response as an Avro binary datum.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.write(&mut writer);
        writer.into_bytes()
    }

    /// Reads a response from the start of `bytes`; bytes after it are ignored, as Kaa does.
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
        Self::read(&mut Reader::new(bytes)).map_err(SyncError::Response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Parses `"02 0a ff"`-style hex, so expected frames read like the wire.
    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
            .collect()
    }

    #[test]
    fn minimal_request_is_the_id_then_nine_nulls() {
        let request = SyncRequest {
            request_id: 1,
            ..SyncRequest::default()
        };
        assert_eq!(request.encode(), hex("02 02 02 02 02 02 02 02 02 02"));
        assert_eq!(SyncRequest::decode(&request.encode()).unwrap(), request);
    }

    #[test]
    fn minimal_response_is_the_id_the_status_then_nine_nulls() {
        let response = SyncResponse::new(-1, SyncResponseResultType::Redirect);
        assert_eq!(response.encode(), hex("01 06 02 02 02 02 02 02 02 02 02"));
        assert_eq!(SyncResponse::decode(&response.encode()).unwrap(), response);
    }

    fn full_request() -> SyncRequest {
        SyncRequest {
            request_id: 1,
            sync_request_meta_data: Some(SyncRequestMetaData {
                sdk_token: "tok".into(),
                endpoint_public_key_hash: Some(vec![0xaa, 0xbb]),
                profile_hash: None,
                timeout: Some(60_000),
            }),
            bootstrap_sync_request: Some(BootstrapSyncRequest {
                request_id: 2,
                supported_protocols: vec![
                    ProtocolVersionPair {
                        id: 0x56c8_ff92,
                        version: 1,
                    },
                    ProtocolVersionPair {
                        id: 0xfb9a_3cf0_u32 as i32,
                        version: 1,
                    },
                ],
            }),
            profile_sync_request: Some(ProfileSyncRequest {
                endpoint_public_key: Some(vec![1, 2, 3]),
                profile_body: vec![],
                endpoint_access_token: None,
            }),
            configuration_sync_request: Some(ConfigurationSyncRequest {
                configuration_hash: vec![0xff],
                resync_only: Some(true),
            }),
            notification_sync_request: Some(NotificationSyncRequest {
                topic_list_hash: -1,
                topic_states: Some(vec![TopicState {
                    topic_id: 300,
                    seq_number: 5,
                }]),
                accepted_unicast_notifications: Some(vec!["u".into()]),
                subscription_commands: Some(vec![SubscriptionCommand {
                    topic_id: 1,
                    command: SubscriptionCommandType::Remove,
                }]),
            }),
            user_sync_request: Some(UserSyncRequest {
                user_attach_request: Some(UserAttachRequest {
                    user_verifier_id: "v".into(),
                    user_external_id: "e".into(),
                    user_access_token: "t".into(),
                }),
                endpoint_attach_requests: Some(vec![EndpointAttachRequest {
                    request_id: 3,
                    endpoint_access_token: "x".into(),
                }]),
                endpoint_detach_requests: Some(vec![]),
            }),
            event_sync_request: Some(EventSyncRequest {
                event_sequence_number_request: Some(EventSequenceNumberRequest),
                event_listeners_requests: Some(vec![EventListenersRequest {
                    request_id: 4,
                    event_class_fqns: vec!["a.B".into()],
                }]),
                events: Some(vec![Event {
                    seq_num: 5,
                    event_class_fqn: "a.B".into(),
                    event_data: vec![9],
                    source: None,
                    target: Some("k".into()),
                }]),
            }),
            log_sync_request: Some(LogSyncRequest {
                request_id: 6,
                log_entries: Some(vec![LogEntry {
                    data: vec![0x10, 0x20],
                }]),
            }),
            extension_sync_requests: Some(vec![ExtensionSync {
                extension_id: 7,
                payload: vec![0x42],
            }]),
        }
    }

    /// `full_request()` derived by hand from the schema, one line per field.
    const FULL_REQUEST: &str = "
        02                      requestId 1
        00                      syncRequestMetaData: branch 0
          06 74 6f 6b           sdkToken 'tok'
          00 04 aa bb           endpointPublicKeyHash
          02                    profileHash null
          00 c0 a9 07           timeout 60000
        00                      bootstrapSyncRequest
          04                    requestId 2
          04                    supportedProtocols: block of 2
            a4 fe c7 ec 0a 02   TCP 0x56c8ff92, version 1
            9f 8c ae 46 02      HTTP 0xfb9a3cf0, version 1
          00                    end of array
        00                      profileSyncRequest
          00 06 01 02 03        endpointPublicKey
          00                    profileBody: empty
          02                    endpointAccessToken null
        00                      configurationSyncRequest
          02 ff                 configurationHash
          00 01                 resyncOnly true
        00                      notificationSyncRequest
          01                    topicListHash -1
          00 02 d8 04 0a 00     topicStates [{300, 5}]
          00 02 02 75 00        acceptedUnicastNotifications ['u']
          00 02 02 02 00        subscriptionCommands [{1, REMOVE}]
        00                      userSyncRequest
          00 02 76 02 65 02 74  userAttachRequest {'v', 'e', 't'}
          00 02 06 02 78 00     endpointAttachRequests [{3, 'x'}]
          00 00                 endpointDetachRequests []
        00                      eventSyncRequest
          00                    eventSequenceNumberRequest {} (no fields)
          00 02 08 02 06 61 2e 42 00 00      eventListenersRequests [{4, ['a.B']}]
          00 02 0a 06 61 2e 42 02 09 02 00 02 6b 00  events [{5, 'a.B', [09], null, 'k'}]
        00                      logSyncRequest
          0c                    requestId 6
          00 02 04 10 20 00     logEntries [{[10 20]}]
        00 02 0e 02 42 00       extensionSyncRequests [{7, [42]}]
    ";

    fn full_response() -> SyncResponse {
        SyncResponse {
            request_id: 1,
            status: SyncResponseResultType::Success,
            bootstrap_sync_response: Some(BootstrapSyncResponse {
                request_id: 2,
                supported_protocols: vec![ProtocolMetaData {
                    access_point_id: -1,
                    protocol_version_info: ProtocolVersionPair {
                        id: 0x56c8_ff92,
                        version: 1,
                    },
                    connection_info: vec![0; 4],
                }],
            }),
            profile_sync_response: Some(ProfileSyncResponse {
                response_status: SyncResponseStatus::Resync,
            }),
            configuration_sync_response: Some(ConfigurationSyncResponse {
                response_status: SyncResponseStatus::Delta,
                conf_schema_body: None,
                conf_delta_body: Some(vec![1]),
            }),
            notification_sync_response: Some(NotificationSyncResponse {
                response_status: SyncResponseStatus::NoDelta,
                notifications: Some(vec![Notification {
                    topic_id: 10,
                    notification_type: NotificationType::Custom,
                    uid: Some("id".into()),
                    seq_number: None,
                    body: vec![7],
                }]),
                available_topics: Some(vec![Topic {
                    id: 10,
                    name: "t".into(),
                    subscription_type: SubscriptionType::Optional,
                }]),
            }),
            user_sync_response: Some(UserSyncResponse {
                user_attach_response: Some(UserAttachResponse {
                    result: SyncResponseResultType::Failure,
                    error_code: Some(UserAttachErrorCode::TokenExpired),
                    error_reason: Some("no".into()),
                }),
                user_attach_notification: Some(UserAttachNotification {
                    user_external_id: "e".into(),
                    endpoint_access_token: "t".into(),
                }),
                user_detach_notification: Some(UserDetachNotification {
                    endpoint_access_token: "t".into(),
                }),
                endpoint_attach_responses: Some(vec![EndpointAttachResponse {
                    request_id: 3,
                    endpoint_key_hash: Some("h".into()),
                    result: SyncResponseResultType::Success,
                }]),
                endpoint_detach_responses: Some(vec![EndpointDetachResponse {
                    request_id: 4,
                    result: SyncResponseResultType::Failure,
                }]),
            }),
            event_sync_response: Some(EventSyncResponse {
                event_sequence_number_response: Some(EventSequenceNumberResponse { seq_num: 5 }),
                event_listeners_responses: Some(vec![EventListenersResponse {
                    request_id: 4,
                    listeners: Some(vec!["k".into()]),
                    result: SyncResponseResultType::Success,
                }]),
                events: Some(vec![]),
            }),
            redirect_sync_response: Some(RedirectSyncResponse {
                access_point_id: 1000,
            }),
            log_sync_response: Some(LogSyncResponse {
                delivery_statuses: Some(vec![LogDeliveryStatus {
                    request_id: 6,
                    result: SyncResponseResultType::Failure,
                    error_code: Some(LogDeliveryErrorCode::RemoteInternalError),
                }]),
            }),
            extension_sync_responses: None,
        }
    }

    /// `full_response()` derived by hand from the schema.
    const FULL_RESPONSE: &str = "
        02                      requestId 1
        00                      status SUCCESS
        00                      bootstrapSyncResponse
          04                    requestId 2
          02                    supportedProtocols: block of 1
            01                  accessPointId -1
            a4 fe c7 ec 0a 02   protocolVersionInfo {TCP, 1}
            08 00 00 00 00      connectionInfo (4 bytes)
          00                    end of array
        00 04                   profileSyncResponse {RESYNC}
        00                      configurationSyncResponse
          02                    DELTA
          02                    confSchemaBody null
          00 02 01              confDeltaBody [01]
        00                      notificationSyncResponse
          00                    NO_DELTA
          00 02 14 02 00 04 69 64 02 02 07 00   notifications [{10, CUSTOM, 'id', null, [07]}]
          00 02 14 02 74 02 00  availableTopics [{10, 't', OPTIONAL_SUBSCRIPTION}]
        00                      userSyncResponse
          00 02 00 04 00 04 6e 6f   userAttachResponse {FAILURE, TOKEN_EXPIRED, 'no'}
          00 02 65 02 74        userAttachNotification {'e', 't'}
          00 02 74              userDetachNotification {'t'}
          00 02 06 00 02 68 00 00   endpointAttachResponses [{3, 'h', SUCCESS}]
          00 02 08 02 00        endpointDetachResponses [{4, FAILURE}]
        00                      eventSyncResponse
          00 0a                 eventSequenceNumberResponse {5}
          00 02 08 00 02 02 6b 00 00 00   eventListenersResponses [{4, ['k'], SUCCESS}]
          00 00                 events []
        00 d0 0f                redirectSyncResponse {1000}
        00 00 02 0c 02 00 06 00 logSyncResponse [{6, FAILURE, REMOTE_INTERNAL_ERROR}]
        02                      extensionSyncResponses null
    ";

    /// The hex of an annotated frame: the leading tokens of each line that are hex bytes.
    fn annotated(text: &str) -> Vec<u8> {
        text.lines()
            .flat_map(|line| {
                line.split_whitespace()
                    .take_while(|t| t.len() == 2 && t.chars().all(|c| c.is_ascii_hexdigit()))
                    .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn full_request_matches_the_hand_derived_bytes() {
        let bytes = annotated(FULL_REQUEST);
        assert_eq!(full_request().encode(), bytes);
        assert_eq!(SyncRequest::decode(&bytes).unwrap(), full_request());
    }

    #[test]
    fn full_response_matches_the_hand_derived_bytes() {
        let bytes = annotated(FULL_RESPONSE);
        assert_eq!(full_response().encode(), bytes);
        assert_eq!(SyncResponse::decode(&bytes).unwrap(), full_response());
    }

    #[test]
    fn trailing_bytes_are_ignored_as_kaa_does() {
        let mut bytes = full_request().encode();
        bytes.extend_from_slice(b"garbage");
        assert_eq!(SyncRequest::decode(&bytes).unwrap(), full_request());
        let mut bytes = full_response().encode();
        bytes.push(0xff);
        assert_eq!(SyncResponse::decode(&bytes).unwrap(), full_response());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let request = full_request().encode();
        for end in 0..request.len() {
            assert!(
                SyncRequest::decode(&request[..end]).is_err(),
                "request cut at {end}"
            );
        }
        let response = full_response().encode();
        for end in 0..response.len() {
            assert!(
                SyncResponse::decode(&response[..end]).is_err(),
                "response cut at {end}"
            );
        }
    }

    #[test]
    fn values_outside_the_schema_are_named_errors() {
        // Union branch 2 of ["T", "null"].
        assert_eq!(
            SyncRequest::decode(&hex("02 04")),
            Err(SyncError::Request(AvroError::BadUnionBranch(2)))
        );
        // status symbol 4 of SyncResponseResultType.
        assert_eq!(
            SyncResponse::decode(&hex("02 08")),
            Err(SyncError::Response(AvroError::BadEnumSymbol {
                name: "SyncResponseResultType",
                index: 4
            }))
        );
        // resyncOnly byte 2.
        assert_eq!(
            SyncRequest::decode(&hex("02 02 02 02 00 00 00 02")),
            Err(SyncError::Request(AvroError::BadBoolean(2)))
        );
        // requestId beyond i32.
        assert_eq!(
            SyncRequest::decode(&hex("80 80 80 80 20")),
            Err(SyncError::Request(AvroError::VarintOverflow("int")))
        );
        assert_eq!(
            SyncError::Request(AvroError::Truncated("long")).to_string(),
            "malformed SyncRequest: input ends inside long"
        );
    }

    #[test]
    fn a_huge_array_count_fails_before_allocating() {
        // logSyncRequest {requestId 0, logEntries: a block claiming i64::MAX / 2 entries}.
        let bytes = hex("02 02 02 02 02 02 02 02 00 00 00 fe ff ff ff ff ff ff ff ff 01");
        assert!(matches!(
            SyncRequest::decode(&bytes),
            Err(SyncError::Request(AvroError::BadLength {
                what: "array",
                ..
            }))
        ));
    }

    /// Arbitrary values of every schema type, small enough to keep cases fast.
    pub(crate) mod strategies {
        use super::super::*;
        use proptest::collection::vec;
        use proptest::option::of;
        use proptest::prelude::*;
        use proptest::sample::select;

        fn bytes() -> impl Strategy<Value = Vec<u8>> {
            vec(any::<u8>(), 0..12)
        }

        fn text() -> impl Strategy<Value = String> {
            "\\PC{0,6}"
        }

        fn list<T: std::fmt::Debug>(
            item: impl Strategy<Value = T>,
        ) -> impl Strategy<Value = Vec<T>> {
            vec(item, 0..3)
        }

        fn result() -> impl Strategy<Value = SyncResponseResultType> {
            select(SyncResponseResultType::ALL)
        }

        fn status() -> impl Strategy<Value = SyncResponseStatus> {
            select(SyncResponseStatus::ALL)
        }

        fn pair() -> impl Strategy<Value = ProtocolVersionPair> {
            (any::<i32>(), any::<i32>())
                .prop_map(|(id, version)| ProtocolVersionPair { id, version })
        }

        fn event() -> impl Strategy<Value = Event> {
            (any::<i32>(), text(), bytes(), of(text()), of(text())).prop_map(
                |(seq_num, event_class_fqn, event_data, source, target)| Event {
                    seq_num,
                    event_class_fqn,
                    event_data,
                    source,
                    target,
                },
            )
        }

        fn extensions() -> impl Strategy<Value = Option<Vec<ExtensionSync>>> {
            of(list((any::<i32>(), bytes()).prop_map(
                |(extension_id, payload)| ExtensionSync {
                    extension_id,
                    payload,
                },
            )))
        }

        fn meta() -> impl Strategy<Value = SyncRequestMetaData> {
            (text(), of(bytes()), of(bytes()), of(any::<i64>())).prop_map(
                |(sdk_token, endpoint_public_key_hash, profile_hash, timeout)| {
                    SyncRequestMetaData {
                        sdk_token,
                        endpoint_public_key_hash,
                        profile_hash,
                        timeout,
                    }
                },
            )
        }

        fn notification_request() -> impl Strategy<Value = NotificationSyncRequest> {
            let topic_state =
                (any::<i64>(), any::<i32>()).prop_map(|(topic_id, seq_number)| TopicState {
                    topic_id,
                    seq_number,
                });
            let command = (any::<i64>(), select(SubscriptionCommandType::ALL))
                .prop_map(|(topic_id, command)| SubscriptionCommand { topic_id, command });
            (
                any::<i32>(),
                of(list(topic_state)),
                of(list(text())),
                of(list(command)),
            )
                .prop_map(
                    |(topic_list_hash, topic_states, accepted_unicast_notifications, commands)| {
                        NotificationSyncRequest {
                            topic_list_hash,
                            topic_states,
                            accepted_unicast_notifications,
                            subscription_commands: commands,
                        }
                    },
                )
        }

        fn user_request() -> impl Strategy<Value = UserSyncRequest> {
            let attach = (text(), text(), text()).prop_map(|(v, e, t)| UserAttachRequest {
                user_verifier_id: v,
                user_external_id: e,
                user_access_token: t,
            });
            let endpoint_attach =
                (any::<i32>(), text()).prop_map(|(request_id, token)| EndpointAttachRequest {
                    request_id,
                    endpoint_access_token: token,
                });
            let endpoint_detach =
                (any::<i32>(), text()).prop_map(|(request_id, hash)| EndpointDetachRequest {
                    request_id,
                    endpoint_key_hash: hash,
                });
            (
                of(attach),
                of(list(endpoint_attach)),
                of(list(endpoint_detach)),
            )
                .prop_map(
                    |(user_attach_request, endpoint_attach_requests, endpoint_detach_requests)| {
                        UserSyncRequest {
                            user_attach_request,
                            endpoint_attach_requests,
                            endpoint_detach_requests,
                        }
                    },
                )
        }

        fn event_request() -> impl Strategy<Value = EventSyncRequest> {
            let listeners =
                (any::<i32>(), list(text())).prop_map(|(request_id, fqns)| EventListenersRequest {
                    request_id,
                    event_class_fqns: fqns,
                });
            (
                of(Just(EventSequenceNumberRequest)),
                of(list(listeners)),
                of(list(event())),
            )
                .prop_map(
                    |(event_sequence_number_request, event_listeners_requests, events)| {
                        EventSyncRequest {
                            event_sequence_number_request,
                            event_listeners_requests,
                            events,
                        }
                    },
                )
        }

        /// Any `SyncRequest`.
        pub(crate) fn sync_request() -> impl Strategy<Value = SyncRequest> {
            let bootstrap = (any::<i32>(), list(pair())).prop_map(|(request_id, protocols)| {
                BootstrapSyncRequest {
                    request_id,
                    supported_protocols: protocols,
                }
            });
            let profile = (of(bytes()), bytes(), of(text())).prop_map(|(key, body, token)| {
                ProfileSyncRequest {
                    endpoint_public_key: key,
                    profile_body: body,
                    endpoint_access_token: token,
                }
            });
            let configuration = (bytes(), of(any::<bool>())).prop_map(|(hash, resync_only)| {
                ConfigurationSyncRequest {
                    configuration_hash: hash,
                    resync_only,
                }
            });
            let log = (
                any::<i32>(),
                of(list(bytes().prop_map(|data| LogEntry { data }))),
            )
                .prop_map(|(request_id, log_entries)| LogSyncRequest {
                    request_id,
                    log_entries,
                });
            (
                any::<i32>(),
                of(meta()),
                of(bootstrap),
                of(profile),
                of(configuration),
                of(notification_request()),
                of(user_request()),
                of(event_request()),
                of(log),
                extensions(),
            )
                .prop_map(
                    |(
                        id,
                        meta,
                        bootstrap,
                        profile,
                        configuration,
                        notification,
                        user,
                        event,
                        log,
                        ext,
                    )| {
                        SyncRequest {
                            request_id: id,
                            sync_request_meta_data: meta,
                            bootstrap_sync_request: bootstrap,
                            profile_sync_request: profile,
                            configuration_sync_request: configuration,
                            notification_sync_request: notification,
                            user_sync_request: user,
                            event_sync_request: event,
                            log_sync_request: log,
                            extension_sync_requests: ext,
                        }
                    },
                )
        }

        fn notification_response() -> impl Strategy<Value = NotificationSyncResponse> {
            let notification = (
                any::<i64>(),
                select(NotificationType::ALL),
                of(text()),
                of(any::<i32>()),
                bytes(),
            )
                .prop_map(|(topic_id, kind, uid, seq_number, body)| Notification {
                    topic_id,
                    notification_type: kind,
                    uid,
                    seq_number,
                    body,
                });
            let topic = (any::<i64>(), text(), select(SubscriptionType::ALL)).prop_map(
                |(id, name, subscription_type)| Topic {
                    id,
                    name,
                    subscription_type,
                },
            );
            (status(), of(list(notification)), of(list(topic))).prop_map(
                |(response_status, notifications, available_topics)| NotificationSyncResponse {
                    response_status,
                    notifications,
                    available_topics,
                },
            )
        }

        fn user_response() -> impl Strategy<Value = UserSyncResponse> {
            let attach = (result(), of(select(UserAttachErrorCode::ALL)), of(text())).prop_map(
                |(result, error_code, error_reason)| UserAttachResponse {
                    result,
                    error_code,
                    error_reason,
                },
            );
            let attached = (text(), text()).prop_map(|(user, token)| UserAttachNotification {
                user_external_id: user,
                endpoint_access_token: token,
            });
            let detached = text().prop_map(|token| UserDetachNotification {
                endpoint_access_token: token,
            });
            let endpoint_attach = (any::<i32>(), of(text()), result()).prop_map(
                |(request_id, endpoint_key_hash, result)| EndpointAttachResponse {
                    request_id,
                    endpoint_key_hash,
                    result,
                },
            );
            let endpoint_detach = (any::<i32>(), result())
                .prop_map(|(request_id, result)| EndpointDetachResponse { request_id, result });
            (
                of(attach),
                of(attached),
                of(detached),
                of(list(endpoint_attach)),
                of(list(endpoint_detach)),
            )
                .prop_map(|(attach, attached, detached, ep_attach, ep_detach)| {
                    UserSyncResponse {
                        user_attach_response: attach,
                        user_attach_notification: attached,
                        user_detach_notification: detached,
                        endpoint_attach_responses: ep_attach,
                        endpoint_detach_responses: ep_detach,
                    }
                })
        }

        fn event_response() -> impl Strategy<Value = EventSyncResponse> {
            let listeners = (any::<i32>(), of(list(text())), result()).prop_map(
                |(request_id, listeners, result)| EventListenersResponse {
                    request_id,
                    listeners,
                    result,
                },
            );
            (
                of(any::<i32>().prop_map(|seq_num| EventSequenceNumberResponse { seq_num })),
                of(list(listeners)),
                of(list(event())),
            )
                .prop_map(|(sequence, listeners, events)| EventSyncResponse {
                    event_sequence_number_response: sequence,
                    event_listeners_responses: listeners,
                    events,
                })
        }

        /// Any `SyncResponse`.
        pub(crate) fn sync_response() -> impl Strategy<Value = SyncResponse> {
            let metadata = (any::<i32>(), pair(), bytes()).prop_map(|(id, info, connection)| {
                ProtocolMetaData {
                    access_point_id: id,
                    protocol_version_info: info,
                    connection_info: connection,
                }
            });
            let bootstrap = (any::<i32>(), list(metadata)).prop_map(|(request_id, protocols)| {
                BootstrapSyncResponse {
                    request_id,
                    supported_protocols: protocols,
                }
            });
            let profile =
                status().prop_map(|response_status| ProfileSyncResponse { response_status });
            let configuration = (status(), of(bytes()), of(bytes())).prop_map(
                |(response_status, schema, delta)| ConfigurationSyncResponse {
                    response_status,
                    conf_schema_body: schema,
                    conf_delta_body: delta,
                },
            );
            let redirect =
                any::<i32>().prop_map(|access_point_id| RedirectSyncResponse { access_point_id });
            let delivery = (
                any::<i32>(),
                result(),
                of(select(LogDeliveryErrorCode::ALL)),
            )
                .prop_map(|(request_id, result, error_code)| LogDeliveryStatus {
                    request_id,
                    result,
                    error_code,
                });
            let log = of(list(delivery))
                .prop_map(|delivery_statuses| LogSyncResponse { delivery_statuses });
            (
                any::<i32>(),
                result(),
                of(bootstrap),
                of(profile),
                of(configuration),
                of(notification_response()),
                of(user_response()),
                of(event_response()),
                of(redirect),
                of(log),
                extensions(),
            )
                .prop_map(
                    |(
                        id,
                        status,
                        bootstrap,
                        profile,
                        configuration,
                        notification,
                        user,
                        event,
                        redirect,
                        log,
                        ext,
                    )| {
                        SyncResponse {
                            request_id: id,
                            status,
                            bootstrap_sync_response: bootstrap,
                            profile_sync_response: profile,
                            configuration_sync_response: configuration,
                            notification_sync_response: notification,
                            user_sync_response: user,
                            event_sync_response: event,
                            redirect_sync_response: redirect,
                            log_sync_response: log,
                            extension_sync_responses: ext,
                        }
                    },
                )
        }
    }

    proptest! {
        #[test]
        fn requests_round_trip(request in strategies::sync_request()) {
            prop_assert_eq!(SyncRequest::decode(&request.encode()), Ok(request));
        }

        #[test]
        fn responses_round_trip(response in strategies::sync_response()) {
            prop_assert_eq!(SyncResponse::decode(&response.encode()), Ok(response));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
            // Whatever decodes must encode to a prefix-compatible datum that decodes the same.
            if let Ok(request) = SyncRequest::decode(&bytes) {
                prop_assert_eq!(SyncRequest::decode(&request.encode()), Ok(request));
            }
            if let Ok(response) = SyncResponse::decode(&bytes) {
                prop_assert_eq!(SyncResponse::decode(&response.encode()), Ok(response));
            }
        }
    }
}
