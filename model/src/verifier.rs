//! User verifiers as both sides see them: Control checks an `http` verifier's settings with
//! [`HttpVerifierSettings`] before storing it, Operations reads them back to call the verifier.

use serde::Deserialize;

use crate::appender::{InvalidSetting, check_http_url};

/// The user verifier types.
pub const VERIFIER_TYPES: [&str; 2] = ["trustful", "http"];

/// `http`: the endpoint's user id and access token are POSTed to `url`; 2xx verifies them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpVerifierSettings {
    /// Where verification requests go.
    pub url: String,
    /// Per-request timeout (default 5000).
    pub timeout_ms: Option<u64>,
}

impl HttpVerifierSettings {
    /// Checks the URL and timeout.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        check_http_url("settings.url", &self.url)?;
        if self.timeout_ms.is_some_and(|t| t == 0 || t > 60_000) {
            return Err(InvalidSetting {
                field: "settings.timeout_ms".into(),
                message: "must be between 1 and 60000".into(),
            });
        }
        Ok(())
    }
}
