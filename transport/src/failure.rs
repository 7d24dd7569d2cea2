//! Why a sync failed, and the one mapping from each reason to what the endpoint sees on each
//! transport: a CONNACK code while a Kaatcp session starts, a DISCONNECT reason once it runs,
//! an HTTP status on `/EP/Sync`.

use kaa_idl::endpoint::kaatcp::{DisconnectReason, ReturnCode};

/// Why a sync could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncFailure {
    /// The request is malformed, undecryptable, badly signed or names an unknown SDK token.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The endpoint's credentials are not accepted (unknown to an `internal` credentials service).
    #[error("endpoint verification failed: {0}")]
    VerificationFailed(String),
    /// The endpoint's credentials were revoked.
    #[error("endpoint credentials revoked")]
    Revoked,
    /// Something on the server failed; the endpoint may retry.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SyncFailure {
    /// The CONNACK return code when the failure ends a session start.
    pub fn connack(&self) -> ReturnCode {
        match self {
            SyncFailure::BadRequest(_) => ReturnCode::BadCredentials,
            SyncFailure::VerificationFailed(_) | SyncFailure::Revoked => {
                ReturnCode::VerificationFailed
            }
            SyncFailure::Internal(_) => ReturnCode::ServerUnavailable,
        }
    }

    /// The DISCONNECT reason when the failure ends a running session.
    pub fn disconnect(&self) -> DisconnectReason {
        match self {
            SyncFailure::BadRequest(_) | SyncFailure::VerificationFailed(_) => {
                DisconnectReason::BadRequest
            }
            SyncFailure::Revoked => DisconnectReason::CredentialsRevoked,
            SyncFailure::Internal(_) => DisconnectReason::InternalError,
        }
    }

    /// The HTTP status of a failed HTTP sync.
    pub fn http_status(&self) -> u16 {
        match self {
            SyncFailure::BadRequest(_) => 400,
            SyncFailure::VerificationFailed(_) => 401,
            SyncFailure::Revoked => 403,
            SyncFailure::Internal(_) => 500,
        }
    }
}
