//! Sync processing: one decoded `SyncRequest` of an endpoint in, one `SyncResponse` out.
//!
//! The flow of one request, as Kaa 0.10's Operations service runs it:
//! 1. **Meta**: the SDK token names the SDK profile and so the application and its schema
//!    versions; the endpoint is named by the SHA-1 hash of its public key.
//! 2. **Profile**: a request carrying the endpoint's public key registers it (through the
//!    application's credentials service); a profile body is decoded with the client-profile schema
//!    and stored with its SHA-1 hash. A request without a profile whose profile hash differs from
//!    the stored one gets `PROFILE_RESYNC`.
//! 3. **Groups**: membership is recomputed when the profile or the application changed.
//! 4. **Configuration**: the merge of the member groups' active configurations; the full Avro
//!    body is sent when the endpoint's hash differs.
//! 5. **Notifications**: the topic list when its hash differs, subscription commands, new topic
//!    notifications after the endpoint's sequence numbers, and unicast notifications.
//! 6. **Logs**: a batch of log records goes to the application's log appenders; its delivery
//!    status answers in the same response (see [`crate::logs`]).
//!
//! The same steps run for a [`Push`]: a change the endpoint did not ask about is turned into the
//! response it would have received had it asked, and sent unsolicited.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kaa_cluster::routing::EndpointRouter;
use kaa_idl::endpoint::crypto::sha1;
use kaa_idl::endpoint::sync::{
    ConfigurationSyncResponse, EventSyncResponse, LogSyncResponse, Notification,
    NotificationSyncRequest, NotificationSyncResponse, NotificationType, ProfileSyncRequest,
    ProfileSyncResponse, RedirectSyncResponse, SubscriptionCommandType, SubscriptionType,
    SyncRequest, SyncResponse, SyncResponseResultType, SyncResponseStatus, Topic,
};
use kaa_store::StoreError;
use kaa_store::endpoint::{
    CredentialStatus, Credentials, EndpointProfile, EndpointStore, GroupState, NotificationKind,
};
use kaa_store::metadata::{SdkProfile, TopicKind, now_ms};
use kaa_transport::{AuthFailure, Identified, SyncFailure};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::catalog::{AppContext, Catalog, CatalogError, TopicInfo, topic_wire_id};
use crate::configuration::{self, Layer};
use crate::credentials::{AuthFailures, CredentialCache};
use crate::events::EventRouting;
use crate::logs::LogCollector;
use crate::membership::{self, Profiles};
use crate::outbound::Outbound;
use crate::redirection::{self, Moment, RedirectionRules};
use crate::sessions::{Channel, LINGER, Push, Sessions};
use crate::topics::{self, Command};

/// What a session remembers between requests: who the endpoint is and what it was last sent.
#[derive(Debug)]
pub struct EndpointSession {
    /// The channel's id in the registry.
    id: u64,
    channel: Channel,
    pushes: mpsc::Sender<Push>,
    endpoint: Option<ServedEndpoint>,
    /// What the session start read to check the signature, until the first sync takes it.
    identity: Option<Identity>,
}

/// The stored profile of the endpoint a session start names (`None`: not registered), read
/// once to check the start's signature and handed to the first sync.
#[derive(Debug)]
pub struct Identity(Option<EndpointProfile>);

/// The endpoint a session serves, once its first request named it.
#[derive(Debug, Clone)]
pub(crate) struct ServedEndpoint {
    pub(crate) key_hash: Vec<u8>,
    /// The endpoint's presence id on this node, shared by all its channels; its event route is
    /// registered under it.
    pub(crate) session_id: u64,
    sdk_token: String,
    last_request_id: i32,
    /// Configuration hash the endpoint holds (what it sent or what it was last sent).
    configuration_hash: Vec<u8>,
    /// Topic-list hash the endpoint holds.
    topic_list_hash: i32,
    /// Last sequence number the endpoint has per topic wire id.
    topic_states: BTreeMap<i64, i32>,
    /// The owner the session last saw on the profile.
    pub(crate) owner_id: Option<String>,
    /// Whether the session registered its endpoint with the owner's route table.
    pub(crate) registered: bool,
    /// Highest event sequence number the endpoint sent in this session.
    pub(crate) event_seq: i32,
}

/// Turns requests into responses for the endpoints of this Operations node.
pub struct SyncProcessor {
    catalog: Arc<Catalog>,
    pub(crate) store: EndpointStore,
    pub(crate) sessions: Arc<Sessions>,
    redirection: Arc<RedirectionRules>,
    logs: Arc<LogCollector>,
    pub(crate) events: Arc<EventRouting>,
    pub(crate) router: EndpointRouter,
    pub(crate) outbound: Arc<Outbound>,
    node_id: String,
    credentials: Arc<CredentialCache>,
    auth_failures: AuthFailures,
}

/// What a processor works with besides the store and catalog.
pub struct NodeHandles {
    /// The sessions of this node.
    pub sessions: Arc<Sessions>,
    /// The load balancer's rules.
    pub redirection: Arc<RedirectionRules>,
    /// Log collection.
    pub logs: Arc<LogCollector>,
    /// Event routing.
    pub events: Arc<EventRouting>,
    /// Messages to other endpoints' sessions.
    pub router: EndpointRouter,
    /// Calls to tenants' user verifiers.
    pub outbound: Arc<Outbound>,
    /// Endpoints recently found with credentials in use.
    pub credentials: Arc<CredentialCache>,
    /// Refused identities, by reason.
    pub auth_failures: AuthFailures,
}

impl From<CatalogError> for SyncFailure {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::UnknownSdkToken => SyncFailure::BadRequest(error.to_string()),
            other => SyncFailure::Internal(other.to_string()),
        }
    }
}

pub(crate) fn internal(error: StoreError) -> SyncFailure {
    SyncFailure::Internal(format!("endpoint store: {error}"))
}

/// How many times a profile write is retried after a concurrent write won.
const SAVE_ATTEMPTS: usize = 3;

impl SyncProcessor {
    /// A processor over the catalog and store, registering sessions in `with.sessions`.
    pub fn new(
        catalog: Arc<Catalog>,
        store: EndpointStore,
        with: NodeHandles,
        node_id: String,
    ) -> Self {
        Self {
            catalog,
            store,
            sessions: with.sessions,
            redirection: with.redirection,
            logs: with.logs,
            events: with.events,
            router: with.router,
            outbound: with.outbound,
            node_id,
            credentials: with.credentials,
            auth_failures: with.auth_failures,
        }
    }

    /// A new session on `channel` whose pushes arrive on `pushes`; `identity` is what its start
    /// read.
    pub fn open(
        &self,
        pushes: mpsc::Sender<Push>,
        identity: Option<Identity>,
        channel: Channel,
    ) -> EndpointSession {
        EndpointSession {
            id: self.sessions.new_session_id(),
            channel,
            pushes,
            endpoint: None,
            identity,
        }
    }

    /// Forgets a closed session. When it was its endpoint's last channel here, the endpoint's
    /// queued events and event route stay for [`LINGER`] (an HTTP endpoint polls again), then
    /// go unless a channel came back.
    pub fn close(&self, session: EndpointSession) {
        let Some(known) = session.endpoint else {
            return;
        };
        let Some(presence) = self.sessions.unregister(&known.key_hash, session.id) else {
            return;
        };
        let sessions = self.sessions.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(LINGER).await;
            if sessions.expire(&known.key_hash, presence) {
                events.unregister(&known.key_hash, presence).await;
            }
        });
    }

    /// Reads the endpoint's stored profile at a session start: its public key checks the
    /// start's signature, and the profile goes to the first sync.
    pub async fn identify(&self, key_hash: &[u8]) -> Result<Identified<Identity>, SyncFailure> {
        let profile = self.store.profile(key_hash).await.map_err(internal)?;
        Ok(Identified {
            public_key: profile.as_ref().map(|p| p.public_key.clone()),
            identity: Identity(profile),
        })
    }

    /// Counts a session start refused by the transport.
    pub fn refused(&self, reason: AuthFailure) {
        self.auth_failures.count(reason);
    }

    /// Answers one request of `session`.
    pub async fn sync(
        &self,
        session: &mut EndpointSession,
        request: SyncRequest,
    ) -> Result<SyncResponse, SyncFailure> {
        let meta = request
            .sync_request_meta_data
            .as_ref()
            .ok_or_else(|| SyncFailure::BadRequest("request has no meta data".into()))?;
        let (sdk, app) = self.catalog.by_sdk_token(&meta.sdk_token).await?;
        let key_hash = endpoint_key_hash(&request)?;
        if let Some(known) = &session.endpoint
            && known.key_hash != key_hash
        {
            return Err(SyncFailure::BadRequest(
                "a session serves one endpoint; this request names another".into(),
            ));
        }
        let first_of_session = session.endpoint.is_none();
        let moment = if first_of_session {
            Moment::SessionStart
        } else {
            Moment::InSession
        };
        let now = std::time::Instant::now();
        if let Some(access_point_id) = self.redirection.pick(moment, redirection::draw(), now) {
            // Before anything is stored: the endpoint registers on the node it is sent to.
            tracing::debug!(?moment, access_point_id, "endpoint redirected");
            let mut response =
                SyncResponse::new(request.request_id, SyncResponseResultType::Redirect);
            response.redirect_sync_response = Some(RedirectSyncResponse { access_point_id });
            return Ok(response);
        }
        let mut response = SyncResponse::new(request.request_id, SyncResponseResultType::Success);

        // The profile as stored: read by the session start if this is its first sync.
        let stored = match session.identity.take() {
            Some(Identity(read))
                if read
                    .as_ref()
                    .is_none_or(|p| p.endpoint_key_hash == key_hash) =>
            {
                read
            }
            _ => self.store.profile(&key_hash).await.map_err(internal)?,
        };
        // What is stored, to write back only what this sync changes.
        let mut stored_before = None;
        let mut profile = match (&request.profile_sync_request, stored) {
            (Some(update), stored) => {
                let profile = self.update_profile(&app, &sdk, &key_hash, update, stored)?;
                response.profile_sync_response = Some(ProfileSyncResponse {
                    response_status: SyncResponseStatus::Delta,
                });
                profile
            }
            (None, Some(profile)) => profile,
            (None, None) => {
                response.status = SyncResponseResultType::ProfileResync;
                return Ok(response);
            }
        };
        if profile.application_id != app.app.id {
            return Err(SyncFailure::BadRequest(
                "endpoint is registered to another application".into(),
            ));
        }
        // Every sync, so a revocation holds on a live session.
        self.check_credentials(&app, &key_hash, &profile.public_key)
            .await?;
        if request.profile_sync_request.is_none() {
            if meta.profile_hash.as_deref() != Some(profile.profile_hash.as_slice()) {
                response.status = SyncResponseResultType::ProfileResync;
                return Ok(response);
            }
            stored_before = Some(profile.clone());
        }

        let presence = match &session.endpoint {
            Some(known) => known.session_id,
            None => self.sessions.register(
                &key_hash,
                &app.app.id,
                session.id,
                session.channel,
                session.pushes.clone(),
            ),
        };
        let known = session.endpoint.get_or_insert_with(|| ServedEndpoint {
            key_hash: key_hash.clone(),
            session_id: presence,
            sdk_token: sdk.sdk_token.clone(),
            last_request_id: request.request_id,
            configuration_hash: Vec::new(),
            topic_list_hash: topics::NULL_LIST_HASH,
            topic_states: BTreeMap::new(),
            owner_id: None,
            registered: false,
            event_seq: 0,
        });
        known.last_request_id = request.request_id;
        if let Some(configuration) = &request.configuration_sync_request {
            known.configuration_hash = configuration.configuration_hash.clone();
        }
        if let Some(notifications) = &request.notification_sync_request {
            known.topic_list_hash = notifications.topic_list_hash;
            for state in notifications.topic_states.iter().flatten() {
                known.topic_states.insert(state.topic_id, state.seq_number);
            }
        }
        if let Some(user) = &request.user_sync_request {
            response.user_sync_response =
                Some(self.user_sync(&app, &sdk, &mut profile, user).await?);
        }
        self.follow_owner(&app, &sdk, known, &profile).await;
        let user_layer = self.user_configuration(&app, &sdk, &profile).await?;
        let state = self.refresh(&app, &sdk, &mut profile, user_layer.as_ref())?;
        if request.configuration_sync_request.is_some() {
            response.configuration_sync_response = Some(self.configuration_answer(known, &state));
        }
        if let Some(notifications) = &request.notification_sync_request {
            let answer = self
                .notification_answer(known, &mut profile, &state, Some(notifications))
                .await?;
            response.notification_sync_response = Some(answer);
        }
        if let Some(events) = &request.event_sync_request {
            response.event_sync_response = Some(self.event_sync(&app, &sdk, known, events).await?);
        }
        if let Some(waiting) = self.waiting_events(known) {
            response
                .event_sync_response
                .get_or_insert_with(EventSyncResponse::default)
                .events = Some(waiting);
        }
        if let Some(logs) = &request.log_sync_request
            && logs.log_entries.as_ref().is_some_and(|e| !e.is_empty())
        {
            let status = self.logs.collect(&app, &sdk, &key_hash, logs).await;
            response.log_sync_response = Some(LogSyncResponse {
                delivery_statuses: Some(vec![status]),
            });
        }
        profile.last_seen_ms = now_ms();
        profile.node_id = Some(self.node_id.clone());
        self.save(profile, stored_before.as_ref(), &state).await?;
        Ok(response)
    }

    /// Turns a push into an unsolicited response for the session's endpoint; `None` when the
    /// endpoint already has everything.
    pub async fn push(
        &self,
        session: &mut EndpointSession,
        push: Push,
    ) -> Result<Option<SyncResponse>, SyncFailure> {
        let Some(known) = session.endpoint.as_mut() else {
            return Ok(None);
        };
        if push == Push::Revoked {
            self.credentials.forget(&known.key_hash);
            return Err(SyncFailure::Revoked);
        }
        let mut response =
            SyncResponse::new(known.last_request_id, SyncResponseResultType::Success);
        if push == Push::Events {
            let Some(events) = self.waiting_events(known) else {
                return Ok(None);
            };
            response.event_sync_response = Some(EventSyncResponse {
                events: Some(events),
                ..EventSyncResponse::default()
            });
            return Ok(Some(response));
        }
        let (sdk, app) = self.catalog.by_sdk_token(&known.sdk_token).await?;
        let Some(mut profile) = self
            .store
            .profile(&known.key_hash)
            .await
            .map_err(internal)?
        else {
            return Err(SyncFailure::Revoked);
        };
        self.check_credentials(&app, &known.key_hash, &profile.public_key)
            .await?;
        let stored_before = profile.clone();
        if let Push::OwnerChanged(by) = &push {
            response.user_sync_response = Self::owner_change_notice(known, &profile, by.clone());
            self.follow_owner(&app, &sdk, known, &profile).await;
        }
        let user_layer = self.user_configuration(&app, &sdk, &profile).await?;
        let state = self.refresh(&app, &sdk, &mut profile, user_layer.as_ref())?;
        let configuration = self.configuration_answer(known, &state);
        if configuration.response_status != SyncResponseStatus::NoDelta {
            response.configuration_sync_response = Some(configuration);
        }
        let notifications = self
            .notification_answer(known, &mut profile, &state, None)
            .await?;
        if notifications.response_status != SyncResponseStatus::NoDelta {
            response.notification_sync_response = Some(notifications);
        }
        self.save(profile, Some(&stored_before), &state).await?;
        // Events that arrived while this push's wake-up could not be queued go along.
        if let Some(waiting) = self.waiting_events(known) {
            response.event_sync_response = Some(EventSyncResponse {
                events: Some(waiting),
                ..EventSyncResponse::default()
            });
        }
        let changed = response.configuration_sync_response.is_some()
            || response.notification_sync_response.is_some()
            || response.user_sync_response.is_some()
            || response.event_sync_response.is_some();
        Ok(changed.then_some(response))
    }

    /// Whether the endpoint's credentials are in use (provisioning them first when the
    /// application's credentials service trusts every endpoint); an endpoint found in use is
    /// not read again for a few seconds (see [`crate::credentials`]).
    async fn check_credentials(
        &self,
        app: &AppContext,
        key_hash: &[u8],
        public_key: &[u8],
    ) -> Result<(), SyncFailure> {
        if self
            .credentials
            .admitted(&app.app.id, key_hash, std::time::Instant::now())
        {
            return Ok(());
        }
        let epoch = self.credentials.epoch();
        let stored = self
            .store
            .credentials(&app.app.id, key_hash)
            .await
            .map_err(internal)?;
        let checked = match (stored, app.app.credentials_service.as_str()) {
            (Some(c), _) if c.status == CredentialStatus::Revoked => Err(SyncFailure::Revoked),
            (Some(c), _) if c.status == CredentialStatus::InUse => Ok(()),
            (Some(c), _) => {
                let in_use = Credentials {
                    status: CredentialStatus::InUse,
                    ..c
                };
                self.store
                    .provision_credentials(&in_use)
                    .await
                    .map_err(internal)
            }
            (None, "internal") => Err(SyncFailure::VerificationFailed(
                "no credentials are provisioned for this endpoint".into(),
            )),
            (None, _) => self
                .store
                .provision_credentials(&Credentials {
                    application_id: app.app.id.clone(),
                    endpoint_key_hash: key_hash.to_vec(),
                    public_key: public_key.to_vec(),
                    status: CredentialStatus::InUse,
                })
                .await
                .map_err(internal),
        };
        match &checked {
            Ok(()) => {
                self.credentials
                    .admit(&app.app.id, key_hash, epoch, std::time::Instant::now())
            }
            Err(SyncFailure::Revoked) => self.auth_failures.count(AuthFailure::Revoked),
            Err(SyncFailure::VerificationFailed(_)) => {
                self.auth_failures.count(AuthFailure::NotProvisioned)
            }
            Err(_) => {}
        }
        checked
    }

    /// Registers the endpoint or updates its client profile (`stored`: its profile as stored).
    /// A public key sent along must be the stored one.
    fn update_profile(
        &self,
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

    /// The configuration the endpoint's owner has for its application and configuration
    /// version, if any.
    async fn user_configuration(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        profile: &EndpointProfile,
    ) -> Result<Option<Value>, SyncFailure> {
        let Some(owner) = &profile.owner_id else {
            return Ok(None);
        };
        let stored = self
            .store
            .user_configuration(owner, &app.app.id, sdk.configuration_version)
            .await
            .map_err(internal)?;
        Ok(stored.and_then(|c| match serde_json::from_str(&c.body) {
            Ok(body) => Some(body),
            Err(error) => {
                tracing::warn!(owner, %error, "stored owner configuration is not JSON; ignored");
                None
            }
        }))
    }

    /// Recomputes membership and configuration for the current metadata and profile; the
    /// owner's configuration, when there is one, overrides the groups' merge.
    fn refresh(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        profile: &mut EndpointProfile,
        user: Option<&Value>,
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
        if let Some(body) = user {
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
            offered,
        })
    }

    fn configuration_answer(
        &self,
        known: &mut ServedEndpoint,
        state: &GroupOffer,
    ) -> ConfigurationSyncResponse {
        match &state.configuration {
            Some(merged) if merged.hash != known.configuration_hash => {
                known.configuration_hash = merged.hash.clone();
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

    async fn notification_answer(
        &self,
        known: &mut ServedEndpoint,
        profile: &mut EndpointProfile,
        state: &GroupOffer,
        request: Option<&NotificationSyncRequest>,
    ) -> Result<NotificationSyncResponse, SyncFailure> {
        let now = now_ms();
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
        let subscriptions: BTreeSet<i64> =
            topics::subscriptions(&state.offered, subscribed, &commands);
        let subscription_ids: Vec<String> = state
            .offered
            .iter()
            .filter(|t| subscriptions.contains(&t.wire_id))
            .map(|t| t.id.clone())
            .collect();
        profile.subscriptions = subscription_ids;

        let mut answer = NotificationSyncResponse {
            response_status: SyncResponseStatus::NoDelta,
            notifications: None,
            available_topics: None,
        };
        if known.topic_list_hash != profile.topic_hash {
            known.topic_list_hash = profile.topic_hash;
            answer.available_topics = Some(state.offered.iter().map(wire_topic).collect());
            answer.response_status = SyncResponseStatus::Delta;
        }
        for accepted in request
            .and_then(|r| r.accepted_unicast_notifications.as_ref())
            .into_iter()
            .flatten()
        {
            self.store
                .delete_unicast(&known.key_hash, accepted)
                .await
                .map_err(internal)?;
        }
        let mut notifications = Vec::new();
        for topic in state
            .offered
            .iter()
            .filter(|t| subscriptions.contains(&t.wire_id))
        {
            let after = known.topic_states.get(&topic.wire_id).copied().unwrap_or(0);
            let stored = self
                .store
                .notifications(&topic.id, after, now)
                .await
                .map_err(internal)?;
            for notification in stored {
                known
                    .topic_states
                    .insert(topic.wire_id, notification.seq.max(after));
                notifications.push(Notification {
                    topic_id: topic.wire_id,
                    notification_type: notification_type(notification.kind),
                    uid: None,
                    seq_number: Some(notification.seq),
                    body: notification.body,
                });
            }
        }
        for unicast in self
            .store
            .unicasts(&known.key_hash, now)
            .await
            .map_err(internal)?
        {
            notifications.push(Notification {
                topic_id: topic_wire_id(&unicast.topic_id),
                notification_type: notification_type(unicast.kind),
                uid: Some(unicast.id),
                seq_number: None,
                body: unicast.body,
            });
        }
        if !notifications.is_empty() {
            answer.notifications = Some(notifications);
            answer.response_status = SyncResponseStatus::Delta;
        }
        Ok(answer)
    }

    /// Stores the profile with what was derived, retrying on a concurrent write. Nothing is
    /// written when the sync changed nothing but the last-seen time and that is recent enough:
    /// a steady endpoint's syncs only read.
    async fn save(
        &self,
        mut profile: EndpointProfile,
        before: Option<&EndpointProfile>,
        state: &GroupOffer,
    ) -> Result<(), SyncFailure> {
        if let Some(before) = before
            && unchanged(before, &profile)
        {
            return Ok(());
        }
        if let Some(merged) = &state.configuration
            && before.is_none_or(|b| b.configuration_hash != merged.hash)
        {
            self.store
                .save_configuration(&merged.hash, &merged.body)
                .await
                .map_err(internal)?;
        }
        for _ in 0..SAVE_ATTEMPTS {
            match self.store.save_profile(&profile).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(_)) => {
                    let Some(current) = self
                        .store
                        .profile(&profile.endpoint_key_hash)
                        .await
                        .map_err(internal)?
                    else {
                        return Err(SyncFailure::Revoked);
                    };
                    // Keep what the other writer changed outside this sync (server profile,
                    // and the owner unless this sync changed it).
                    if before.is_none_or(|b| b.owner_id == profile.owner_id) {
                        profile.owner_id = current.owner_id;
                    }
                    profile.version = current.version;
                    profile.server_profile = current.server_profile;
                    profile.server_profile_version = current.server_profile_version;
                }
                Err(error) => return Err(internal(error)),
            }
        }
        Err(SyncFailure::Internal(
            "the endpoint profile kept changing concurrently".into(),
        ))
    }
}

/// How stale a stored last-seen time may get before a sync that changes nothing else writes it.
const LAST_SEEN_GRANULARITY_MS: i64 = 60_000;

/// Whether `after` differs from `before` only by a last-seen time within the granularity.
fn unchanged(before: &EndpointProfile, after: &EndpointProfile) -> bool {
    after.last_seen_ms - before.last_seen_ms < LAST_SEEN_GRANULARITY_MS
        && *before
            == EndpointProfile {
                last_seen_ms: before.last_seen_ms,
                ..after.clone()
            }
}

/// What the current metadata makes of an endpoint.
struct GroupOffer {
    configuration: Option<configuration::MergedConfiguration>,
    offered: Vec<TopicInfo>,
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

/// The endpoint's key hash: from the meta data, or the SHA-1 of the public key it sends; when
/// both are present they must agree.
fn endpoint_key_hash(request: &SyncRequest) -> Result<Vec<u8>, SyncFailure> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> EndpointProfile {
        EndpointProfile {
            application_id: "app".into(),
            endpoint_key_hash: vec![1; 20],
            public_key: vec![2; 8],
            access_token: None,
            sdk_token: "sdk".into(),
            client_profile_version: 0,
            client_profile: Vec::new(),
            profile_hash: vec![3; 20],
            server_profile_version: 0,
            server_profile: "{}".into(),
            groups: Vec::new(),
            configuration_hash: vec![4; 20],
            topic_hash: 1,
            subscriptions: Vec::new(),
            system_notification_seq: 0,
            owner_id: None,
            node_id: Some("n1".into()),
            last_seen_ms: 1_000_000,
            version: 7,
        }
    }

    #[test]
    fn only_real_changes_or_an_old_last_seen_are_written() {
        let before = profile();
        let mut after = before.clone();
        after.last_seen_ms += 5_000;
        assert!(unchanged(&before, &after), "a fresh last-seen alone");
        after.last_seen_ms = before.last_seen_ms + LAST_SEEN_GRANULARITY_MS;
        assert!(!unchanged(&before, &after), "last-seen a minute old");
        let mut moved = before.clone();
        moved.node_id = Some("n2".into());
        assert!(!unchanged(&before, &moved), "another node serves it");
        let mut reconfigured = before.clone();
        reconfigured.configuration_hash = vec![5; 20];
        assert!(!unchanged(&before, &reconfigured));
    }
}
