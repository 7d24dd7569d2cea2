//! The audit log of the admin API: one row per login, failed login, logout and admin change,
//! appended by Control and read back newest first, filtered by tenant, user, action and time.
//!
//! An entry copies who acted (user id, name, role, tenant) instead of referencing them, so it
//! outlives a deleted user or tenant; entries older than the retention Control is configured
//! with are purged ([`MetadataStore::purge_audit`]).

use super::record::{Record, stored};
use super::{MetadataStore, Page, Paged, new_id, now_ms, paged};
use crate::StoreError;

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Id (UUIDv7: ordered by time).
    pub id: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Who acted, when known (a failed login naming no user has none).
    pub user_id: Option<String>,
    /// Their login name then.
    pub username: Option<String>,
    /// Their role then.
    pub role: Option<String>,
    /// Their tenant; `None` for a KAA_ADMIN.
    pub tenant_id: Option<String>,
    /// What kind of event: `login`, `login_failed`, `logout`, `change`.
    pub action: String,
    /// The HTTP method of the request.
    pub method: String,
    /// The request path, without its query.
    pub path: String,
    /// The response status.
    pub status: i64,
    /// The record the request created or changed, when known.
    pub entity_id: Option<String>,
    /// The peer address of the request.
    pub address: Option<String>,
}

stored! {
    AuditEntry in "audit_log",
    not found: "audit entry",
    conflict: "audit entry id",
    columns: [
        id, at_ms, user_id, username, role, tenant_id, action, method, path, status, entity_id,
        address,
    ],
}

impl AuditEntry {
    /// An entry of `action` for `method path` answered `status`, now, with nobody named yet.
    pub fn now(action: &str, method: &str, path: &str, status: u16) -> Self {
        Self {
            id: new_id(),
            at_ms: now_ms(),
            user_id: None,
            username: None,
            role: None,
            tenant_id: None,
            action: action.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            status: i64::from(status),
            entity_id: None,
            address: None,
        }
    }
}

/// Which entries to list; every field set narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries of this tenant only.
    pub tenant_id: Option<String>,
    /// Entries of this user only.
    pub user_id: Option<String>,
    /// Entries of this action only.
    pub action: Option<String>,
    /// Entries at or after this time, Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Entries before this time, Unix milliseconds.
    pub until_ms: Option<i64>,
}

impl MetadataStore {
    /// Appends `entry` to the audit log.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.insert(self.db.pool(), entry).await
    }

    /// A page of the audit log entries `filter` selects, newest first.
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditEntry>, StoreError> {
        // The SQL text is made of literals only; the values are bound.
        let mut sql = format!("{} WHERE 1 = 1", AuditEntry::SELECT);
        let text = [
            (filter.tenant_id.as_ref(), " AND tenant_id = ?"),
            (filter.user_id.as_ref(), " AND user_id = ?"),
            (filter.action.as_ref(), " AND action = ?"),
        ];
        let numbers = [
            (filter.since_ms, " AND at_ms >= ?"),
            (filter.until_ms, " AND at_ms < ?"),
        ];
        for (_, condition) in text.iter().filter(|(value, _)| value.is_some()) {
            sql.push_str(condition);
        }
        for (_, condition) in numbers.iter().filter(|(value, _)| value.is_some()) {
            sql.push_str(condition);
        }
        sql.push_str(" ORDER BY at_ms DESC, id DESC LIMIT ? OFFSET ?");
        let mut query = sqlx::query(self.db.statement(sql));
        for value in text.iter().filter_map(|(value, _)| *value) {
            query = query.bind(value.clone());
        }
        for value in numbers.iter().filter_map(|(value, _)| *value) {
            query = query.bind(value);
        }
        let rows = query
            .bind(page.limit + 1)
            .bind(page.offset)
            .fetch_all(self.db.pool())
            .await?;
        let entries = rows
            .iter()
            .map(AuditEntry::from_row)
            .collect::<Result<_, _>>()?;
        Ok(paged(entries, page))
    }

    /// Deletes the entries older than `before_ms`; returns how many.
    pub async fn purge_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = self
            .statement("DELETE FROM audit_log WHERE at_ms < ?")
            .bind(before_ms)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
