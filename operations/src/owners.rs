//! Owners and events in a sync: attaching an endpoint to its owner (proven by a user verifier),
//! attaching and detaching other endpoints by access token, and the events an attached endpoint
//! sends, receives and asks listeners for.
//!
//! An owner is a user of the application's tenant, named by the external id its verifier vouched
//! for; its id is `<tenant id>:<user external id>` (ids of different tenants never meet), stored
//! on each attached endpoint's profile. Verifiers: `trustful` accepts any user; `http` POSTs
//! `{user_external_id, user_access_token, endpoint_key_hash}` to its URL and accepts on 2xx,
//! through [`Outbound`] (only where the operator allows; one answer to the endpoint for every
//! way of not reaching it).
//!
//! When an endpoint attaches or detaches another, the other endpoint's profile is written here
//! and its session, wherever it is, is told through the endpoint's global owner on the ring
//! ([`EndpointMessage::OwnerChanged`]); it answers with an attach or detach notification.
//! A session whose endpoint has an owner keeps a registration with the owner's route table
//! ([`crate::events`]) while it lives.

use std::time::Duration;

use kaa_cluster::routing::{EndpointAddress, EndpointMessage, Hop, ring_key};
use kaa_idl::endpoint::sync::{
    EndpointAttachResponse, EndpointDetachResponse, Event, EventListenersResponse,
    EventSequenceNumberResponse, EventSyncRequest, EventSyncResponse, SyncResponseResultType,
    UserAttachErrorCode, UserAttachNotification, UserAttachRequest, UserAttachResponse,
    UserDetachNotification, UserSyncRequest, UserSyncResponse,
};
use kaa_model::verifier::HttpVerifierSettings;
use kaa_store::StoreError;
use kaa_store::endpoint::EndpointProfile;
use kaa_store::metadata::{SdkProfile, UserVerifier};
use kaa_transport::SyncFailure;

use crate::catalog::AppContext;
use crate::events::Registration;
use crate::outbound::{Outbound, UNREACHABLE};
use crate::sync::{ServedEndpoint, SyncProcessor, internal};

/// How long an `http` verifier may take by default.
const DEFAULT_VERIFIER_TIMEOUT: Duration = Duration::from_millis(5000);

/// How many times a write of another endpoint's owner is retried after a concurrent write.
const OWNER_WRITE_ATTEMPTS: usize = 3;

/// The owner id of user `external_id` of tenant `tenant_id`.
pub fn owner_id(tenant_id: &str, external_id: &str) -> String {
    format!("{tenant_id}:{external_id}")
}

/// The user external id in an owner id.
pub fn external_id(owner_id: &str) -> &str {
    owner_id.split_once(':').map_or(owner_id, |(_, id)| id)
}

/// Why a verifier refused an owner: the code endpoints get and a reason.
type Refusal = (UserAttachErrorCode, String);

/// Asks `verifier` whether `access_token` proves user `external_id`.
pub async fn verify(
    outbound: &Outbound,
    verifier: &UserVerifier,
    external_id: &str,
    access_token: &str,
    key_hash: &[u8],
) -> Result<(), Refusal> {
    match verifier.verifier_type.as_str() {
        "trustful" => Ok(()),
        "http" => {
            let settings: HttpVerifierSettings =
                serde_json::from_str(&verifier.settings).map_err(|e| {
                    (
                        UserAttachErrorCode::InternalError,
                        format!("verifier settings: {e}"),
                    )
                })?;
            let timeout = settings
                .timeout_ms
                .map_or(DEFAULT_VERIFIER_TIMEOUT, Duration::from_millis);
            let body = serde_json::json!({
                "user_external_id": external_id,
                "user_access_token": access_token,
                "endpoint_key_hash": ring_key(key_hash),
            });
            let response = outbound
                .post_json(&settings.url, timeout, &body)
                .await
                .map_err(|error| {
                    let error = kaa_model::redact::text(&error.to_string()).into_owned();
                    tracing::warn!(verifier = %verifier.name, %error, "user verifier not reached");
                    (
                        UserAttachErrorCode::ConnectionError,
                        format!("verifier: {UNREACHABLE}"),
                    )
                })?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else if status.is_client_error() {
                Err((
                    UserAttachErrorCode::TokenInvalid,
                    format!("the verifier refused the token ({status})"),
                ))
            } else {
                Err((
                    UserAttachErrorCode::RemoteError,
                    format!("the verifier failed ({status})"),
                ))
            }
        }
        other => Err((
            UserAttachErrorCode::InternalError,
            format!("unknown verifier type {other}"),
        )),
    }
}

fn result(ok: bool) -> SyncResponseResultType {
    if ok {
        SyncResponseResultType::Success
    } else {
        SyncResponseResultType::Failure
    }
}

impl SyncProcessor {
    /// Answers a request's user section: the endpoint's own attach, then attaches and detaches of
    /// other endpoints to its owner. Changes the profile's owner in place (saved with the sync).
    pub(crate) async fn user_sync(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        profile: &mut EndpointProfile,
        request: &UserSyncRequest,
    ) -> Result<UserSyncResponse, SyncFailure> {
        let mut response = UserSyncResponse::default();
        if let Some(attach) = &request.user_attach_request {
            response.user_attach_response = Some(self.attach_self(app, sdk, profile, attach).await);
        }
        let by = profile.access_token.clone().unwrap_or_default();
        let mut attached = Vec::new();
        for attach in request.endpoint_attach_requests.iter().flatten() {
            let outcome = match &profile.owner_id {
                Some(owner) => {
                    self.set_owner_by_token(app, &attach.endpoint_access_token, owner, &by)
                        .await?
                }
                None => None,
            };
            attached.push(EndpointAttachResponse {
                request_id: attach.request_id,
                result: result(outcome.is_some()),
                endpoint_key_hash: outcome.map(|key| ring_key(&key)),
            });
        }
        let mut detached = Vec::new();
        for detach in request.endpoint_detach_requests.iter().flatten() {
            let ok = match &profile.owner_id {
                Some(owner) => {
                    self.detach_by_key(app, &detach.endpoint_key_hash, owner, &by)
                        .await?
                }
                None => false,
            };
            detached.push(EndpointDetachResponse {
                request_id: detach.request_id,
                result: result(ok),
            });
        }
        response.endpoint_attach_responses = (!attached.is_empty()).then_some(attached);
        response.endpoint_detach_responses = (!detached.is_empty()).then_some(detached);
        Ok(response)
    }

    async fn attach_self(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        profile: &mut EndpointProfile,
        request: &UserAttachRequest,
    ) -> UserAttachResponse {
        let token = if request.user_verifier_id.is_empty() {
            sdk.default_verifier_token.as_deref().unwrap_or_default()
        } else {
            request.user_verifier_id.as_str()
        };
        let outcome = match app.verifiers.get(token) {
            None => Err((
                UserAttachErrorCode::NoVerifierConfigured,
                format!("no user verifier with token {token:?}"),
            )),
            Some(verifier) => {
                verify(
                    &self.outbound,
                    verifier,
                    &request.user_external_id,
                    &request.user_access_token,
                    &profile.endpoint_key_hash,
                )
                .await
            }
        };
        match outcome {
            Ok(()) => {
                profile.owner_id = Some(owner_id(&app.app.tenant_id, &request.user_external_id));
                tracing::debug!(owner = ?profile.owner_id, "endpoint attached to its owner");
                UserAttachResponse {
                    result: SyncResponseResultType::Success,
                    error_code: None,
                    error_reason: None,
                }
            }
            Err((code, reason)) => {
                tracing::debug!(?code, %reason, "owner attach refused");
                UserAttachResponse {
                    result: SyncResponseResultType::Failure,
                    error_code: Some(code),
                    error_reason: Some(reason),
                }
            }
        }
    }

    /// Attaches the application's endpoint with access token `token` to `owner`; its key hash,
    /// or `None` when there is no such endpoint.
    async fn set_owner_by_token(
        &self,
        app: &AppContext,
        token: &str,
        owner: &str,
        by: &str,
    ) -> Result<Option<Vec<u8>>, SyncFailure> {
        let target = self
            .store
            .profile_by_access_token(&app.app.id, token)
            .await
            .map_err(internal)?;
        let Some(target) = target else {
            return Ok(None);
        };
        let key = target.endpoint_key_hash.clone();
        self.write_owner(app, target, Some(owner.to_owned()), by)
            .await?;
        Ok(Some(key))
    }

    /// Detaches the endpoint with Base64 key hash `key` from `owner`; false when it is not one
    /// of the owner's endpoints of this application.
    async fn detach_by_key(
        &self,
        app: &AppContext,
        key: &str,
        owner: &str,
        by: &str,
    ) -> Result<bool, SyncFailure> {
        use base64::Engine as _;
        let Ok(key_hash) = base64::engine::general_purpose::STANDARD.decode(key) else {
            return Ok(false);
        };
        let target = self.store.profile(&key_hash).await.map_err(internal)?;
        match target {
            Some(target)
                if target.application_id == app.app.id
                    && target.owner_id.as_deref() == Some(owner) =>
            {
                self.write_owner(app, target, None, by).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Writes another endpoint's owner (retrying after concurrent writes) and tells its session.
    async fn write_owner(
        &self,
        app: &AppContext,
        mut target: EndpointProfile,
        owner: Option<String>,
        by: &str,
    ) -> Result<(), SyncFailure> {
        for _ in 0..OWNER_WRITE_ATTEMPTS {
            target.owner_id = owner.clone();
            match self.store.save_profile(&target).await {
                Ok(_) => {
                    self.tell_owner_change(app, &target, by);
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => {
                    match self
                        .store
                        .profile(&target.endpoint_key_hash)
                        .await
                        .map_err(internal)?
                    {
                        Some(current) => target = current,
                        None => return Ok(()),
                    }
                }
                Err(error) => return Err(internal(error)),
            }
        }
        Err(SyncFailure::Internal(
            "another endpoint's profile kept changing concurrently".into(),
        ))
    }

    /// Tells the session of `target`, wherever it is, that its owner changed.
    fn tell_owner_change(&self, app: &AppContext, target: &EndpointProfile, by: &str) {
        let Some(node) = target.node_id.clone() else {
            return;
        };
        let message = EndpointMessage::OwnerChanged {
            by_access_token: by.to_owned(),
        };
        let address = EndpointAddress {
            tenant_id: app.app.tenant_id.clone(),
            app_token: app.app.app_token.clone(),
            key_hash: target.endpoint_key_hash.clone(),
        };
        let router = self.router.clone();
        tokio::spawn(async move {
            if let Err(error) = router.send(&node, Hop::Local, &address, message).await {
                tracing::debug!(%error, %node, "owner change not pushed; the endpoint sees it on its next sync");
            }
        });
    }

    /// Keeps the session's route registration in step with the profile's owner: registers when
    /// the endpoint has an owner and the session is not registered for it, withdraws when the
    /// owner went away or changed.
    pub(crate) async fn follow_owner(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        known: &mut ServedEndpoint,
        profile: &EndpointProfile,
    ) {
        if known.owner_id == profile.owner_id && known.registered {
            return;
        }
        if known.registered && known.owner_id != profile.owner_id {
            self.events
                .unregister(&known.key_hash, known.session_id)
                .await;
            known.registered = false;
        }
        known.owner_id = profile.owner_id.clone();
        let Some(owner) = &profile.owner_id else {
            return;
        };
        let registration = Registration {
            owner_id: owner.clone(),
            tenant_id: app.app.tenant_id.clone(),
            app_token: app.app.app_token.clone(),
            key_hash: known.key_hash.clone(),
            receives: app.event_classes(sdk).receives,
            session_id: known.session_id,
        };
        match self.events.register(registration).await {
            Ok(()) => known.registered = true,
            Err(error) => {
                // Registered locally anyway: the next reconciliation registers it again.
                tracing::warn!(%error, "event route not registered yet");
                known.registered = true;
            }
        }
    }

    /// Answers a request's event section: the sequence number, events sent (handed to the owner's
    /// ring owner in order) and listener queries.
    pub(crate) async fn event_sync(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        known: &mut ServedEndpoint,
        request: &EventSyncRequest,
    ) -> Result<EventSyncResponse, SyncFailure> {
        let mut response = EventSyncResponse {
            event_sequence_number_response: request.event_sequence_number_request.map(|_| {
                EventSequenceNumberResponse {
                    seq_num: known.event_seq,
                }
            }),
            event_listeners_responses: None,
            events: None,
        };
        let registration = known.owner_id.as_ref().map(|owner| Registration {
            owner_id: owner.clone(),
            tenant_id: app.app.tenant_id.clone(),
            app_token: app.app.app_token.clone(),
            key_hash: known.key_hash.clone(),
            receives: Default::default(),
            session_id: known.session_id,
        });
        let sends = app.event_classes(sdk).sends;
        for event in request.events.iter().flatten() {
            if event.seq_num <= known.event_seq && known.event_seq != 0 {
                // Sent again after a lost response: already handed over.
                continue;
            }
            known.event_seq = known.event_seq.max(event.seq_num);
            let Some(registration) = &registration else {
                tracing::debug!("event from an endpoint without an owner dropped");
                continue;
            };
            if !sends.contains(&event.event_class_fqn) {
                tracing::debug!(fqn = %event.event_class_fqn, "event of a class this endpoint may not send dropped");
                continue;
            }
            self.events
                .send(registration, event.clone())
                .await
                .map_err(|e| SyncFailure::Internal(format!("event routing: {e}")))?;
        }
        let mut answers = Vec::new();
        for query in request.event_listeners_requests.iter().flatten() {
            let listeners = match &registration {
                Some(registration) => self
                    .events
                    .listeners(registration, query.event_class_fqns.clone())
                    .await
                    .ok(),
                None => None,
            };
            answers.push(EventListenersResponse {
                request_id: query.request_id,
                result: result(listeners.is_some()),
                listeners: listeners.map(|keys| keys.iter().map(|k| ring_key(k)).collect()),
            });
        }
        response.event_listeners_responses = (!answers.is_empty()).then_some(answers);
        Ok(response)
    }

    /// The events waiting for the session, to go out with a response.
    pub(crate) fn waiting_events(&self, known: &ServedEndpoint) -> Option<Vec<Event>> {
        let events = self.sessions.take_events(&known.key_hash);
        (!events.is_empty()).then_some(events)
    }

    /// What the endpoint is told when another endpoint changed its owner.
    pub(crate) fn owner_change_notice(
        known: &ServedEndpoint,
        profile: &EndpointProfile,
        by: String,
    ) -> Option<UserSyncResponse> {
        if known.owner_id == profile.owner_id {
            return None;
        }
        let mut response = UserSyncResponse::default();
        match &profile.owner_id {
            Some(owner) => {
                response.user_attach_notification = Some(UserAttachNotification {
                    user_external_id: external_id(owner).to_owned(),
                    endpoint_access_token: by,
                })
            }
            None => {
                response.user_detach_notification = Some(UserDetachNotification {
                    endpoint_access_token: by,
                })
            }
        }
        Some(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_ids_are_scoped_by_tenant_and_give_back_the_external_id() {
        let id = owner_id("tenant-1", "alice:home");
        assert_eq!(id, "tenant-1:alice:home");
        assert_eq!(external_id(&id), "alice:home");
        assert_ne!(owner_id("tenant-2", "alice:home"), id);
    }

    #[tokio::test]
    async fn trustful_verifiers_accept_anyone_and_unknown_types_refuse() {
        let outbound = Outbound::new(kaa_model::outbound::OutboundPolicy::default()).unwrap();
        let mut verifier = UserVerifier {
            id: "v".into(),
            app_id: "a".into(),
            name: "trust".into(),
            verifier_type: "trustful".into(),
            verifier_token: "tok".into(),
            settings: "{}".into(),
            created_ms: 0,
        };
        assert!(
            verify(&outbound, &verifier, "alice", "x", b"k")
                .await
                .is_ok()
        );
        verifier.verifier_type = "oauth".into();
        assert_eq!(
            verify(&outbound, &verifier, "alice", "x", b"k")
                .await
                .unwrap_err()
                .0,
            UserAttachErrorCode::InternalError
        );
    }

    #[tokio::test]
    async fn a_refused_address_and_a_closed_port_give_the_endpoint_the_same_answer() {
        let mut verifier = UserVerifier {
            id: "v".into(),
            app_id: "a".into(),
            name: "remote".into(),
            verifier_type: "http".into(),
            verifier_token: "tok".into(),
            settings: r#"{"url": "http://127.0.0.1:9/verify", "timeout_ms": 500}"#.into(),
            created_ms: 0,
        };
        let closed = Outbound::new(kaa_model::outbound::OutboundPolicy::default()).unwrap();
        let refused = verify(&closed, &verifier, "alice", "x", b"k")
            .await
            .unwrap_err();
        let allowed =
            Outbound::new(kaa_model::outbound::OutboundPolicy::new(&["127.0.0.1"]).unwrap())
                .unwrap();
        let port_closed = verify(&allowed, &verifier, "alice", "x", b"k")
            .await
            .unwrap_err();
        assert_eq!(refused, port_closed);
        assert_eq!(refused.0, UserAttachErrorCode::ConnectionError);
        verifier.settings = r#"{"url": "http://[::ffff:169.254.169.254]/latest"}"#.into();
        assert_eq!(
            verify(&allowed, &verifier, "alice", "x", b"k")
                .await
                .unwrap_err(),
            refused
        );
    }
}
