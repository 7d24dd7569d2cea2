//! The owner and event rules of a sync, without I/O: the answers to attaching the endpoint to
//! its owner and attaching or detaching other endpoints, the owner writes and notices those
//! make, the session's event-route registration, and which sent events are routed.

use std::collections::BTreeSet;

use base64::Engine as _;
use kaa_cluster::routing::{EndpointAddress, EndpointMessage, ring_key};
use kaa_idl::endpoint::sync::{
    EndpointAttachRequest, EndpointAttachResponse, EndpointDetachRequest, EndpointDetachResponse,
    Event, EventListenersRequest, EventListenersResponse, EventSequenceNumberResponse,
    EventSyncRequest, EventSyncResponse, SyncResponseResultType, UserAttachErrorCode,
    UserAttachNotification, UserAttachRequest, UserAttachResponse, UserDetachNotification,
    UserSyncResponse,
};
use kaa_store::endpoint::EndpointProfile;
use kaa_store::metadata::{SdkProfile, UserVerifier};

use super::ServedEndpoint;
use crate::catalog::AppContext;
use crate::events::Registration;
use crate::owners::{Refusal, external_id, owner_id};

/// The verifier an attach request names (by token; the SDK profile's default when it names
/// none).
pub(crate) fn verifier_for<'a>(
    app: &'a AppContext,
    sdk: &SdkProfile,
    request: &UserAttachRequest,
) -> Result<&'a UserVerifier, Refusal> {
    let token = if request.user_verifier_id.is_empty() {
        sdk.default_verifier_token.as_deref().unwrap_or_default()
    } else {
        request.user_verifier_id.as_str()
    };
    app.verifiers.get(token).ok_or_else(|| {
        (
            UserAttachErrorCode::NoVerifierConfigured,
            format!("no user verifier with token {token:?}"),
        )
    })
}

/// The answer to the endpoint's own attach, given what the verifier said; on success the
/// profile gets its owner (stored with the sync).
pub(crate) fn attach_self(
    app: &AppContext,
    profile: &mut EndpointProfile,
    request: &UserAttachRequest,
    verdict: Result<(), Refusal>,
) -> UserAttachResponse {
    match verdict {
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

/// Another endpoint's profile to store with a new owner (`None`: detached).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OwnerWrite {
    /// The other endpoint's profile as read.
    pub(crate) target: EndpointProfile,
    /// Its new owner.
    pub(crate) owner: Option<String>,
}

/// The answer to attaching the endpoint with an access token to `owner` (the requester's
/// owner; none: nothing is attached), given the endpoint found with that token.
pub(crate) fn attach_other(
    owner: Option<&str>,
    request: &EndpointAttachRequest,
    target: Option<EndpointProfile>,
) -> (EndpointAttachResponse, Option<OwnerWrite>) {
    let write = owner.zip(target).map(|(owner, target)| OwnerWrite {
        target,
        owner: Some(owner.to_owned()),
    });
    let answer = EndpointAttachResponse {
        request_id: request.request_id,
        result: result(write.is_some()),
        endpoint_key_hash: write
            .as_ref()
            .map(|w| ring_key(&w.target.endpoint_key_hash)),
    };
    (answer, write)
}

/// The key hash a detach request names (Base64), if it is one.
pub(crate) fn detach_key(request: &EndpointDetachRequest) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(&request.endpoint_key_hash)
        .ok()
}

/// The answer to detaching another endpoint from `owner`, given the endpoint read under the
/// request's key: only one of `owner`'s endpoints of this application is detached.
pub(crate) fn detach_other(
    app: &AppContext,
    owner: Option<&str>,
    request: &EndpointDetachRequest,
    target: Option<EndpointProfile>,
) -> (EndpointDetachResponse, Option<OwnerWrite>) {
    let write = target
        .filter(|t| {
            t.application_id == app.app.id && owner.is_some() && t.owner_id.as_deref() == owner
        })
        .map(|target| OwnerWrite {
            target,
            owner: None,
        });
    let answer = EndpointDetachResponse {
        request_id: request.request_id,
        result: result(write.is_some()),
    };
    (answer, write)
}

/// The notice for the session of an endpoint whose owner another endpoint (access token `by`)
/// changed, and the node serving it (none: it has no session; it sees the change on its next
/// sync).
pub(crate) fn owner_change_route(
    app: &AppContext,
    target: &EndpointProfile,
    by: &str,
) -> Option<(String, EndpointAddress, EndpointMessage)> {
    let node = target.node_id.clone()?;
    let address = EndpointAddress {
        tenant_id: app.app.tenant_id.clone(),
        app_token: app.app.app_token.clone(),
        key_hash: target.endpoint_key_hash.clone(),
    };
    let message = EndpointMessage::OwnerChanged {
        by_access_token: by.to_owned(),
    };
    Some((node, address, message))
}

/// What the endpoint is told when another endpoint (access token `by`) changed its owner;
/// nothing when the session already saw that owner.
pub(crate) fn owner_change_notice(
    served: &ServedEndpoint,
    profile: &EndpointProfile,
    by: String,
) -> Option<UserSyncResponse> {
    if served.owner_id == profile.owner_id {
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

/// How the session's registration with its owner's route table changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RouteChange {
    /// Withdraw the registration the session holds (its owner went away or changed).
    pub(crate) withdraw: bool,
    /// Register the endpoint with its owner's route table.
    pub(crate) register: Option<Registration>,
}

/// Keeps the session's route registration in step with the profile's owner: register when the
/// endpoint has an owner the session is not registered for, withdraw when the owner went away
/// or changed. The session counts as registered once the registration is asked for (a failed
/// one is registered again by the next reconciliation).
pub(crate) fn follow_owner(
    app: &AppContext,
    sdk: &SdkProfile,
    served: &mut ServedEndpoint,
    profile: &EndpointProfile,
) -> RouteChange {
    if served.owner_id == profile.owner_id && served.registered {
        return RouteChange::default();
    }
    let withdraw = served.registered;
    served.registered = false;
    served.owner_id = profile.owner_id.clone();
    let register = profile.owner_id.as_ref().map(|owner| {
        served.registered = true;
        Registration {
            receives: app.event_classes(sdk).receives,
            ..registration(app, served, owner)
        }
    });
    RouteChange { withdraw, register }
}

/// The registration events the endpoint sends go out under (its owner's; none without one).
pub(crate) fn event_registration(
    app: &AppContext,
    served: &ServedEndpoint,
) -> Option<Registration> {
    served
        .owner_id
        .as_ref()
        .map(|owner| registration(app, served, owner))
}

fn registration(app: &AppContext, served: &ServedEndpoint, owner: &str) -> Registration {
    Registration {
        owner_id: owner.to_owned(),
        tenant_id: app.app.tenant_id.clone(),
        app_token: app.app.app_token.clone(),
        key_hash: served.key_hash.clone(),
        receives: Default::default(),
        session_id: served.session_id,
    }
}

/// The event section's answer before events and listener queries: the sequence number when
/// asked for.
pub(crate) fn event_answer(
    served: &ServedEndpoint,
    request: &EventSyncRequest,
) -> EventSyncResponse {
    EventSyncResponse {
        event_sequence_number_response: request.event_sequence_number_request.map(|_| {
            EventSequenceNumberResponse {
                seq_num: served.event_seq,
            }
        }),
        event_listeners_responses: None,
        events: None,
    }
}

/// Whether `event` goes to the owner's route table: not one sent again after a lost response,
/// and only from an endpoint with an owner (`owned`) for a class it may send (`sends`). Every
/// new event advances the session's sequence number, routed or dropped.
pub(crate) fn accept_event(
    served: &mut ServedEndpoint,
    owned: bool,
    sends: &BTreeSet<String>,
    event: &Event,
) -> bool {
    if event.seq_num <= served.event_seq && served.event_seq != 0 {
        // Sent again after a lost response: already handed over.
        return false;
    }
    served.event_seq = served.event_seq.max(event.seq_num);
    if !owned {
        tracing::debug!("event from an endpoint without an owner dropped");
        return false;
    }
    if !sends.contains(&event.event_class_fqn) {
        tracing::debug!(fqn = %event.event_class_fqn, "event of a class this endpoint may not send dropped");
        return false;
    }
    true
}

/// The answer to a listener query, given the listeners found (none: the query failed or the
/// endpoint has no owner).
pub(crate) fn listeners_answer(
    query: &EventListenersRequest,
    listeners: Option<Vec<Vec<u8>>>,
) -> EventListenersResponse {
    EventListenersResponse {
        request_id: query.request_id,
        result: result(listeners.is_some()),
        listeners: listeners.map(|keys| keys.iter().map(|k| ring_key(k)).collect()),
    }
}

fn result(ok: bool) -> SyncResponseResultType {
    if ok {
        SyncResponseResultType::Success
    } else {
        SyncResponseResultType::Failure
    }
}
