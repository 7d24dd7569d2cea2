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
//!
//! The rules live in `core` (`sync/core.rs`), without I/O. This module is the shell: it loads
//! what each step needs, calls the step, applies the writes it returns (profile, credentials,
//! configuration blob, unicast deletes; with retries when a concurrent write won) and routes the
//! messages (event routes, events, log batches); `owners` (`sync/owners.rs`) does the same for
//! the owner and event sections. The credentials cache and the refusal counts stay here too.
//!
//! Each sync and push runs under a deadline ([`SyncDeadline`]): one that outlives it fails, so
//! the transport ends the session (the SDK reconnects and asks again) instead of holding it
//! behind a store or a peer that went silent. What was stored before the deadline stays stored;
//! a log batch still waiting for its appenders is skipped by them, as after `delivery_wait`.

mod core;
mod owners;

use std::sync::Arc;
use std::time::Duration;

use kaa_cluster::routing::EndpointRouter;
use kaa_idl::endpoint::sync::{
    EventSyncResponse, NotificationSyncRequest, NotificationSyncResponse, ProfileSyncResponse,
    SyncRequest, SyncResponse, SyncResponseResultType, SyncResponseStatus,
};
use kaa_store::StoreError;
use kaa_store::endpoint::{EndpointProfile, EndpointStore};
use kaa_store::metadata::{SdkProfile, now_ms};
use kaa_transport::{AuthFailure, Identified, PushSender, SyncFailure};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use self::core::{CredentialsVerdict, GroupOffer, ProfileStep, ServedEndpoint};
use crate::catalog::{AppContext, Catalog, CatalogError};
use crate::configuration::StoredConfigurations;
use crate::credentials::{AuthFailures, CredentialCache};
use crate::events::EventRouting;
use crate::logs::LogCollector;
use crate::outbound::Outbound;
use crate::redirection::{self, Moment, RedirectionRules};
use crate::sessions::{Channel, LINGER, Push, Sessions};

/// What a session remembers between requests: who the endpoint is and what it was last sent.
#[derive(Debug)]
pub struct EndpointSession {
    /// The channel's id in the registry.
    id: u64,
    channel: Channel,
    pushes: PushSender<Push>,
    endpoint: Option<ServedEndpoint>,
    /// What the session start read to check the signature, until the first sync takes it;
    /// boxed, so the idle session does not keep a profile's worth of space after that.
    identity: Option<Box<Identity>>,
}

/// The stored profile of the endpoint a session start names (`None`: not registered), read
/// once to check the start's signature and handed to the first sync.
#[derive(Debug)]
pub struct Identity(Option<EndpointProfile>);

/// Turns requests into responses for the endpoints of this Operations node.
pub struct SyncProcessor {
    catalog: Arc<Catalog>,
    store: EndpointStore,
    sessions: Arc<Sessions>,
    redirection: Arc<RedirectionRules>,
    logs: Arc<LogCollector>,
    events: Arc<EventRouting>,
    router: EndpointRouter,
    outbound: Arc<Outbound>,
    node_id: String,
    credentials: Arc<CredentialCache>,
    auth_failures: AuthFailures,
    stored_configurations: StoredConfigurations,
    deadline: SyncDeadline,
}

/// The most one sync or push may take, and how many did not make it; clones share the count.
#[derive(Debug, Clone)]
pub struct SyncDeadline {
    limit: Duration,
    exceeded: Counter,
}

impl SyncDeadline {
    /// A deadline of `limit` per sync.
    pub fn new(limit: Duration) -> Self {
        Self {
            limit,
            exceeded: Counter::default(),
        }
    }

    /// Runs `work`, failing when it outlives the deadline.
    async fn bound<T>(
        &self,
        what: &'static str,
        work: impl Future<Output = Result<T, SyncFailure>>,
    ) -> Result<T, SyncFailure> {
        match tokio::time::timeout(self.limit, work).await {
            Ok(result) => result,
            Err(_) => {
                self.exceeded.inc();
                tracing::warn!(what, deadline = ?self.limit, "endpoint sync exceeded its deadline; session ended");
                Err(SyncFailure::Internal(format!(
                    "{what} took longer than its deadline of {:?}",
                    self.limit
                )))
            }
        }
    }

    /// How many syncs and pushes exceeded the deadline so far.
    pub fn exceeded(&self) -> u64 {
        self.exceeded.get()
    }

    /// Registers `kaa_sync_deadline_exceeded_total`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kaa_sync_deadline_exceeded",
            "Endpoint syncs and pushes that took longer than sync.deadline and ended their session",
            self.exceeded.clone(),
        );
    }
}

/// The parts of the node a processor reads and drives besides the store and catalog: the
/// session registry, redirection rules, log collection, event routing, the endpoint-message
/// router, outbound calls, the credentials cache and the refusal counts.
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
    /// The deadline of each sync.
    pub deadline: SyncDeadline,
}

impl From<CatalogError> for SyncFailure {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::UnknownSdkToken => SyncFailure::BadRequest(error.to_string()),
            other => SyncFailure::Internal(other.to_string()),
        }
    }
}

fn internal(error: StoreError) -> SyncFailure {
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
            stored_configurations: StoredConfigurations::default(),
            deadline: with.deadline,
        }
    }

    /// A new session on `channel` whose pushes arrive on `pushes`; `identity` is what its start
    /// read.
    pub fn open(
        &self,
        pushes: PushSender<Push>,
        identity: Option<Identity>,
        channel: Channel,
    ) -> EndpointSession {
        EndpointSession {
            id: self.sessions.new_session_id(),
            channel,
            pushes,
            endpoint: None,
            identity: identity.map(Box::new),
        }
    }

    /// Forgets a closed session. When it was its endpoint's last channel here, the endpoint's
    /// queued events and event route stay for [`LINGER`] (an HTTP endpoint polls again), then
    /// go unless a channel came back.
    pub fn close(&self, session: EndpointSession) {
        let Some(served) = session.endpoint else {
            return;
        };
        let Some(presence) = self.sessions.unregister(&served.key_hash, session.id) else {
            return;
        };
        let sessions = self.sessions.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(LINGER).await;
            if sessions.expire(&served.key_hash, presence) {
                events.unregister(&served.key_hash, presence).await;
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

    /// Answers one request of `session` within the sync deadline.
    pub async fn sync(
        &self,
        session: &mut EndpointSession,
        request: SyncRequest,
    ) -> Result<SyncResponse, SyncFailure> {
        self.deadline
            .bound("sync", self.answer(session, request))
            .await
    }

    async fn answer(
        &self,
        session: &mut EndpointSession,
        request: SyncRequest,
    ) -> Result<SyncResponse, SyncFailure> {
        let meta = request
            .sync_request_meta_data
            .as_ref()
            .ok_or_else(|| SyncFailure::BadRequest("request has no meta data".into()))?;
        let (sdk, app) = self.catalog.by_sdk_token(&meta.sdk_token).await?;
        let key_hash = core::endpoint_key_hash(&request)?;
        core::same_endpoint(session.endpoint.as_ref(), &key_hash)?;
        let moment = if session.endpoint.is_none() {
            Moment::SessionStart
        } else {
            Moment::InSession
        };
        let now = std::time::Instant::now();
        if let Some(access_point_id) = self.redirection.pick(moment, redirection::draw(), now) {
            tracing::debug!(?moment, access_point_id, "endpoint redirected");
            return Ok(core::redirect(request.request_id, access_point_id));
        }

        // The profile as stored: read by the session start if this is its first sync.
        let stored = match session.identity.take().map(|identity| *identity) {
            Some(Identity(read))
                if read
                    .as_ref()
                    .is_none_or(|p| p.endpoint_key_hash == key_hash) =>
            {
                read
            }
            _ => self.store.profile(&key_hash).await.map_err(internal)?,
        };
        let (mut profile, was_stored, in_step) =
            match core::profile_step(&app, &sdk, &key_hash, &request, stored)? {
                ProfileStep::Resync => return Ok(core::profile_resync(request.request_id)),
                ProfileStep::Sent(profile) => (profile, false, true),
                ProfileStep::Stored { profile, in_step } => (profile, true, in_step),
            };
        // Every sync, so a revocation holds on a live session.
        self.check_credentials(&app, &key_hash, &profile.public_key)
            .await?;
        if !in_step {
            return Ok(core::profile_resync(request.request_id));
        }
        let mut response = SyncResponse::new(request.request_id, SyncResponseResultType::Success);
        if !was_stored {
            response.profile_sync_response = Some(ProfileSyncResponse {
                response_status: SyncResponseStatus::Delta,
            });
        }
        // What is stored, to write back only what this sync changes.
        let stored_before = was_stored.then(|| profile.clone());

        let presence = match &session.endpoint {
            Some(served) => served.session_id,
            None => self.sessions.register(
                &key_hash,
                &app.app.id,
                session.id,
                session.channel,
                session.pushes.clone(),
            ),
        };
        let served = session.endpoint.get_or_insert_with(|| {
            ServedEndpoint::new(key_hash.clone(), presence, sdk.sdk_token.clone())
        });
        served.note_request(&request);
        if let Some(user) = &request.user_sync_request {
            response.user_sync_response =
                Some(self.user_sync(&app, &sdk, &mut profile, user).await?);
        }
        self.follow_owner(&app, &sdk, served, &profile).await;
        let offer = self.group_offer(&app, &sdk, &mut profile).await?;
        if request.configuration_sync_request.is_some() {
            response.configuration_sync_response = Some(core::configuration_answer(served, &offer));
        }
        if let Some(notifications) = &request.notification_sync_request {
            let answer = self
                .notifications(served, &mut profile, &offer, Some(notifications))
                .await?;
            response.notification_sync_response = Some(answer);
        }
        if let Some(events) = &request.event_sync_request {
            response.event_sync_response = Some(self.event_sync(&app, &sdk, served, events).await?);
        }
        if let Some(waiting) = self.waiting_events(served) {
            response
                .event_sync_response
                .get_or_insert_with(EventSyncResponse::default)
                .events = Some(waiting);
        }
        if let Some(batch) = core::log_batch(&request) {
            let status = self.logs.collect(&app, &sdk, &key_hash, batch).await;
            response.log_sync_response = Some(core::log_answer(status));
        }
        profile.last_seen_ms = now_ms();
        profile.node_id = Some(self.node_id.clone());
        self.save(profile, stored_before.as_ref(), &offer).await?;
        Ok(response)
    }

    /// Turns a push into an unsolicited response for the session's endpoint; `None` when the
    /// endpoint already has everything.
    pub async fn push(
        &self,
        session: &mut EndpointSession,
        push: Push,
    ) -> Result<Option<SyncResponse>, SyncFailure> {
        self.deadline
            .bound("push", self.push_unbounded(session, push))
            .await
    }

    async fn push_unbounded(
        &self,
        session: &mut EndpointSession,
        push: Push,
    ) -> Result<Option<SyncResponse>, SyncFailure> {
        let Some(served) = session.endpoint.as_mut() else {
            return Ok(None);
        };
        if push == Push::Revoked {
            self.credentials.forget(&served.key_hash);
            return Err(SyncFailure::Revoked);
        }
        let mut response =
            SyncResponse::new(served.last_request_id, SyncResponseResultType::Success);
        if push == Push::Events {
            let Some(events) = self.waiting_events(served) else {
                return Ok(None);
            };
            response.event_sync_response = Some(EventSyncResponse {
                events: Some(events),
                ..EventSyncResponse::default()
            });
            return Ok(Some(response));
        }
        let (sdk, app) = self.catalog.by_sdk_token(&served.sdk_token).await?;
        let Some(mut profile) = self
            .store
            .profile(&served.key_hash)
            .await
            .map_err(internal)?
        else {
            return Err(SyncFailure::Revoked);
        };
        self.check_credentials(&app, &served.key_hash, &profile.public_key)
            .await?;
        let stored_before = profile.clone();
        if let Push::OwnerChanged(by) = &push {
            response.user_sync_response = core::owner_change_notice(served, &profile, by.clone());
            self.follow_owner(&app, &sdk, served, &profile).await;
        }
        let offer = self.group_offer(&app, &sdk, &mut profile).await?;
        let configuration = core::configuration_answer(served, &offer);
        response.configuration_sync_response =
            core::when_changed(configuration.response_status, configuration);
        let notifications = self
            .notifications(served, &mut profile, &offer, None)
            .await?;
        response.notification_sync_response =
            core::when_changed(notifications.response_status, notifications);
        self.save(profile, Some(&stored_before), &offer).await?;
        // Events that arrived while this push's wake-up could not be queued go along.
        if let Some(waiting) = self.waiting_events(served) {
            response.event_sync_response = Some(EventSyncResponse {
                events: Some(waiting),
                ..EventSyncResponse::default()
            });
        }
        Ok(core::push_answer(response))
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
        let checked = match core::credentials_verdict(app, key_hash, public_key, stored) {
            CredentialsVerdict::InUse => Ok(()),
            CredentialsVerdict::Provision(in_use) => self
                .store
                .provision_credentials(&in_use)
                .await
                .map_err(internal),
            CredentialsVerdict::Revoked => Err(SyncFailure::Revoked),
            CredentialsVerdict::NotProvisioned => Err(SyncFailure::VerificationFailed(
                "no credentials are provisioned for this endpoint".into(),
            )),
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

    /// What the endpoint's groups offer it now, with its owner's configuration (read for its
    /// application and configuration version) on top.
    async fn group_offer(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        profile: &mut EndpointProfile,
    ) -> Result<GroupOffer, SyncFailure> {
        let stored = match &profile.owner_id {
            Some(owner) => self
                .store
                .user_configuration(owner, &app.app.id, sdk.configuration_version)
                .await
                .map_err(internal)?,
            None => None,
        };
        let layer = core::owner_layer(stored);
        core::group_offer(app, sdk, profile, layer.as_ref())
    }

    /// The notification answer: deletes the unicasts the endpoint accepted, then reads the new
    /// notifications of the topics it receives and its unicasts.
    async fn notifications(
        &self,
        served: &mut ServedEndpoint,
        profile: &mut EndpointProfile,
        offer: &GroupOffer,
        request: Option<&NotificationSyncRequest>,
    ) -> Result<NotificationSyncResponse, SyncFailure> {
        let now = now_ms();
        let step = core::topic_step(served, profile, offer, request);
        for accepted in &step.accepted_unicasts {
            self.store
                .delete_unicast(&served.key_hash, accepted)
                .await
                .map_err(internal)?;
        }
        let mut notifications = Vec::new();
        for read in &step.reads {
            let stored = self
                .store
                .notifications(&read.topic_id, read.after, now)
                .await
                .map_err(internal)?;
            notifications.extend(core::topic_notifications(served, read, stored));
        }
        let unicasts = self
            .store
            .unicasts(&served.key_hash, now)
            .await
            .map_err(internal)?;
        Ok(core::notification_answer(
            step.answer,
            notifications,
            unicasts,
        ))
    }

    /// Stores the profile with what was derived, retrying on a concurrent write. Nothing is
    /// written when the sync changed nothing but the last-seen time and that is recent enough.
    async fn save(
        &self,
        profile: EndpointProfile,
        before: Option<&EndpointProfile>,
        offer: &GroupOffer,
    ) -> Result<(), SyncFailure> {
        let Some(writes) = core::profile_writes(profile, before, offer) else {
            return Ok(());
        };
        if let Some(merged) = writes.configuration {
            self.stored_configurations
                .save_once(&merged.hash, || {
                    self.store.save_configuration(&merged.hash, &merged.body)
                })
                .await
                .map_err(internal)?;
        }
        let mut profile = writes.profile;
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
                    core::after_conflict(&mut profile, before, current);
                }
                Err(error) => return Err(internal(error)),
            }
        }
        Err(SyncFailure::Internal(
            "the endpoint profile kept changing concurrently".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sync_past_its_deadline_fails_and_is_counted() {
        let deadline = SyncDeadline::new(Duration::from_millis(50));
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        };
        let started = std::time::Instant::now();
        let result = deadline.bound("sync", slow).await;
        assert!(
            matches!(result, Err(SyncFailure::Internal(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(deadline.exceeded(), 1);
        let quick = deadline.bound("push", async { Ok(7) }).await;
        assert!(matches!(quick, Ok(7)));
        assert_eq!(deadline.exceeded(), 1, "a sync in time is not counted");
    }

    /// Every connected endpoint keeps one of these for as long as it stays: what is needed
    /// only at the start (the profile read to check the signature) must not widen it.
    #[test]
    fn an_idle_session_stays_small() {
        let size = std::mem::size_of::<EndpointSession>();
        assert!(size <= 256, "an endpoint session takes {size} bytes");
    }
}
