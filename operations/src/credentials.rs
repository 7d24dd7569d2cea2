//! Endpoint credentials as every sync checks them, and the count of refused identities.
//!
//! Every sync of a session, not only its start, checks that the endpoint's credentials are
//! still in use, so a revoked endpoint whose DISCONNECT was lost gets nothing more. To keep a
//! steady endpoint's syncs from reading the credentials each time, an endpoint found in use is
//! remembered for [`ADMITTED_FOR`]. Revocation reaches the nodes through the endpoint message
//! (Thrift `onEndpointDeregistration`), on the endpoint's ring owner and on the node serving it;
//! both forget the endpoint at once ([`CredentialCache::forget`]). Any other node that served it
//! a moment ago re-reads within [`ADMITTED_FOR`]. An admission read before a revocation arrived
//! is not stored after it (an epoch counter), so the cache never outlives the change it missed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kaa_transport::AuthFailure;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::shards::ShardedMap;

/// How long an endpoint found in use is admitted without reading its credentials again: the
/// longest a revocation can go unnoticed on a node that did not get its notification.
pub const ADMITTED_FOR: Duration = Duration::from_secs(3);

const SHARDS: usize = 16;

/// Entries a shard holds before the expired ones are swept out.
const SWEEP_AT: usize = 4096;

/// Endpoints recently found with credentials in use, by application and key hash.
pub struct CredentialCache {
    admitted: ShardedMap<Admitted>,
    /// Bumped by every [`CredentialCache::forget`].
    epoch: AtomicU64,
    ttl: Duration,
}

#[derive(Debug, Clone)]
struct Admitted {
    app_id: String,
    until: Instant,
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self::new(ADMITTED_FOR)
    }
}

impl CredentialCache {
    /// A cache admitting endpoints for `ttl` after their credentials were read.
    pub fn new(ttl: Duration) -> Self {
        Self {
            admitted: ShardedMap::new(SHARDS),
            epoch: AtomicU64::new(0),
            ttl,
        }
    }

    /// Whether endpoint `key_hash` of `app_id` was found in use within the TTL.
    pub fn admitted(&self, app_id: &str, key_hash: &[u8], now: Instant) -> bool {
        self.admitted
            .shard(key_hash)
            .get(key_hash)
            .is_some_and(|a| a.app_id == app_id && a.until > now)
    }

    /// Taken before reading credentials, and given back to [`CredentialCache::admit`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Remembers that the credentials read since `epoch` were in use, unless the endpoint (or
    /// any other) was forgotten meanwhile.
    pub fn admit(&self, app_id: &str, key_hash: &[u8], epoch: u64, now: Instant) {
        let mut shard = self.admitted.shard(key_hash);
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if shard.len() >= SWEEP_AT {
            shard.retain(|_, a| a.until > now);
        }
        if shard.len() < SWEEP_AT {
            shard.insert(
                key_hash.to_vec(),
                Admitted {
                    app_id: app_id.to_owned(),
                    until: now + self.ttl,
                },
            );
        }
    }

    /// The endpoint's credentials changed: its next sync reads them.
    pub fn forget(&self, key_hash: &[u8]) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.admitted.shard(key_hash).remove(key_hash);
    }
}

/// The label of `kaa_endpoint_auth_failures_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// Session starts and syncs refused because the endpoint did not prove its identity, or its
/// credentials are revoked or unknown; on `/metrics` by reason.
#[derive(Debug, Clone, Default)]
pub struct AuthFailures {
    family: Family<Reason, Counter>,
}

impl AuthFailures {
    /// Counts one refusal.
    pub fn count(&self, reason: AuthFailure) {
        self.family
            .get_or_create(&Reason {
                reason: reason.label(),
            })
            .inc();
    }

    /// How many refusals for `reason` so far.
    pub fn get(&self, reason: AuthFailure) -> u64 {
        self.family
            .get_or_create(&Reason {
                reason: reason.label(),
            })
            .get()
    }

    /// Registers the counter as `kaa_endpoint_auth_failures_total{reason}`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kaa_endpoint_auth_failures",
            "Endpoint session starts and syncs refused: no or bad signature, a key that is not the stored one, plaintext, an undecryptable session key, unknown or revoked credentials",
            self.family.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admission_lasts_its_ttl_and_ends_when_forgotten() {
        let cache = CredentialCache::new(Duration::from_secs(3));
        let now = Instant::now();
        assert!(!cache.admitted("app", b"ep", now));
        cache.admit("app", b"ep", cache.epoch(), now);
        assert!(cache.admitted("app", b"ep", now + Duration::from_secs(2)));
        assert!(!cache.admitted("other", b"ep", now), "another application");
        assert!(!cache.admitted("app", b"ep", now + Duration::from_secs(3)));
        cache.forget(b"ep");
        assert!(!cache.admitted("app", b"ep", now));
    }

    #[test]
    fn a_read_that_raced_a_revocation_is_not_remembered() {
        let cache = CredentialCache::default();
        let now = Instant::now();
        let before_read = cache.epoch();
        // The revocation arrives while the credentials (still in use) are being read.
        cache.forget(b"ep");
        cache.admit("app", b"ep", before_read, now);
        assert!(!cache.admitted("app", b"ep", now));
        cache.admit("app", b"ep", cache.epoch(), now);
        assert!(cache.admitted("app", b"ep", now));
    }

    #[test]
    fn expired_admissions_are_swept_when_a_shard_fills() {
        let cache = CredentialCache::new(Duration::from_millis(1));
        let start = Instant::now();
        for i in 0..(SWEEP_AT * SHARDS * 2) as u32 {
            cache.admit("app", &i.to_be_bytes(), cache.epoch(), start);
        }
        let later = start + Duration::from_secs(1);
        cache.admit("app", b"fresh", cache.epoch(), later);
        assert!(cache.admitted("app", b"fresh", later));
        let held: usize = cache.admitted.each_shard().map(|s| s.len()).sum();
        assert!(held <= SWEEP_AT * SHARDS, "{held}");
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let failures = AuthFailures::default();
        failures.count(AuthFailure::KeyUnwrap);
        failures.count(AuthFailure::KeyUnwrap);
        failures.count(AuthFailure::Revoked);
        assert_eq!(failures.get(AuthFailure::KeyUnwrap), 2);
        assert_eq!(failures.get(AuthFailure::Revoked), 1);
        assert_eq!(failures.get(AuthFailure::BadSignature), 0);
        let mut registry = Registry::default();
        failures.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"kaa_endpoint_auth_failures_total{reason="key_unwrap"} 2"#),
            "{text}"
        );
    }
}
