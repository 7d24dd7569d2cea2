//! The shell's half of owners and events in a sync: it asks the user verifier, reads and writes
//! other endpoints' profiles, tells their sessions, keeps the session's event route and hands
//! events to the owner's route table, around the rules of [`super::core`].
//!
//! When an endpoint attaches or detaches another, the other endpoint's profile is written here
//! and its session, wherever it is, is told through the endpoint's global owner on the ring
//! ([`kaa_cluster::routing::EndpointMessage::OwnerChanged`]); it answers with an attach or detach
//! notification. A session whose endpoint has an owner keeps a registration with the owner's
//! route table ([`crate::events`]) while it lives.

use kaa_cluster::routing::Hop;
use kaa_idl::endpoint::sync::{
    Event, EventSyncRequest, EventSyncResponse, UserSyncRequest, UserSyncResponse,
};
use kaa_store::StoreError;
use kaa_store::endpoint::EndpointProfile;
use kaa_store::metadata::SdkProfile;
use kaa_transport::SyncFailure;

use super::core::{self, OwnerWrite, ServedEndpoint};
use super::{SyncProcessor, internal};
use crate::catalog::AppContext;
use crate::owners::verify;

/// How many times a write of another endpoint's owner is retried after a concurrent write.
const OWNER_WRITE_ATTEMPTS: usize = 3;

impl SyncProcessor {
    /// Answers a request's user section: the endpoint's own attach, then attaches and detaches of
    /// other endpoints to its owner. Changes the profile's owner in place (saved with the sync).
    pub(super) async fn user_sync(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        profile: &mut EndpointProfile,
        request: &UserSyncRequest,
    ) -> Result<UserSyncResponse, SyncFailure> {
        let mut response = UserSyncResponse::default();
        if let Some(attach) = &request.user_attach_request {
            let verdict = match core::verifier_for(app, sdk, attach) {
                Ok(verifier) => {
                    verify(
                        &self.outbound,
                        verifier,
                        &attach.user_external_id,
                        &attach.user_access_token,
                        &profile.endpoint_key_hash,
                    )
                    .await
                }
                Err(refusal) => Err(refusal),
            };
            response.user_attach_response = Some(core::attach_self(app, profile, attach, verdict));
        }
        let by = profile.access_token.clone().unwrap_or_default();
        let mut attached = Vec::new();
        for attach in request.endpoint_attach_requests.iter().flatten() {
            let owner = profile.owner_id.as_deref();
            let target = match owner {
                Some(_) => self
                    .store
                    .profile_by_access_token(&app.app.id, &attach.endpoint_access_token)
                    .await
                    .map_err(internal)?,
                None => None,
            };
            let (answer, write) = core::attach_other(owner, attach, target);
            if let Some(write) = write {
                self.write_owner(app, write, &by).await?;
            }
            attached.push(answer);
        }
        let mut detached = Vec::new();
        for detach in request.endpoint_detach_requests.iter().flatten() {
            let owner = profile.owner_id.as_deref();
            let target = match (owner, core::detach_key(detach)) {
                (Some(_), Some(key_hash)) => {
                    self.store.profile(&key_hash).await.map_err(internal)?
                }
                _ => None,
            };
            let (answer, write) = core::detach_other(app, owner, detach, target);
            if let Some(write) = write {
                self.write_owner(app, write, &by).await?;
            }
            detached.push(answer);
        }
        response.endpoint_attach_responses = (!attached.is_empty()).then_some(attached);
        response.endpoint_detach_responses = (!detached.is_empty()).then_some(detached);
        Ok(response)
    }

    /// Writes another endpoint's owner (retrying after concurrent writes) and tells its session
    /// in the background (`by`: the access token of the endpoint that made the change).
    async fn write_owner(
        &self,
        app: &AppContext,
        write: OwnerWrite,
        by: &str,
    ) -> Result<(), SyncFailure> {
        let mut target = write.target;
        for _ in 0..OWNER_WRITE_ATTEMPTS {
            target.owner_id = write.owner.clone();
            match self.store.save_profile(&target).await {
                Ok(_) => {
                    if let Some((node, address, message)) =
                        core::owner_change_route(app, &target, by)
                    {
                        let router = self.router.clone();
                        tokio::spawn(async move {
                            if let Err(error) =
                                router.send(&node, Hop::Local, &address, message).await
                            {
                                tracing::debug!(%error, %node, "owner change not pushed; the endpoint sees it on its next sync");
                            }
                        });
                    }
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

    /// Keeps the session's route registration in step with the profile's owner.
    pub(super) async fn follow_owner(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        served: &mut ServedEndpoint,
        profile: &EndpointProfile,
    ) {
        let change = core::follow_owner(app, sdk, served, profile);
        if change.withdraw {
            self.events
                .unregister(&served.key_hash, served.session_id)
                .await;
        }
        if let Some(registration) = change.register
            && let Err(error) = self.events.register(registration).await
        {
            // Counted as registered anyway: the next reconciliation registers it again.
            tracing::warn!(%error, "event route not registered yet");
        }
    }

    /// Answers a request's event section: the sequence number, events sent (handed to the owner's
    /// ring owner in order) and listener queries.
    pub(super) async fn event_sync(
        &self,
        app: &AppContext,
        sdk: &SdkProfile,
        served: &mut ServedEndpoint,
        request: &EventSyncRequest,
    ) -> Result<EventSyncResponse, SyncFailure> {
        let mut response = core::event_answer(served, request);
        let registration = core::event_registration(app, served);
        let sends = app.event_classes(sdk).sends;
        for event in request.events.iter().flatten() {
            if core::accept_event(served, registration.is_some(), &sends, event)
                && let Some(registration) = &registration
            {
                self.events
                    .send(registration, event.clone())
                    .await
                    .map_err(|e| SyncFailure::Internal(format!("event routing: {e}")))?;
            }
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
            answers.push(core::listeners_answer(query, listeners));
        }
        response.event_listeners_responses = (!answers.is_empty()).then_some(answers);
        Ok(response)
    }

    /// The events waiting for the session, to go out with a response.
    pub(super) fn waiting_events(&self, served: &ServedEndpoint) -> Option<Vec<Event>> {
        let events = self.sessions.take_events(&served.key_hash);
        (!events.is_empty()).then_some(events)
    }
}
