//! The endpoint store on SQL (PostgreSQL, MariaDB, SQLite), for standalone nodes and small
//! deployments. Tables are in `endpoint_migrations/`; statements are written once with `?`
//! placeholders, except the upserts, which MariaDB spells `ON DUPLICATE KEY UPDATE`.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{
    CredentialStatus, Credentials, EndpointProfile, GroupState, Notification, NotificationKind,
    Page, TopicListEntry, UnicastNotification, UserConfiguration,
};
use crate::StoreError;
use crate::sql::{Dialect, SqlDatabase};

/// The migrations, in order: (version, description, script).
#[rustfmt::skip]
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "endpoint data", include_str!("../../endpoint_migrations/0001_endpoints.sql")),
    (2, "owners", include_str!("../../endpoint_migrations/0002_owners.sql")),
];

/// Where the applied endpoint migrations are recorded.
const MIGRATIONS_TABLE: &str = "_kaa_endpoint_migrations";

/// `SELECT <every profile column> FROM endpoint_profiles <tail>`, in [`profile_from`]'s order.
macro_rules! select_profiles {
    ($tail:literal) => {
        concat!(
            "SELECT endpoint_key_hash, application_id, public_key, access_token, sdk_token, ",
            "client_profile_version, client_profile, profile_hash, server_profile_version, ",
            "server_profile, group_states, configuration_hash, topic_hash, subscriptions, ",
            "system_notification_seq, owner_id, node_id, last_seen_ms, version ",
            "FROM endpoint_profiles ",
            $tail
        )
    };
}

/// The endpoint store on one SQL database.
#[derive(Debug, Clone)]
pub struct SqlEndpoints {
    db: SqlDatabase,
    /// The limit of each call of the store's API.
    pub(super) request_timeout: Duration,
}

impl SqlEndpoints {
    pub(super) fn new(db: SqlDatabase, request_timeout: Duration) -> Self {
        Self {
            db,
            request_timeout,
        }
    }

    pub(super) async fn prepare(&self) -> Result<(), StoreError> {
        self.db.migrate(MIGRATIONS_TABLE, MIGRATIONS).await
    }

    pub(super) async fn close(&self) {
        self.db.pool().close().await;
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }

    fn sql(&self, text: &'static str) -> AssertSqlSafe<Cow<'static, str>> {
        self.db.statement(text)
    }

    /// An insert-or-replace: `standard` (PostgreSQL and SQLite: `ON CONFLICT … DO UPDATE`) or
    /// `mariadb` (`ON DUPLICATE KEY UPDATE`).
    fn upsert(
        &self,
        standard: &'static str,
        mariadb: &'static str,
    ) -> AssertSqlSafe<Cow<'static, str>> {
        match self.db.dialect() {
            Dialect::MySql => self.sql(mariadb),
            Dialect::Postgres | Dialect::Sqlite => self.sql(standard),
        }
    }

    // ---- credentials ----

    pub(super) async fn provision_credentials(&self, c: &Credentials) -> Result<(), StoreError> {
        sqlx::query(self.upsert(
            "INSERT INTO endpoint_credentials (application_id, endpoint_key_hash, public_key, status) \
             VALUES (?, ?, ?, ?) ON CONFLICT (application_id, endpoint_key_hash) \
             DO UPDATE SET public_key = excluded.public_key, status = excluded.status",
            "INSERT INTO endpoint_credentials (application_id, endpoint_key_hash, public_key, status) \
             VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE public_key = VALUES(public_key), status = VALUES(status)",
        ))
        .bind(&c.application_id)
        .bind(&c.endpoint_key_hash)
        .bind(&c.public_key)
        .bind(c.status.name())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn credentials(
        &self,
        app: &str,
        key_hash: &[u8],
    ) -> Result<Option<Credentials>, StoreError> {
        sqlx::query(self.sql(
            "SELECT application_id, endpoint_key_hash, public_key, status FROM endpoint_credentials \
             WHERE application_id = ? AND endpoint_key_hash = ?",
        ))
        .bind(app)
        .bind(key_hash)
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| credentials_from(&row))
        .transpose()
    }

    pub(super) async fn set_credentials_status(
        &self,
        app: &str,
        key_hash: &[u8],
        status: CredentialStatus,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE endpoint_credentials SET status = ? \
             WHERE application_id = ? AND endpoint_key_hash = ?",
        ))
        .bind(status.name())
        .bind(app)
        .bind(key_hash)
        .execute(self.db.pool())
        .await?;
        // sqlx connects to MariaDB with CLIENT_FOUND_ROWS: matched rows count, changed or not.
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn list_credentials(
        &self,
        app: &str,
        page: Page,
    ) -> Result<Vec<Credentials>, StoreError> {
        sqlx::query(self.sql(
            "SELECT application_id, endpoint_key_hash, public_key, status FROM endpoint_credentials \
             WHERE application_id = ? ORDER BY endpoint_key_hash LIMIT ? OFFSET ?",
        ))
        .bind(app)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(credentials_from)
        .collect()
    }

    // ---- endpoint profiles ----

    pub(super) async fn save_profile(&self, p: &EndpointProfile) -> Result<(), StoreError> {
        let groups = groups_json(&p.groups);
        let subscriptions = Value::from(p.subscriptions.clone()).to_string();
        if p.version == 0 {
            sqlx::query(self.sql(
                "INSERT INTO endpoint_profiles (application_id, public_key, access_token, sdk_token, \
                 client_profile_version, client_profile, profile_hash, server_profile_version, \
                 server_profile, group_states, configuration_hash, topic_hash, subscriptions, \
                 system_notification_seq, owner_id, node_id, last_seen_ms, version, endpoint_key_hash) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(&p.application_id)
            .bind(&p.public_key)
            .bind(&p.access_token)
            .bind(&p.sdk_token)
            .bind(i64::from(p.client_profile_version))
            .bind(&p.client_profile)
            .bind(&p.profile_hash)
            .bind(i64::from(p.server_profile_version))
            .bind(&p.server_profile)
            .bind(&groups)
            .bind(&p.configuration_hash)
            .bind(i64::from(p.topic_hash))
            .bind(&subscriptions)
            .bind(i64::from(p.system_notification_seq))
            .bind(&p.owner_id)
            .bind(&p.node_id)
            .bind(p.last_seen_ms)
            .bind(1_i64)
            .bind(&p.endpoint_key_hash)
            .execute(self.db.pool())
            .await
            .map_err(|error| match &error {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    StoreError::Conflict("endpoint profile already stored")
                }
                _ => StoreError::Sql(error),
            })?;
            return Ok(());
        }
        let done = sqlx::query(self.sql(
            "UPDATE endpoint_profiles SET application_id = ?, public_key = ?, access_token = ?, \
             sdk_token = ?, client_profile_version = ?, client_profile = ?, profile_hash = ?, \
             server_profile_version = ?, server_profile = ?, group_states = ?, \
             configuration_hash = ?, topic_hash = ?, subscriptions = ?, \
             system_notification_seq = ?, owner_id = ?, node_id = ?, last_seen_ms = ?, version = ? \
             WHERE endpoint_key_hash = ? AND version = ?",
        ))
        .bind(&p.application_id)
        .bind(&p.public_key)
        .bind(&p.access_token)
        .bind(&p.sdk_token)
        .bind(i64::from(p.client_profile_version))
        .bind(&p.client_profile)
        .bind(&p.profile_hash)
        .bind(i64::from(p.server_profile_version))
        .bind(&p.server_profile)
        .bind(&groups)
        .bind(&p.configuration_hash)
        .bind(i64::from(p.topic_hash))
        .bind(&subscriptions)
        .bind(i64::from(p.system_notification_seq))
        .bind(&p.owner_id)
        .bind(&p.node_id)
        .bind(p.last_seen_ms)
        .bind(p.version + 1)
        .bind(&p.endpoint_key_hash)
        .bind(p.version)
        .execute(self.db.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "endpoint profile changed or deleted since it was read",
            ));
        }
        Ok(())
    }

    pub(super) async fn profile(
        &self,
        key_hash: &[u8],
    ) -> Result<Option<EndpointProfile>, StoreError> {
        sqlx::query(self.sql(select_profiles!("WHERE endpoint_key_hash = ?")))
            .bind(key_hash)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| profile_from(&row))
            .transpose()
    }

    pub(super) async fn profile_by_access_token(
        &self,
        app: &str,
        token: &str,
    ) -> Result<Option<EndpointProfile>, StoreError> {
        sqlx::query(self.sql(select_profiles!(
            "WHERE application_id = ? AND access_token = ? ORDER BY endpoint_key_hash LIMIT 1"
        )))
        .bind(app)
        .bind(token)
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| profile_from(&row))
        .transpose()
    }

    pub(super) async fn list_profiles(
        &self,
        app: &str,
        page: Page,
    ) -> Result<Vec<EndpointProfile>, StoreError> {
        sqlx::query(self.sql(select_profiles!(
            "WHERE application_id = ? ORDER BY endpoint_key_hash LIMIT ? OFFSET ?"
        )))
        .bind(app)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(profile_from)
        .collect()
    }

    pub(super) async fn count_profiles(&self, app: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query(
                self.sql("SELECT COUNT(*) FROM endpoint_profiles WHERE application_id = ?"),
            )
            .bind(app)
            .fetch_one(self.db.pool())
            .await?
            .try_get(0)?,
        )
    }

    pub(super) async fn delete_profile(&self, key_hash: &[u8]) -> Result<bool, StoreError> {
        let done =
            sqlx::query(self.sql("DELETE FROM endpoint_profiles WHERE endpoint_key_hash = ?"))
                .bind(key_hash)
                .execute(self.db.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- configurations ----

    pub(super) async fn save_configuration(
        &self,
        hash: &[u8],
        body: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(self.upsert(
            "INSERT INTO endpoint_configurations (hash, body) VALUES (?, ?) \
             ON CONFLICT (hash) DO UPDATE SET body = excluded.body",
            "INSERT INTO endpoint_configurations (hash, body) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE body = VALUES(body)",
        ))
        .bind(hash)
        .bind(body)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn configuration(&self, hash: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query(self.sql("SELECT body FROM endpoint_configurations WHERE hash = ?"))
            .bind(hash)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| row.try_get(0).map_err(StoreError::from))
            .transpose()
    }

    // ---- notifications ----

    pub(super) async fn save_notification(&self, n: &Notification) -> Result<(), StoreError> {
        sqlx::query(self.upsert(
            "INSERT INTO topic_notifications \
             (topic_id, seq, id, application_id, kind, body, expires_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic_id, seq) DO UPDATE SET \
             id = excluded.id, application_id = excluded.application_id, kind = excluded.kind, \
             body = excluded.body, expires_at_ms = excluded.expires_at_ms",
            "INSERT INTO topic_notifications \
             (topic_id, seq, id, application_id, kind, body, expires_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
             id = VALUES(id), application_id = VALUES(application_id), kind = VALUES(kind), \
             body = VALUES(body), expires_at_ms = VALUES(expires_at_ms)",
        ))
        .bind(&n.topic_id)
        .bind(i64::from(n.seq))
        .bind(&n.id)
        .bind(&n.application_id)
        .bind(n.kind.name())
        .bind(&n.body)
        .bind(n.expires_at_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn notifications(
        &self,
        topic_id: &str,
        after_seq: i32,
        now_ms: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        sqlx::query(self.sql(
            "SELECT id, application_id, topic_id, seq, kind, body, expires_at_ms \
             FROM topic_notifications WHERE topic_id = ? AND seq > ? AND expires_at_ms > ? \
             ORDER BY seq",
        ))
        .bind(topic_id)
        .bind(i64::from(after_seq))
        .bind(now_ms)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(Notification {
                id: row.try_get(0)?,
                application_id: row.try_get(1)?,
                topic_id: row.try_get(2)?,
                seq: int(row, 3)?,
                kind: kind(row, 4)?,
                body: row.try_get(5)?,
                expires_at_ms: row.try_get(6)?,
            })
        })
        .collect()
    }

    pub(super) async fn save_unicast(&self, u: &UnicastNotification) -> Result<(), StoreError> {
        sqlx::query(self.upsert(
            "INSERT INTO unicast_notifications \
             (endpoint_key_hash, id, topic_id, kind, body, expires_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint_key_hash, id) DO UPDATE SET \
             topic_id = excluded.topic_id, kind = excluded.kind, body = excluded.body, \
             expires_at_ms = excluded.expires_at_ms",
            "INSERT INTO unicast_notifications \
             (endpoint_key_hash, id, topic_id, kind, body, expires_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
             topic_id = VALUES(topic_id), kind = VALUES(kind), body = VALUES(body), \
             expires_at_ms = VALUES(expires_at_ms)",
        ))
        .bind(&u.endpoint_key_hash)
        .bind(&u.id)
        .bind(&u.topic_id)
        .bind(u.kind.name())
        .bind(&u.body)
        .bind(u.expires_at_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn unicasts(
        &self,
        key_hash: &[u8],
        now_ms: i64,
    ) -> Result<Vec<UnicastNotification>, StoreError> {
        sqlx::query(self.sql(
            "SELECT id, endpoint_key_hash, topic_id, kind, body, expires_at_ms \
             FROM unicast_notifications WHERE endpoint_key_hash = ? AND expires_at_ms > ? \
             ORDER BY id",
        ))
        .bind(key_hash)
        .bind(now_ms)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(UnicastNotification {
                id: row.try_get(0)?,
                endpoint_key_hash: row.try_get(1)?,
                topic_id: row.try_get(2)?,
                kind: kind(row, 3)?,
                body: row.try_get(4)?,
                expires_at_ms: row.try_get(5)?,
            })
        })
        .collect()
    }

    pub(super) async fn delete_unicast(
        &self,
        key_hash: &[u8],
        id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            self.sql("DELETE FROM unicast_notifications WHERE endpoint_key_hash = ? AND id = ?"),
        )
        .bind(key_hash)
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut purged = 0;
        for statement in [
            "DELETE FROM topic_notifications WHERE expires_at_ms <= ?",
            "DELETE FROM unicast_notifications WHERE expires_at_ms <= ?",
        ] {
            purged += sqlx::query(self.sql(statement))
                .bind(now_ms)
                .execute(self.db.pool())
                .await?
                .rows_affected();
        }
        Ok(purged)
    }

    // ---- owners ----

    pub(super) async fn profiles_by_owner(
        &self,
        owner_id: &str,
    ) -> Result<Vec<EndpointProfile>, StoreError> {
        sqlx::query(self.sql(select_profiles!(
            "WHERE owner_id = ? ORDER BY endpoint_key_hash"
        )))
        .bind(owner_id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(profile_from)
        .collect()
    }

    pub(super) async fn save_user_configuration(
        &self,
        c: &UserConfiguration,
    ) -> Result<(), StoreError> {
        sqlx::query(self.upsert(
            "INSERT INTO user_configurations \
             (owner_id, application_id, schema_version, body, updated_ms) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (owner_id, application_id, schema_version) \
             DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
            "INSERT INTO user_configurations \
             (owner_id, application_id, schema_version, body, updated_ms) VALUES (?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE body = VALUES(body), updated_ms = VALUES(updated_ms)",
        ))
        .bind(&c.owner_id)
        .bind(&c.app_id)
        .bind(c.schema_version)
        .bind(&c.body)
        .bind(c.updated_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn user_configurations(
        &self,
        owner_id: &str,
        app_id: &str,
    ) -> Result<Vec<UserConfiguration>, StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT schema_version, body, updated_ms FROM user_configurations \
             WHERE owner_id = ? AND application_id = ? ORDER BY schema_version",
        ))
        .bind(owner_id)
        .bind(app_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| user_configuration_from(owner_id, app_id, row))
            .collect()
    }

    pub(super) async fn user_configuration(
        &self,
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
    ) -> Result<Option<UserConfiguration>, StoreError> {
        sqlx::query(self.sql(
            "SELECT schema_version, body, updated_ms FROM user_configurations \
             WHERE owner_id = ? AND application_id = ? AND schema_version = ?",
        ))
        .bind(owner_id)
        .bind(app_id)
        .bind(schema_version)
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| user_configuration_from(owner_id, app_id, &row))
        .transpose()
    }

    pub(super) async fn delete_user_configuration(
        &self,
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "DELETE FROM user_configurations \
             WHERE owner_id = ? AND application_id = ? AND schema_version = ?",
        ))
        .bind(owner_id)
        .bind(app_id)
        .bind(schema_version)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    // ---- topic lists ----

    pub(super) async fn save_topic_list(&self, entry: &TopicListEntry) -> Result<(), StoreError> {
        sqlx::query(self.upsert(
            "INSERT INTO topic_lists (hash, topic_ids) VALUES (?, ?) \
             ON CONFLICT (hash) DO UPDATE SET topic_ids = excluded.topic_ids",
            "INSERT INTO topic_lists (hash, topic_ids) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE topic_ids = VALUES(topic_ids)",
        ))
        .bind(i64::from(entry.hash))
        .bind(Value::from(entry.topic_ids.clone()).to_string())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn topic_list(&self, hash: i32) -> Result<Option<TopicListEntry>, StoreError> {
        let row = sqlx::query(self.sql("SELECT topic_ids FROM topic_lists WHERE hash = ?"))
            .bind(i64::from(hash))
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|row| {
            Ok(TopicListEntry {
                hash,
                topic_ids: strings_from_json(&row.try_get::<String, _>(0)?)?,
            })
        })
        .transpose()
    }
}

fn user_configuration_from(
    owner_id: &str,
    app_id: &str,
    row: &AnyRow,
) -> Result<UserConfiguration, StoreError> {
    Ok(UserConfiguration::stored(
        owner_id,
        app_id,
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
    ))
}

fn credentials_from(row: &AnyRow) -> Result<Credentials, StoreError> {
    let status: String = row.try_get(3)?;
    Ok(Credentials {
        application_id: row.try_get(0)?,
        endpoint_key_hash: row.try_get(1)?,
        public_key: row.try_get(2)?,
        status: CredentialStatus::from_name(&status)
            .ok_or(StoreError::Corrupt("credentials status"))?,
    })
}

fn profile_from(row: &AnyRow) -> Result<EndpointProfile, StoreError> {
    Ok(EndpointProfile {
        endpoint_key_hash: row.try_get(0)?,
        application_id: row.try_get(1)?,
        public_key: row.try_get(2)?,
        access_token: row.try_get(3)?,
        sdk_token: row.try_get(4)?,
        client_profile_version: int(row, 5)?,
        client_profile: row.try_get(6)?,
        profile_hash: row.try_get(7)?,
        server_profile_version: int(row, 8)?,
        server_profile: row.try_get(9)?,
        groups: groups_from_json(&row.try_get::<String, _>(10)?)?,
        configuration_hash: row.try_get(11)?,
        topic_hash: int(row, 12)?,
        subscriptions: strings_from_json(&row.try_get::<String, _>(13)?)?,
        system_notification_seq: int(row, 14)?,
        owner_id: row.try_get(15)?,
        node_id: row.try_get(16)?,
        last_seen_ms: row.try_get(17)?,
        version: row.try_get(18)?,
    })
}

/// An `i32` kept in a BIGINT column (one integer type reads the same on every dialect).
fn int(row: &AnyRow, column: usize) -> Result<i32, StoreError> {
    i32::try_from(row.try_get::<i64, _>(column)?)
        .map_err(|_| StoreError::Corrupt("32-bit integer out of range"))
}

fn kind(row: &AnyRow, column: usize) -> Result<NotificationKind, StoreError> {
    NotificationKind::from_name(&row.try_get::<String, _>(column)?)
        .ok_or(StoreError::Corrupt("notification kind"))
}

/// `[[group_id, filter_id, configuration_id], …]`, absent ids as `null`.
fn groups_json(groups: &[GroupState]) -> String {
    Value::Array(
        groups
            .iter()
            .map(|g| {
                Value::Array(vec![
                    Value::from(g.group_id.as_str()),
                    g.filter_id.as_deref().map_or(Value::Null, Value::from),
                    g.configuration_id
                        .as_deref()
                        .map_or(Value::Null, Value::from),
                ])
            })
            .collect(),
    )
    .to_string()
}

fn groups_from_json(text: &str) -> Result<Vec<GroupState>, StoreError> {
    const CORRUPT: StoreError = StoreError::Corrupt("endpoint profile groups");
    let Ok(Value::Array(groups)) = serde_json::from_str(text) else {
        return Err(CORRUPT);
    };
    let optional = |value: &Value| match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(CORRUPT),
    };
    groups
        .iter()
        .map(|group| match group.as_array().map(Vec::as_slice) {
            Some([Value::String(group_id), filter_id, configuration_id]) => Ok(GroupState {
                group_id: group_id.clone(),
                filter_id: optional(filter_id)?,
                configuration_id: optional(configuration_id)?,
            }),
            _ => Err(CORRUPT),
        })
        .collect()
}

fn strings_from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt("list of ids"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_survive_their_json_column() {
        let groups = vec![
            GroupState {
                group_id: "all".into(),
                filter_id: None,
                configuration_id: Some("c\"1".into()),
            },
            GroupState {
                group_id: "g2".into(),
                filter_id: Some("f2".into()),
                configuration_id: None,
            },
        ];
        assert_eq!(groups_from_json(&groups_json(&groups)).unwrap(), groups);
        assert_eq!(groups_from_json("[]").unwrap(), []);
        assert!(groups_from_json("[[1, null, null]]").is_err());
        assert!(groups_from_json("{}").is_err());
    }
}
