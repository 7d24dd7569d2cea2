//! The `rest` appender: each batch POSTed to a URL as a JSON array of `{header, event}`; any 2xx
//! answer stores it. A failed attempt (no answer, timeout, 5xx) is retried `retries` times with a
//! growing pause; a 4xx is not retried. Calls go through [`Outbound`]: only to addresses the
//! operator allows, no redirects followed; every failure to get an answer is one connection error.

use std::sync::Arc;
use std::time::Duration;

use kaa_model::appender::{HeaderField, RestSettings};
use serde_json::Value;

use super::SinkError;
use super::record::LogBatch;
use crate::outbound::Outbound;

/// Default per-attempt timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);
/// Default further attempts.
const DEFAULT_RETRIES: u32 = 2;
/// Pause before the first retry; doubled before each next one.
const FIRST_PAUSE: Duration = Duration::from_millis(200);

/// A REST appender.
pub struct RestSink {
    outbound: Arc<Outbound>,
    url: String,
    timeout: Duration,
    retries: u32,
    fields: Vec<HeaderField>,
}

impl RestSink {
    /// A sink posting to the appender's URL through `outbound`.
    pub fn new(outbound: Arc<Outbound>, settings: &RestSettings, fields: Vec<HeaderField>) -> Self {
        Self {
            outbound,
            url: settings.url.clone(),
            timeout: settings
                .timeout_ms
                .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
            retries: settings.retries.unwrap_or(DEFAULT_RETRIES),
            fields,
        }
    }

    /// Posts `batch`, retrying failed attempts.
    pub async fn write(&self, batch: &LogBatch) -> Result<(), SinkError> {
        let body = Value::Array(batch.documents(&self.fields).collect());
        let mut pause = FIRST_PAUSE;
        let mut attempt = 0;
        loop {
            let outcome = self
                .outbound
                .post_json(&self.url, self.timeout, &body)
                .await;
            let error = match outcome {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) if response.status().is_client_error() => {
                    return Err(SinkError::Remote(format!(
                        "{} answered {}",
                        self.url,
                        response.status()
                    )));
                }
                Ok(response) => {
                    SinkError::Remote(format!("{} answered {}", self.url, response.status()))
                }
                Err(error) => SinkError::Connection(format!("{}: {error}", self.url)),
            };
            if attempt >= self.retries {
                return Err(error);
            }
            attempt += 1;
            tracing::debug!(%error, attempt, "REST log appender retries");
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}
