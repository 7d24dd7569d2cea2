//! Why a sync failed, and the one mapping from each reason to what the endpoint sees on each
//! transport: a CONNACK code while a Kaatcp session starts, a DISCONNECT reason once it runs,
//! an HTTP status and body on `/EP/Sync`.
//!
//! Every refusal of an endpoint's identity (no or bad signature, a key that is not the stored
//! one, an undecryptable session key, revoked or unknown credentials) has one body on HTTP. The
//! status follows Kaa's two CONNACK codes, which Kaa's SDKs act on: a failed proof of identity
//! (CONNACK `0x05`) is 401, on which Kaa's HTTP SDK registers again (an endpoint whose profile
//! was deleted recovers); revoked or unprovisioned credentials (CONNACK `0x10`) are 403, on
//! which it stops. Which check failed is an [`AuthFailure`], kept for logs and metrics.

use kaa_idl::endpoint::kaatcp::{DisconnectReason, ReturnCode};

/// Why a sync could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncFailure {
    /// The request is malformed or names an unknown SDK token.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The session start did not prove the endpoint's identity; the reason is not shown to the
    /// endpoint.
    #[error("endpoint authentication failed")]
    Unauthenticated(AuthFailure),
    /// The endpoint's credentials are not accepted (unknown to an `internal` credentials service).
    #[error("endpoint verification failed: {0}")]
    VerificationFailed(String),
    /// The endpoint's credentials were revoked.
    #[error("endpoint credentials revoked")]
    Revoked,
    /// Something on the server failed; the endpoint may retry.
    #[error("internal error: {0}")]
    Internal(String),
    /// The node has more session starts waiting for private-key work than it queues; the
    /// endpoint may retry later.
    #[error("server overloaded")]
    Overloaded,
}

/// The one text an HTTP endpoint gets for every refusal of its identity.
pub const AUTHENTICATION_FAILED: &str = "endpoint authentication failed";

/// Which identity check refused a session start (logs and `/metrics` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// No session key where only encrypted sessions are accepted.
    Plaintext,
    /// No signature over the session key.
    NoSignature,
    /// The session key did not unwrap under the node's key (the start went on with a random
    /// key and failed at decryption, as any wrong key does).
    KeyUnwrap,
    /// The first request did not decrypt or decode under the session key (also when the key's
    /// RSA padding was bad: the RSA layer then yields a pseudo-random key, its own defence
    /// against padding oracles).
    Undecryptable,
    /// The first request names no endpoint: no key hash and no public key.
    NoEndpoint,
    /// The endpoint is not registered and did not send its public key.
    UnknownEndpoint,
    /// The public key sent is not the one stored for the key hash, or not its SHA-1.
    KeyMismatch,
    /// The signature does not verify under the endpoint's key.
    BadSignature,
    /// No credentials are provisioned for the endpoint (an `internal` credentials service).
    NotProvisioned,
    /// The endpoint's credentials were revoked.
    Revoked,
}

impl AuthFailure {
    /// The reason as a metrics label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::NoSignature => "no_signature",
            Self::KeyUnwrap => "key_unwrap",
            Self::Undecryptable => "undecryptable",
            Self::NoEndpoint => "no_endpoint",
            Self::UnknownEndpoint => "unknown_endpoint",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::NotProvisioned => "not_provisioned",
            Self::Revoked => "revoked",
        }
    }
}

impl SyncFailure {
    /// Logs a failure that ended a session or request: a fault of the server (`Internal`: a store
    /// that timed out, an appender that failed) as a warning, which an operator must see; the
    /// endpoint's own faults and overload refusals (counted in `/metrics`) at debug level.
    pub fn log(&self, what: &'static str) {
        match self {
            SyncFailure::Internal(_) => tracing::warn!(failure = %self, "{what}"),
            _ => tracing::debug!(failure = %self, "{what}"),
        }
    }

    /// The CONNACK return code when the failure ends a session start.
    pub fn connack(&self) -> ReturnCode {
        match self {
            SyncFailure::BadRequest(_) | SyncFailure::Unauthenticated(_) => {
                ReturnCode::BadCredentials
            }
            SyncFailure::VerificationFailed(_) | SyncFailure::Revoked => {
                ReturnCode::VerificationFailed
            }
            SyncFailure::Internal(_) | SyncFailure::Overloaded => ReturnCode::ServerUnavailable,
        }
    }

    /// The DISCONNECT reason when the failure ends a running session.
    pub fn disconnect(&self) -> DisconnectReason {
        match self {
            SyncFailure::BadRequest(_)
            | SyncFailure::Unauthenticated(_)
            | SyncFailure::VerificationFailed(_) => DisconnectReason::BadRequest,
            SyncFailure::Revoked => DisconnectReason::CredentialsRevoked,
            SyncFailure::Internal(_) | SyncFailure::Overloaded => DisconnectReason::InternalError,
        }
    }

    /// Whether the failure refuses the endpoint's identity (then HTTP shows nothing more).
    pub fn is_auth_refusal(&self) -> bool {
        matches!(
            self,
            SyncFailure::Unauthenticated(_)
                | SyncFailure::VerificationFailed(_)
                | SyncFailure::Revoked
        )
    }

    /// The HTTP status of a failed HTTP sync: 401 where Kaatcp answers CONNACK `0x05` to an
    /// identity refusal, 403 where it answers `0x10`.
    pub fn http_status(&self) -> u16 {
        match self {
            SyncFailure::Unauthenticated(_) => 401,
            SyncFailure::VerificationFailed(_) | SyncFailure::Revoked => 403,
            SyncFailure::Internal(_) => 500,
            SyncFailure::Overloaded => 503,
            SyncFailure::BadRequest(_) => 400,
        }
    }

    /// The plain-text body of a failed HTTP sync: the same for every identity refusal.
    pub fn http_body(&self) -> String {
        if self.is_auth_refusal() {
            AUTHENTICATION_FAILED.to_owned()
        } else {
            self.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identity_refusal_looks_the_same_over_http() {
        let refusals = [
            SyncFailure::Unauthenticated(AuthFailure::KeyUnwrap),
            SyncFailure::Unauthenticated(AuthFailure::BadSignature),
            SyncFailure::Unauthenticated(AuthFailure::Plaintext),
            SyncFailure::VerificationFailed("no credentials".into()),
            SyncFailure::Revoked,
        ];
        for refusal in &refusals {
            let status = match refusal.connack() {
                ReturnCode::BadCredentials => 401,
                _ => 403,
            };
            assert_eq!(refusal.http_status(), status, "{refusal:?}");
            assert_eq!(refusal.http_body(), AUTHENTICATION_FAILED, "{refusal:?}");
        }
        assert_eq!(
            SyncFailure::Unauthenticated(AuthFailure::KeyUnwrap).to_string(),
            SyncFailure::Unauthenticated(AuthFailure::BadSignature).to_string()
        );
        assert_eq!(SyncFailure::BadRequest("x".into()).http_status(), 400);
        assert_eq!(SyncFailure::Internal("x".into()).http_status(), 500);
        assert_eq!(SyncFailure::Overloaded.http_status(), 503);
    }

    #[test]
    fn kaatcp_refusals_use_kaa_codes() {
        assert_eq!(
            SyncFailure::Unauthenticated(AuthFailure::NoSignature).connack(),
            ReturnCode::BadCredentials
        );
        assert_eq!(
            SyncFailure::Revoked.connack(),
            ReturnCode::VerificationFailed
        );
        assert_eq!(
            SyncFailure::Revoked.disconnect(),
            DisconnectReason::CredentialsRevoked
        );
        assert_eq!(
            SyncFailure::Overloaded.connack(),
            ReturnCode::ServerUnavailable
        );
    }
}
