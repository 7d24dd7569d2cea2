//! How long a store call may take: connecting (or waiting for a pooled connection) and one
//! request. A call that outlives its limit fails with [`StoreError::Timeout`], which callers
//! treat as storage unavailable, instead of holding its caller (a sync, an admin request) for
//! as long as a frozen or partitioned database stays silent.

use std::future::Future;
use std::time::Duration;

use crate::StoreError;

/// Limits of one store's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection, or waiting for one of the pool's.
    pub connect: Duration,
    /// One request: a SQL statement (enforced by the server), a Cassandra statement with its
    /// retries (by the driver), one endpoint-store call whatever the backend (by kaa-rs).
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(10),
        }
    }
}

/// Runs `call`, failing with [`StoreError::Timeout`] if it has not finished within `limit`.
pub async fn bounded<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or(Err(StoreError::Timeout(limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_that_outlives_its_limit_is_a_timeout_error() {
        let limit = Duration::from_millis(50);
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        };
        let started = std::time::Instant::now();
        let error = bounded(limit, slow).await.unwrap_err();
        assert!(matches!(error, StoreError::Timeout(l) if l == limit));
        assert!(started.elapsed() < Duration::from_secs(5));
        let quick = async { Ok(7) };
        assert_eq!(bounded(limit, quick).await.unwrap(), 7);
    }
}
