//! Login throttling: per user name and per client address, failed logins are counted, and past a
//! threshold the name or address is locked out for a while, longer after each further failure.
//!
//! A login first takes an [`Attempt`] ([`LoginGuard::attempt`]), which is refused with the time
//! left when the user name or the address is locked out, and otherwise counts as a failure until
//! it is settled: [`Attempt::succeeded`] forgets the user name's failures and gives the address
//! its attempt back, [`Attempt::failed`] keeps both and locks what crossed its threshold, and an
//! attempt dropped unsettled (the check itself failed, e.g. the hashing pool was busy) gives both
//! back. Counting an attempt as it starts keeps concurrent guesses from overshooting the
//! threshold: once the failures plus the attempts in flight reach it, further attempts are
//! refused until those settle.
//!
//! After the threshold, the first lockout lasts [`LockoutSettings::lockout`]; when it ends one
//! more attempt is allowed, and if that fails too the next lockout lasts twice as long, up to
//! [`LockoutSettings::lockout_max`]. A user name or address forgets its failures once
//! `lockout_max` passes without one. Each table tracks at most [`TRACKED_MAX`] keys; beyond that
//! the key that failed longest ago goes first, so a spray of made-up names costs memory only up
//! to that bound.
//!
//! The counters live in the memory of the node that serves the admin API (the Control leader);
//! docs/decisions/027-login-protection-and-audit.md says why they are not shared.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The most user names, and the most addresses, tracked at once.
pub const TRACKED_MAX: usize = 10_000;

/// The longest user name kept as a key, in characters (longer names cannot exist).
const MAX_KEY_CHARS: usize = 128;

/// When logins are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutSettings {
    /// Failed logins of one user name after which it is locked out.
    pub max_failures_per_user: u32,
    /// Failed logins from one address (any user names) after which it is locked out.
    pub max_failures_per_address: u32,
    /// How long the first lockout lasts; each further one lasts twice as long as the last.
    pub lockout: Duration,
    /// The longest lockout, and how long a key keeps its failures without a new one.
    pub lockout_max: Duration,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        Self {
            max_failures_per_user: 5,
            max_failures_per_address: 20,
            lockout: Duration::from_secs(30),
            lockout_max: Duration::from_secs(15 * 60),
        }
    }
}

/// Which table a lockout is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A user name.
    User,
    /// A client address.
    Address,
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Address => "address",
        }
    }
}

/// How a login attempt ended, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    LockedOut,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: &'static str,
}

/// The guard's counters on `/metrics`.
#[derive(Debug, Clone, Default)]
struct Metrics {
    attempts: Family<OutcomeLabel, Counter>,
    lockouts: Family<ScopeLabel, Counter>,
    tracked: Family<ScopeLabel, Gauge>,
}

impl Metrics {
    fn attempt(&self, outcome: Outcome) {
        let outcome = match outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::LockedOut => "locked_out",
        };
        self.attempts.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    fn scope(scope: Scope) -> ScopeLabel {
        ScopeLabel {
            scope: scope.label(),
        }
    }
}

/// The failures of one user name or address.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Failed attempts plus attempts in flight.
    failures: u32,
    /// Lockouts so far (each doubles the next).
    lockouts: u32,
    /// Until when it is locked out.
    locked_until: Option<Instant>,
    /// The last failure (or attempt start).
    last: Instant,
}

/// One table of entries.
#[derive(Debug)]
struct Table {
    scope: Scope,
    max_failures: u32,
    entries: HashMap<String, Entry>,
}

impl Table {
    fn new(scope: Scope, max_failures: u32) -> Self {
        Self {
            scope,
            max_failures: max_failures.max(1),
            entries: HashMap::new(),
        }
    }

    /// The entry of `key`, if it still counts at `now`: an entry past its lockout and quiet for
    /// `forget` is gone.
    fn live(&mut self, key: &str, now: Instant, forget: Duration) -> Option<&mut Entry> {
        let stale = self
            .entries
            .get(key)
            .is_some_and(|entry| Self::stale(entry, now, forget));
        if stale {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Whether `entry` has been quiet (no failure, no lockout) for `forget` at `now`.
    fn stale(entry: &Entry, now: Instant, forget: Duration) -> bool {
        let quiet_since = entry
            .locked_until
            .map_or(entry.last, |until| until.max(entry.last));
        now.saturating_duration_since(quiet_since) >= forget
    }

    /// How long `key` stays refused at `now`, if it is.
    fn refusal(&mut self, key: &str, now: Instant, settings: &LockoutSettings) -> Option<Duration> {
        let max_failures = self.max_failures;
        let entry = self.live(key, now, settings.lockout_max)?;
        if let Some(until) = entry.locked_until.filter(|until| *until > now) {
            return Some(until - now);
        }
        // Attempts in flight fill the budget: refused until they settle.
        (entry.failures >= max_failures).then_some(settings.lockout)
    }

    /// Counts an attempt starting for `key`.
    fn start(&mut self, key: &str, now: Instant, forget: Duration) {
        if self.live(key, now, forget).is_none() && self.entries.len() >= TRACKED_MAX {
            self.entries
                .retain(|_, entry| !Self::stale(entry, now, forget));
            if self.entries.len() >= TRACKED_MAX
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.last)
                    .map(|(key, _)| key.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        let entry = self.entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            lockouts: 0,
            locked_until: None,
            last: now,
        });
        entry.failures += 1;
        entry.last = now;
    }

    /// Gives back an attempt of `key` that did not fail.
    fn give_back(&mut self, key: &str) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.failures = entry.failures.saturating_sub(1);
        }
    }

    /// Settles a failed attempt of `key`: locks it out if it reached the threshold. Returns the
    /// lockout's length if one began.
    fn fail(&mut self, key: &str, now: Instant, settings: &LockoutSettings) -> Option<Duration> {
        let max_failures = self.max_failures;
        let entry = self.entries.get_mut(key)?;
        entry.last = now;
        if entry.failures < max_failures {
            return None;
        }
        let doubled = settings
            .lockout
            .saturating_mul(1u32.checked_shl(entry.lockouts).unwrap_or(u32::MAX));
        let length = doubled.min(settings.lockout_max);
        entry.locked_until = Some(now + length);
        entry.lockouts = entry.lockouts.saturating_add(1);
        // One more attempt once the lockout ends.
        entry.failures = max_failures - 1;
        Some(length)
    }
}

struct Tables {
    users: Table,
    addresses: Table,
}

/// Counts failed logins and refuses locked-out user names and addresses.
pub struct LoginGuard {
    settings: LockoutSettings,
    tables: Mutex<Tables>,
    metrics: Metrics,
}

/// A login refused because its user name or address is locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedOut {
    /// How long until it may try again.
    pub retry_after: Duration,
}

impl LockedOut {
    /// [`LockedOut::retry_after`] in whole seconds, rounded up (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        if self.retry_after.subsec_nanos() > 0 || secs == 0 {
            secs + 1
        } else {
            secs
        }
    }
}

impl LoginGuard {
    /// A guard with `settings` and no failures yet.
    pub fn new(settings: LockoutSettings) -> Arc<Self> {
        Arc::new(Self {
            settings,
            tables: Mutex::new(Tables {
                users: Table::new(Scope::User, settings.max_failures_per_user),
                addresses: Table::new(Scope::Address, settings.max_failures_per_address),
            }),
            metrics: Metrics::default(),
        })
    }

    /// Registers `kaa_admin_login_attempts_total{outcome}`,
    /// `kaa_admin_login_lockouts_total{scope}` and `kaa_admin_login_tracked{scope}`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "kaa_admin_login_attempts",
            "Admin logins and password confirmations by outcome: success, failure (wrong user name or password), locked_out (refused with 429 without checking)",
            self.metrics.attempts.clone(),
        );
        registry.register(
            "kaa_admin_login_lockouts",
            "Lockouts begun after repeated failed logins, by scope (user name or client address)",
            self.metrics.lockouts.clone(),
        );
        registry.register(
            "kaa_admin_login_tracked",
            "User names and client addresses with failed logins counted, by scope (at most 10000 each)",
            self.metrics.tracked.clone(),
        );
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // The tables stay consistent whatever panicked while holding them.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update_tracked(&self, tables: &Tables) {
        for table in [&tables.users, &tables.addresses] {
            self.metrics
                .tracked
                .get_or_create(&Metrics::scope(table.scope))
                .set(table.entries.len() as i64);
        }
    }

    /// Starts a login attempt of `username` from `address`, or refuses it while either is
    /// locked out.
    pub fn attempt(
        self: &Arc<Self>,
        username: &str,
        address: Option<IpAddr>,
    ) -> Result<Attempt, LockedOut> {
        self.attempt_at(username, address, Instant::now())
    }

    fn attempt_at(
        self: &Arc<Self>,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt, LockedOut> {
        let user: String = username.chars().take(MAX_KEY_CHARS).collect();
        let address = address.map(|a| a.to_canonical().to_string());
        let settings = &self.settings;
        let mut tables = self.tables();
        let refusal = [
            tables.users.refusal(&user, now, settings),
            address
                .as_deref()
                .and_then(|a| tables.addresses.refusal(a, now, settings)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(retry_after) = refusal {
            drop(tables);
            self.metrics.attempt(Outcome::LockedOut);
            return Err(LockedOut { retry_after });
        }
        tables.users.start(&user, now, settings.lockout_max);
        if let Some(address) = &address {
            tables.addresses.start(address, now, settings.lockout_max);
        }
        self.update_tracked(&tables);
        Ok(Attempt {
            guard: self.clone(),
            user,
            address,
            settled: false,
        })
    }
}

/// A login attempt counted as a failure until it is settled.
#[must_use = "settle the attempt with succeeded() or failed()"]
pub struct Attempt {
    guard: Arc<LoginGuard>,
    user: String,
    address: Option<String>,
    settled: bool,
}

impl Attempt {
    /// The password was right: the user name's failures are forgotten, the address gets its
    /// attempt back.
    pub fn succeeded(mut self) {
        self.settled = true;
        let guard = self.guard.clone();
        let mut tables = guard.tables();
        tables.users.entries.remove(&self.user);
        if let Some(address) = &self.address {
            tables.addresses.give_back(address);
        }
        guard.update_tracked(&tables);
        drop(tables);
        guard.metrics.attempt(Outcome::Success);
    }

    /// The user name or password was wrong: the failure stays counted, and what reached its
    /// threshold is locked out.
    pub fn failed(self) {
        self.failed_at(Instant::now());
    }

    /// [`Attempt::failed`] at `now`; returns the scopes this failure locked out.
    fn failed_at(mut self, now: Instant) -> Vec<Scope> {
        self.settled = true;
        let guard = self.guard.clone();
        let settings = guard.settings;
        let mut tables = guard.tables();
        let mut locked = Vec::new();
        if let Some(length) = tables.users.fail(&self.user, now, &settings) {
            tracing::warn!(user = %self.user, lockout = ?length, "admin user name locked out after failed logins");
            locked.push(Scope::User);
        }
        if let Some(address) = &self.address
            && let Some(length) = tables.addresses.fail(address, now, &settings)
        {
            tracing::warn!(%address, lockout = ?length, "client address locked out after failed logins");
            locked.push(Scope::Address);
        }
        drop(tables);
        guard.metrics.attempt(Outcome::Failure);
        for scope in &locked {
            guard
                .metrics
                .lockouts
                .get_or_create(&Metrics::scope(*scope))
                .inc();
        }
        locked
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut tables = self.guard.tables();
        tables.users.give_back(&self.user);
        if let Some(address) = &self.address {
            tables.addresses.give_back(address);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn guard(per_user: u32, per_address: u32) -> Arc<LoginGuard> {
        LoginGuard::new(LockoutSettings {
            max_failures_per_user: per_user,
            max_failures_per_address: per_address,
            lockout: 10 * SECOND,
            lockout_max: 60 * SECOND,
        })
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    #[test]
    fn a_user_name_is_locked_out_after_its_threshold_then_backs_off() {
        let guard = guard(3, 100);
        let t0 = Instant::now();
        for i in 0..3u8 {
            let attempt = guard.attempt_at("alice", ip(i), t0).unwrap();
            let locked = attempt.failed_at(t0);
            assert_eq!(locked.is_empty(), i < 2, "failure {i}: {locked:?}");
        }
        // Locked for 10 s, from any address, whatever the password.
        let refused = guard.attempt_at("alice", ip(9), t0 + SECOND).err().unwrap();
        assert_eq!(refused.retry_after, 9 * SECOND);
        assert_eq!(refused.retry_after_secs(), 9);
        assert!(guard.attempt_at("bob", ip(9), t0 + SECOND).is_ok());
        // After it, one more try; failing it locks for twice as long.
        let t1 = t0 + 10 * SECOND;
        let again = guard.attempt_at("alice", ip(1), t1).unwrap();
        assert_eq!(again.failed_at(t1), vec![Scope::User]);
        let refused = guard.attempt_at("alice", ip(1), t1).err().unwrap();
        assert_eq!(refused.retry_after, 20 * SECOND);
        // A success once it ends forgets every failure.
        let t2 = t1 + 20 * SECOND;
        guard.attempt_at("alice", ip(1), t2).unwrap().succeeded();
        for _ in 0..2 {
            assert!(
                guard
                    .attempt_at("alice", ip(1), t2)
                    .unwrap()
                    .failed_at(t2)
                    .is_empty()
            );
        }
    }

    #[test]
    fn lockouts_double_up_to_the_maximum() {
        let guard = guard(1, 100);
        let mut now = Instant::now();
        let mut lengths = Vec::new();
        for _ in 0..5 {
            assert!(
                !guard
                    .attempt_at("a", ip(1), now)
                    .unwrap()
                    .failed_at(now)
                    .is_empty()
            );
            let refused = guard.attempt_at("a", ip(1), now).err().unwrap();
            lengths.push(refused.retry_after.as_secs());
            now += refused.retry_after;
        }
        assert_eq!(lengths, [10, 20, 40, 60, 60]);
    }

    #[test]
    fn an_address_is_locked_out_whatever_user_names_it_tries() {
        let guard = guard(100, 4);
        let now = Instant::now();
        for i in 0..4 {
            let attempt = guard.attempt_at(&format!("user-{i}"), ip(7), now).unwrap();
            let locked = attempt.failed_at(now);
            assert_eq!(locked.contains(&Scope::Address), i == 3);
        }
        assert!(guard.attempt_at("someone-else", ip(7), now).is_err());
        assert!(guard.attempt_at("someone-else", ip(8), now).is_ok());
        // Without an address only the user name counts.
        assert!(guard.attempt_at("someone-else", None, now).is_ok());
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_lockout_max() {
        let guard = guard(2, 100);
        let now = Instant::now();
        assert!(
            guard
                .attempt_at("a", ip(1), now)
                .unwrap()
                .failed_at(now)
                .is_empty()
        );
        let later = now + 60 * SECOND;
        assert!(
            guard
                .attempt_at("a", ip(1), later)
                .unwrap()
                .failed_at(later)
                .is_empty()
        );
    }

    #[test]
    fn attempts_in_flight_count_and_unsettled_ones_are_given_back() {
        let guard = guard(2, 100);
        let now = Instant::now();
        let first = guard.attempt_at("a", ip(1), now).unwrap();
        let second = guard.attempt_at("a", ip(2), now).unwrap();
        // Two in flight fill the budget of two.
        assert_eq!(
            guard.attempt_at("a", ip(3), now).err().unwrap().retry_after,
            10 * SECOND
        );
        drop(first);
        drop(second);
        assert!(guard.attempt_at("a", ip(3), now).is_ok());
    }

    #[test]
    fn the_tables_hold_at_most_tracked_max_keys() {
        let guard = guard(5, u32::MAX);
        let now = Instant::now();
        for i in 0..TRACKED_MAX + 10 {
            let _ = guard
                .attempt_at(&format!("name-{i}"), None, now)
                .unwrap()
                .failed_at(now);
        }
        assert_eq!(guard.tables().users.entries.len(), TRACKED_MAX);
        let mut registry = Registry::default();
        guard.register_metrics(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"kaa_admin_login_tracked{scope="user"} 10000"#),
            "{text}"
        );
        assert!(
            text.contains(r#"kaa_admin_login_attempts_total{outcome="failure"} 10010"#),
            "{text}"
        );
    }
}
