//! The sync rules without I/O: what one request makes of the data loaded for it.
//!
//! [`super::SyncProcessor`] is the shell around this module. It loads what a step needs (the
//! stored profile, the endpoint's credentials, its owner's configuration, stored notifications,
//! another endpoint's profile), calls the step here, applies the writes the step returns and
//! routes the messages it names. Nothing here reads or writes a store, the network or the clock:
//! every function takes the session's state ([`ServedEndpoint`]), the request, what was loaded
//! and the application's context from the catalog, and returns the answer together with what to
//! do. So each rule is unit tested without servers (`core/tests.rs`).
//!
//! The steps, in the order a sync runs them (a push runs the same from "owner" on):
//! 1. **Registration** ([`endpoint_key_hash`], [`same_endpoint`], [`profile_step`]): who the
//!    endpoint is, whether its request registers it or updates its client profile, or whether it
//!    must send its profile again (`PROFILE_RESYNC`).
//! 2. **Credentials** ([`credentials_verdict`]): in use, revoked, not provisioned, or to be
//!    provisioned now (the write: [`CredentialsVerdict::Provision`]).
//! 3. **Owner** (in [`owners`], as are events: [`verifier_for`], [`attach_self`],
//!    [`attach_other`], [`detach_other`], [`follow_owner`], [`owner_change_notice`]): the attach
//!    and detach answers, the other endpoints' owner writes ([`OwnerWrite`]) with the notice to
//!    route to their sessions ([`owner_change_route`]), and the session's event-route
//!    registration ([`owners::RouteChange`]).
//! 4. **Groups and configuration** ([`owner_layer`], [`group_offer`], [`configuration_answer`]):
//!    membership by profile filters, the merge of the groups' configurations by weight with the
//!    owner's configuration on top, and whether the endpoint's configuration hash is current.
//! 5. **Topics** ([`topic_step`], [`topic_notifications`], [`notification_answer`]): the topic
//!    list when its hash differs, subscriptions, which notifications to read after the
//!    endpoint's sequence numbers, and which accepted unicasts to delete.
//! 6. **Events** ([`accept_event`], [`listeners_answer`]): which of the sent events go to the
//!    owner's route table, in order and once each.
//! 7. **Logs** ([`log_batch`], [`log_answer`]): a non-empty batch goes to collection; its delivery
//!    status answers in the same response.
//! 8. **Writes** ([`profile_writes`], [`after_conflict`]): the profile and configuration blob to
//!    store, nothing when only a recent last-seen time changed, and what a retry keeps after a
//!    concurrent write won.

use std::collections::BTreeMap;

use kaa_idl::endpoint::crypto::sha1;
use kaa_idl::endpoint::sync::{
    ConfigurationSyncResponse, LogDeliveryStatus, LogSyncRequest, LogSyncResponse, Notification,
    NotificationSyncRequest, NotificationSyncResponse, NotificationType, ProfileSyncRequest,
    RedirectSyncResponse, SubscriptionCommandType, SubscriptionType, SyncRequest, SyncResponse,
    SyncResponseResultType, SyncResponseStatus, Topic,
};
use kaa_store::endpoint::{
    CredentialStatus, Credentials, EndpointProfile, GroupState, Notification as StoredNotification,
    NotificationKind, UnicastNotification, UserConfiguration,
};
use kaa_store::metadata::{SdkProfile, TopicKind};
use kaa_transport::{AuthFailure, SyncFailure};
use serde_json::Value;

use crate::catalog::{AppContext, TopicInfo, topic_wire_id};
use crate::configuration::{self, Layer, MergedConfiguration};
use crate::membership::{self, Profiles};
use crate::topics::{self, Command};

mod owners;
#[cfg(test)]
mod tests;

pub(crate) use self::owners::{
    OwnerWrite, accept_event, attach_other, attach_self, detach_key, detach_other, event_answer,
    event_registration, follow_owner, listeners_answer, owner_change_notice, owner_change_route,
    verifier_for,
};

/// What a session remembers of the endpoint it serves between requests: who it is, what it
/// holds (what it sent or was last sent), and its owner and event registration.
#[derive(Debug, Clone)]
pub(crate) struct ServedEndpoint {
    pub(crate) key_hash: Vec<u8>,
    /// The endpoint's presence id on this node, shared by all its channels; its event route is
    /// registered under it.
    pub(crate) session_id: u64,
    pub(crate) sdk_token: String,
    pub(crate) last_request_id: i32,
    /// Configuration hash the endpoint holds (what it sent or what it was last sent).
    pub(crate) configuration_hash: Vec<u8>,
    /// Topic-list hash the endpoint holds.
    pub(crate) topic_list_hash: i32,
    /// Last sequence number the endpoint has per topic wire id.
    pub(crate) topic_states: BTreeMap<i64, i32>,
    /// The owner the session last saw on the profile.
    pub(crate) owner_id: Option<String>,
    /// Whether the session registered its endpoint with the owner's route table.
    pub(crate) registered: bool,
    /// Highest event sequence number the endpoint sent in this session.
    pub(crate) event_seq: i32,
}

impl ServedEndpoint {
    /// A session's endpoint as its first answered request names it.
    pub(crate) fn new(key_hash: Vec<u8>, session_id: u64, sdk_token: String) -> Self {
        Self {
            key_hash,
            session_id,
            sdk_token,
            last_request_id: 0,
            configuration_hash: Vec::new(),
            topic_list_hash: topics::NULL_LIST_HASH,
            topic_states: BTreeMap::new(),
            owner_id: None,
            registered: false,
            event_seq: 0,
        }
    }

    /// Takes in what `request` says the endpoint holds: its configuration hash, topic-list hash
    /// and sequence numbers.
    pub(crate) fn note_request(&mut self, request: &SyncRequest) {
        self.last_request_id = request.request_id;
        if let Some(configuration) = &request.configuration_sync_request {
            self.configuration_hash = configuration.configuration_hash.clone();
        }
        if let Some(notifications) = &request.notification_sync_request {
            self.topic_list_hash = notifications.topic_list_hash;
            for state in notifications.topic_states.iter().flatten() {
                self.topic_states.insert(state.topic_id, state.seq_number);
            }
        }
    }
}

// --- Registration ---

/// The endpoint's key hash: from the meta data, or the SHA-1 of the public key it sends; when
/// both are present they must agree.
pub(crate) fn endpoint_key_hash(request: &SyncRequest) -> Result<Vec<u8>, SyncFailure> {
    let meta_hash = request
        .sync_request_meta_data
        .as_ref()
        .and_then(|m| m.endpoint_public_key_hash.clone());
    let key = request
        .profile_sync_request
        .as_ref()
        .and_then(|p| p.endpoint_public_key.as_deref());
    match (meta_hash, key) {
        (Some(hash), Some(key)) if hash != sha1(key) => Err(SyncFailure::BadRequest(
            "endpointPublicKeyHash is not the SHA-1 of endpointPublicKey".into(),
        )),
        (Some(hash), _) => Ok(hash),
        (None, Some(key)) => Ok(sha1(key).to_vec()),
        (None, None) => Err(SyncFailure::BadRequest(
            "request names no endpoint (no key hash, no public key)".into(),
        )),
    }
}

/// A session serves one endpoint: a later request must name the one its first request named.
pub(crate) fn same_endpoint(
    served: Option<&ServedEndpoint>,
    key_hash: &[u8],
) -> Result<(), SyncFailure> {
    match served {
        Some(served) if served.key_hash != key_hash => Err(SyncFailure::BadRequest(
            "a session serves one endpoint; this request names another".into(),
        )),
        _ => Ok(()),
    }
}

/// The answer sending the endpoint to access point `access_point_id` (before anything is
/// stored: the endpoint registers on the node it is sent to).
pub(crate) fn redirect(request_id: i32, access_point_id: i32) -> SyncResponse {
    let mut response = SyncResponse::new(request_id, SyncResponseResultType::Redirect);
    response.redirect_sync_response = Some(RedirectSyncResponse { access_point_id });
    response
}

/// The answer asking the endpoint for its profile.
pub(crate) fn profile_resync(request_id: i32) -> SyncResponse {
    SyncResponse::new(request_id, SyncResponseResultType::ProfileResync)
}

/// The profile a sync works on, as [`profile_step`] finds it.
#[derive(Debug)]
pub(crate) enum ProfileStep {
    /// Neither stored nor sent: the endpoint is told `PROFILE_RESYNC`.
    Resync,
    /// Registered, or updated from the request's profile section (answered `DELTA`; written at
    /// the end of the sync).
    Sent(EndpointProfile),
    /// As stored; `in_step` when the request's profile hash is the stored one (otherwise, once
    /// the credentials are checked, the endpoint is told `PROFILE_RESYNC`).
    Stored {
        profile: EndpointProfile,
        in_step: bool,
    },
}

/// What the request's profile section (or its absence) makes of the stored profile: a new
/// endpoint registers with the public key it sends; a known one may send its key again only
/// unchanged.
pub(crate) fn profile_step(
    app: &AppContext,
    sdk: &SdkProfile,
    key_hash: &[u8],
    request: &SyncRequest,
    stored: Option<EndpointProfile>,
) -> Result<ProfileStep, SyncFailure> {
    let (profile, in_step) = match (&request.profile_sync_request, stored) {
        (Some(update), stored) => (update_profile(app, sdk, key_hash, update, stored)?, None),
        (None, Some(profile)) => {
            let hash = request
                .sync_request_meta_data
                .as_ref()
                .and_then(|m| m.profile_hash.as_deref());
            let in_step = hash == Some(profile.profile_hash.as_slice());
            (profile, Some(in_step))
        }
        (None, None) => return Ok(ProfileStep::Resync),
    };
    if profile.application_id != app.app.id {
        return Err(SyncFailure::BadRequest(
            "endpoint is registered to another application".into(),
        ));
    }
    Ok(match in_step {
        None => ProfileStep::Sent(profile),
        Some(in_step) => ProfileStep::Stored { profile, in_step },
    })
}

/// Registers the endpoint or updates its client profile (`stored`: its profile as stored).
/// A public key sent along must be the stored one.
fn update_profile(
    app: &AppContext,
    sdk: &SdkProfile,
    key_hash: &[u8],
    update: &ProfileSyncRequest,
    stored: Option<EndpointProfile>,
) -> Result<EndpointProfile, SyncFailure> {
    let public_key = match (&update.endpoint_public_key, &stored) {
        (Some(key), Some(stored)) if *key != stored.public_key => {
            return Err(SyncFailure::Unauthenticated(AuthFailure::KeyMismatch));
        }
        (Some(key), _) => key.clone(),
        (None, Some(stored)) => stored.public_key.clone(),
        (None, None) => {
            return Err(SyncFailure::BadRequest(
                "an unregistered endpoint must send its public key".into(),
            ));
        }
    };
    decode_client_profile(app, sdk, &update.profile_body)?;
    let mut profile = stored.unwrap_or_else(|| EndpointProfile {
        application_id: app.app.id.clone(),
        endpoint_key_hash: key_hash.to_vec(),
        public_key: public_key.clone(),
        access_token: None,
        sdk_token: sdk.sdk_token.clone(),
        client_profile_version: 0,
        client_profile: Vec::new(),
        profile_hash: Vec::new(),
        server_profile_version: sdk.server_profile_version as i32,
        server_profile: default_server_profile(app, sdk.server_profile_version),
        groups: Vec::new(),
        configuration_hash: Vec::new(),
        topic_hash: 0,
        subscriptions: Vec::new(),
        system_notification_seq: 0,
        owner_id: None,
        node_id: None,
        last_seen_ms: 0,
        version: 0,
    });
    profile.public_key = public_key;
    profile.sdk_token = sdk.sdk_token.clone();
    profile.client_profile_version = sdk.client_profile_version as i32;
    profile.profile_hash = sha1(&update.profile_body).to_vec();
    profile.client_profile = update.profile_body.clone();
    if update.endpoint_access_token.is_some() {
        profile.access_token = update.endpoint_access_token.clone();
    }
    // Membership is recomputed from the new profile.
    profile.groups.clear();
    Ok(profile)
}

/// A new endpoint's server profile: the defaults of the pinned server-profile schema, or `{}`
/// when there is no schema or some field has no default (operators set it through REST).
fn default_server_profile(app: &AppContext, version: i64) -> String {
    app.schema("server_profile", version)
        .and_then(|schema| {
            let empty = Value::Object(Default::default());
            let bytes = schema.encode_json(&empty).ok()?;
            schema.decode_to_json(&bytes).ok()
        })
        .map_or_else(|| "{}".to_owned(), |defaults| defaults.to_string())
}

/// The client profile as JSON, decoded with the SDK profile's client-profile schema.
fn decode_client_profile(
    app: &AppContext,
    sdk: &SdkProfile,
    body: &[u8],
) -> Result<Value, SyncFailure> {
    if sdk.client_profile_version == 0 {
        return Ok(Value::Object(Default::default()));
    }
    let schema = app
        .schema("client_profile", sdk.client_profile_version)
        .ok_or_else(|| {
            SyncFailure::Internal(format!(
                "client-profile schema v{} is missing",
                sdk.client_profile_version
            ))
        })?;
    schema
        .decode_to_json(body)
        .map_err(|e| SyncFailure::BadRequest(format!("client profile: {e}")))
}

// --- Credentials ---

/// What the endpoint's stored credentials allow.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CredentialsVerdict {
    /// In use: the sync goes on.
    InUse,
    /// The sync goes on once these credentials (status in use) are stored: provisioned ones
    /// taken into use, or new ones an application trusting every endpoint provisions itself.
    Provision(Credentials),
    /// Withdrawn: the endpoint gets nothing more.
    Revoked,
    /// None stored, and the application's credentials service (`internal`) provisions them only
    /// through the administration API.
    NotProvisioned,
}

/// What `stored` (the endpoint's credentials, if any) allows for the application's
/// credentials service.
pub(crate) fn credentials_verdict(
    app: &AppContext,
    key_hash: &[u8],
    public_key: &[u8],
    stored: Option<Credentials>,
) -> CredentialsVerdict {
    match (stored, app.app.credentials_service.as_str()) {
        (Some(c), _) if c.status == CredentialStatus::Revoked => CredentialsVerdict::Revoked,
        (Some(c), _) if c.status == CredentialStatus::InUse => CredentialsVerdict::InUse,
        (Some(c), _) => CredentialsVerdict::Provision(Credentials {
            status: CredentialStatus::InUse,
            ..c
        }),
        (None, "internal") => CredentialsVerdict::NotProvisioned,
        (None, _) => CredentialsVerdict::Provision(Credentials {
            application_id: app.app.id.clone(),
            endpoint_key_hash: key_hash.to_vec(),
            public_key: public_key.to_vec(),
            status: CredentialStatus::InUse,
        }),
    }
}

// --- Groups and configuration ---

/// The owner's configuration as a layer over the groups' merge; a stored one that is not JSON
/// is ignored.
pub(crate) fn owner_layer(stored: Option<UserConfiguration>) -> Option<Value> {
    stored.and_then(|c| match serde_json::from_str(&c.body) {
        Ok(body) => Some(body),
        Err(error) => {
            tracing::warn!(owner = %c.owner_id, %error, "stored owner configuration is not JSON; ignored");
            None
        }
    })
}

/// What the endpoint's groups offer it under the current metadata.
#[derive(Debug)]
pub(crate) struct GroupOffer {
    /// The merge of the groups' configurations (and the owner's), when there is a schema and
    /// something to merge.
    pub(crate) configuration: Option<MergedConfiguration>,
    /// The topics of its groups, by wire id.
    pub(crate) topics: Vec<TopicInfo>,
}

/// Recomputes membership and configuration for the current metadata and profile, recording
/// groups, configuration hash and topic-list hash on the profile; the owner's configuration,
/// when there is one, overrides the groups' merge.
pub(crate) fn group_offer(
    app: &AppContext,
    sdk: &SdkProfile,
    profile: &mut EndpointProfile,
    owner_layer: Option<&Value>,
) -> Result<GroupOffer, SyncFailure> {
    let client = decode_client_profile(app, sdk, &profile.client_profile)?;
    let server: Value = serde_json::from_str(&profile.server_profile).unwrap_or(Value::Null);
    let members = membership::groups(
        app,
        Profiles {
            client_version: i64::from(profile.client_profile_version),
            client: &client,
            server_version: i64::from(profile.server_profile_version),
            server: &server,
        },
    );
    let configuration_version = sdk.configuration_version;
    let mut layers = Vec::new();
    let mut groups = Vec::new();
    for member in &members {
        let configuration = member.group.configurations.get(&configuration_version);
        if let Some((_, body)) = configuration {
            layers.push(Layer {
                weight: member.group.group.weight,
                body,
            });
        }
        groups.push(GroupState {
            group_id: member.group.group.id.clone(),
            filter_id: member.filter_id.map(str::to_owned),
            configuration_id: configuration.map(|(id, _)| id.clone()),
        });
    }
    if let Some(body) = owner_layer {
        layers.push(Layer {
            weight: i64::MAX,
            body,
        });
    }
    let configuration = match app.schema("configuration", configuration_version) {
        Some(schema) if !layers.is_empty() => Some(
            configuration::build(schema, &layers)
                .map_err(|e| SyncFailure::Internal(e.to_string()))?,
        ),
        _ => None,
    };
    let offered = topics::offered(members.iter().map(|m| m.group));
    profile.groups = groups;
    if let Some(merged) = &configuration {
        profile.configuration_hash = merged.hash.clone();
    }
    profile.topic_hash = topics::topic_list_hash(&offered);
    Ok(GroupOffer {
        configuration,
        topics: offered,
    })
}

/// The configuration answer: the whole body when the endpoint's hash is not the merge's
/// (`RESYNC`), else `NO_DELTA`.
pub(crate) fn configuration_answer(
    served: &mut ServedEndpoint,
    offer: &GroupOffer,
) -> ConfigurationSyncResponse {
    match &offer.configuration {
        Some(merged) if merged.hash != served.configuration_hash => {
            served.configuration_hash = merged.hash.clone();
            ConfigurationSyncResponse {
                response_status: SyncResponseStatus::Resync,
                conf_schema_body: None,
                conf_delta_body: Some(merged.body.clone()),
            }
        }
        _ => ConfigurationSyncResponse {
            response_status: SyncResponseStatus::NoDelta,
            conf_schema_body: None,
            conf_delta_body: None,
        },
    }
}

// --- Topics and notifications ---

/// The notifications of one subscribed topic to read: those after sequence number `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicRead {
    /// Metadata id of the topic.
    pub(crate) topic_id: String,
    /// Its wire id.
    pub(crate) wire_id: i64,
    /// The last sequence number the endpoint has.
    pub(crate) after: i32,
}

/// The notification answer as far as it is decided before stored notifications are read.
#[derive(Debug)]
pub(crate) struct TopicStep {
    /// The answer with the topic list when the endpoint's hash differs.
    pub(crate) answer: NotificationSyncResponse,
    /// Unicast notifications the endpoint accepted: delete them before unicasts are read.
    pub(crate) accepted_unicasts: Vec<String>,
    /// Topics whose new notifications to read.
    pub(crate) reads: Vec<TopicRead>,
}

/// Subscriptions (mandatory topics always, optional ones on request; stored on the profile),
/// the topic list when the endpoint's topic-list hash is not the profile's, and what to read.
pub(crate) fn topic_step(
    served: &mut ServedEndpoint,
    profile: &mut EndpointProfile,
    offer: &GroupOffer,
    request: Option<&NotificationSyncRequest>,
) -> TopicStep {
    let commands: Vec<Command> = request
        .and_then(|r| r.subscription_commands.as_ref())
        .into_iter()
        .flatten()
        .map(|c| match c.command {
            SubscriptionCommandType::Add => Command::Subscribe(c.topic_id),
            SubscriptionCommandType::Remove => Command::Unsubscribe(c.topic_id),
        })
        .collect();
    let subscribed = profile.subscriptions.iter().map(|id| topic_wire_id(id));
    let subscriptions = topics::subscriptions(&offer.topics, subscribed, &commands);
    let received: Vec<&TopicInfo> = offer
        .topics
        .iter()
        .filter(|t| subscriptions.contains(&t.wire_id))
        .collect();
    profile.subscriptions = received.iter().map(|t| t.id.clone()).collect();

    let mut answer = NotificationSyncResponse {
        response_status: SyncResponseStatus::NoDelta,
        notifications: None,
        available_topics: None,
    };
    if served.topic_list_hash != profile.topic_hash {
        served.topic_list_hash = profile.topic_hash;
        answer.available_topics = Some(offer.topics.iter().map(wire_topic).collect());
        answer.response_status = SyncResponseStatus::Delta;
    }
    let accepted_unicasts = request
        .and_then(|r| r.accepted_unicast_notifications.clone())
        .unwrap_or_default();
    let reads = received
        .iter()
        .map(|topic| TopicRead {
            topic_id: topic.id.clone(),
            wire_id: topic.wire_id,
            after: served
                .topic_states
                .get(&topic.wire_id)
                .copied()
                .unwrap_or(0),
        })
        .collect();
    TopicStep {
        answer,
        accepted_unicasts,
        reads,
    }
}

/// The stored notifications of one topic read as `read` says, on the wire; the session's
/// sequence number for the topic advances past them.
pub(crate) fn topic_notifications(
    served: &mut ServedEndpoint,
    read: &TopicRead,
    stored: Vec<StoredNotification>,
) -> Vec<Notification> {
    stored
        .into_iter()
        .map(|notification| {
            served
                .topic_states
                .insert(read.wire_id, notification.seq.max(read.after));
            Notification {
                topic_id: read.wire_id,
                notification_type: notification_type(notification.kind),
                uid: None,
                seq_number: Some(notification.seq),
                body: notification.body,
            }
        })
        .collect()
}

/// The notification answer: the topic step's, with the topic notifications and the endpoint's
/// unicasts (`DELTA` when there is any).
pub(crate) fn notification_answer(
    mut answer: NotificationSyncResponse,
    mut notifications: Vec<Notification>,
    unicasts: Vec<UnicastNotification>,
) -> NotificationSyncResponse {
    notifications.extend(unicasts.into_iter().map(|unicast| Notification {
        topic_id: topic_wire_id(&unicast.topic_id),
        notification_type: notification_type(unicast.kind),
        uid: Some(unicast.id),
        seq_number: None,
        body: unicast.body,
    }));
    if !notifications.is_empty() {
        answer.notifications = Some(notifications);
        answer.response_status = SyncResponseStatus::Delta;
    }
    answer
}

fn wire_topic(topic: &TopicInfo) -> Topic {
    Topic {
        id: topic.wire_id,
        name: topic.name.clone(),
        subscription_type: match topic.kind {
            TopicKind::Mandatory => SubscriptionType::Mandatory,
            TopicKind::Optional => SubscriptionType::Optional,
        },
    }
}

fn notification_type(kind: NotificationKind) -> NotificationType {
    match kind {
        NotificationKind::System => NotificationType::System,
        NotificationKind::User => NotificationType::Custom,
    }
}

// --- Logs ---

/// The request's log batch to collect, if it has records.
pub(crate) fn log_batch(request: &SyncRequest) -> Option<&LogSyncRequest> {
    request
        .log_sync_request
        .as_ref()
        .filter(|logs| logs.log_entries.as_ref().is_some_and(|e| !e.is_empty()))
}

/// The log answer: the batch's delivery status.
pub(crate) fn log_answer(status: LogDeliveryStatus) -> LogSyncResponse {
    LogSyncResponse {
        delivery_statuses: Some(vec![status]),
    }
}

// --- Pushes ---

/// A push's answer: `None` when it tells the endpoint nothing new.
pub(crate) fn push_answer(response: SyncResponse) -> Option<SyncResponse> {
    let changed = response.configuration_sync_response.is_some()
        || response.notification_sync_response.is_some()
        || response.user_sync_response.is_some()
        || response.event_sync_response.is_some();
    changed.then_some(response)
}

/// A section a push sends only when it changes something.
pub(crate) fn when_changed<T>(status: SyncResponseStatus, section: T) -> Option<T> {
    (status != SyncResponseStatus::NoDelta).then_some(section)
}

// --- Writes ---

/// How stale a stored last-seen time may get before a sync that changes nothing else writes it.
pub(crate) const LAST_SEEN_GRANULARITY_MS: i64 = 60_000;

/// What a sync stores at its end.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ProfileWrites<'a> {
    /// The merged configuration blob, when its hash is new to the profile.
    pub(crate) configuration: Option<&'a MergedConfiguration>,
    /// The profile.
    pub(crate) profile: EndpointProfile,
}

/// What to store of `profile` (`before`: as stored when the sync started, `None` when the sync
/// registered or updated it). Nothing when it changed only by a last-seen time within
/// [`LAST_SEEN_GRANULARITY_MS`]: a steady endpoint's syncs only read.
pub(crate) fn profile_writes<'a>(
    profile: EndpointProfile,
    before: Option<&EndpointProfile>,
    offer: &'a GroupOffer,
) -> Option<ProfileWrites<'a>> {
    if let Some(before) = before
        && unchanged(before, &profile)
    {
        return None;
    }
    let configuration = offer
        .configuration
        .as_ref()
        .filter(|merged| before.is_none_or(|b| b.configuration_hash != merged.hash));
    Some(ProfileWrites {
        configuration,
        profile,
    })
}

/// Whether `after` differs from `before` only by a last-seen time within the granularity.
fn unchanged(before: &EndpointProfile, after: &EndpointProfile) -> bool {
    after.last_seen_ms - before.last_seen_ms < LAST_SEEN_GRANULARITY_MS
        && *before
            == EndpointProfile {
                last_seen_ms: before.last_seen_ms,
                ..after.clone()
            }
}

/// The profile to write again after a concurrent write won (`current`: as stored now): it keeps
/// what the other writer changed outside this sync (server profile, and the owner unless this
/// sync changed it).
pub(crate) fn after_conflict(
    profile: &mut EndpointProfile,
    before: Option<&EndpointProfile>,
    current: EndpointProfile,
) {
    if before.is_none_or(|b| b.owner_id == profile.owner_id) {
        profile.owner_id = current.owner_id;
    }
    profile.version = current.version;
    profile.server_profile = current.server_profile;
    profile.server_profile_version = current.server_profile_version;
}
