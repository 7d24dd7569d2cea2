//! Owners of endpoints: their ids and the user verifiers that prove them.
//!
//! An owner is a user of the application's tenant, named by the external id its verifier vouched
//! for; its id is `<tenant id>:<user external id>` (ids of different tenants never meet), stored
//! on each attached endpoint's profile. Verifiers: `trustful` accepts any user; `http` POSTs
//! `{user_external_id, user_access_token, endpoint_key_hash}` to its URL and accepts on 2xx,
//! through [`Outbound`] (only where the operator allows; one answer to the endpoint for every
//! way of not reaching it). What a sync does with owners (attaching, detaching, telling other
//! endpoints' sessions, event routes) is in [`crate::sync`].

use std::time::Duration;

use kaa_cluster::routing::ring_key;
use kaa_idl::endpoint::sync::UserAttachErrorCode;
use kaa_model::verifier::HttpVerifierSettings;
use kaa_store::metadata::UserVerifier;

use crate::outbound::{Outbound, UNREACHABLE};

/// How long an `http` verifier may take by default.
const DEFAULT_VERIFIER_TIMEOUT: Duration = Duration::from_millis(5000);

/// The owner id of user `external_id` of tenant `tenant_id`.
pub fn owner_id(tenant_id: &str, external_id: &str) -> String {
    format!("{tenant_id}:{external_id}")
}

/// The user external id in an owner id.
pub fn external_id(owner_id: &str) -> &str {
    owner_id.split_once(':').map_or(owner_id, |(_, id)| id)
}

/// Why a verifier refused an owner: the code endpoints get and a reason.
pub(crate) type Refusal = (UserAttachErrorCode, String);

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
