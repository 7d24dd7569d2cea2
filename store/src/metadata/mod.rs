//! The SQL metadata store of Control: tenants, users and their sessions, applications with their
//! change log, schemas and endpoint groups. One implementation serves PostgreSQL, MariaDB and
//! SQLite; `tests/tests/it/metadata_store.rs` runs one conformance suite against all three.
//!
//! Every statement is written once with `?` placeholders and adapted to the dialect
//! (`SqlDatabase::statement`); each stored type names its SELECT, its INSERT and how a row maps
//! to it once, next to its definition, and the queries share the readers and writers of
//! `record.rs`. Migrations are one script per version with the dialect's large-text type filled
//! in. Ids are UUIDv7 strings, times Unix milliseconds.
//!
//! **Change log.** Every change that Operations nodes must learn about is appended, in the same
//! transaction as the change, under the application's next sequence number, so a node that missed
//! a notification catches up with [`MetadataStore::changes_since`].

use std::time::{SystemTime, UNIX_EPOCH};

use kaa_model::Role;
use sqlx::{AnyConnection, Row};

use crate::StoreError;
use crate::sql::SqlDatabase;
use record::{Insert, Record, execute_changing, stored};

mod audit;
mod components;
mod documents;
mod events;
mod record;
mod topics;

pub use audit::{AuditEntry, AuditFilter};
pub use components::{LogAppender, SdkProfile, UserVerifier};
pub use documents::{DocumentKind, DocumentStatus, GroupDocument};
pub use events::{
    EventAction, EventClass, EventClassKind, EventFamily, EventFamilyVersion, EventMap,
    EventMapAction, MAX_FQN_LEN, NewEventClass,
};
pub use topics::{Topic, TopicKind};

/// The migrations, in order: (version, description, script).
#[rustfmt::skip]
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "metadata", include_str!("../../migrations/0001_metadata.sql")),
    (2, "group documents", include_str!("../../migrations/0002_group_documents_topics.sql")),
    (3, "event families", include_str!("../../migrations/0003_event_families.sql")),
    (4, "components", include_str!("../../migrations/0004_components.sql")),
    (5, "notification sequences", include_str!("../../migrations/0005_notification_sequences.sql")),
    (6, "audit log", include_str!("../../migrations/0006_audit_log.sql")),
];

/// The name of the built-in group every application has, which every endpoint joins.
pub const GROUP_ALL: &str = "all";

/// How an application accepts endpoint credentials.
pub const CREDENTIALS_SERVICES: [&str; 2] = ["trustful", "internal"];

/// The kinds of schema an application versions.
pub const SCHEMA_KINDS: [&str; 5] = [
    "client_profile",
    "server_profile",
    "configuration",
    "notification",
    "log",
];

/// A page of a list: at most `limit` items after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items to skip.
    pub offset: i64,
    /// Most items to return.
    pub limit: i64,
}

/// One page of results and the offset of the next page, if there may be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    /// The items.
    pub items: Vec<T>,
    /// Offset of the next page; `None` on the last page.
    pub next: Option<i64>,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_ms: i64,
}

/// An admin user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: String,
    /// Tenant; `None` for KAA_ADMIN.
    pub tenant_id: Option<String>,
    /// Unique login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_ms: i64,
}

/// An application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique in the tenant.
    pub name: String,
    /// The application token endpoints' SDKs carry.
    pub app_token: String,
    /// `trustful` or `internal`.
    pub credentials_service: String,
    /// Sequence number of the application's last change.
    pub seq: i64,
    /// Creation time.
    pub created_ms: i64,
}

/// One version of one kind of schema of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// One of [`SCHEMA_KINDS`].
    pub kind: String,
    /// 1, 2, … per application and kind.
    pub version: i64,
    /// Display name.
    pub name: String,
    /// The Avro schema text.
    pub body: String,
    /// Creation time.
    pub created_ms: i64,
}

/// An endpoint group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointGroup {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Name, unique in the application.
    pub name: String,
    /// Merge weight, unique in the application; `all` has 0.
    pub weight: i64,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_ms: i64,
}

/// One entry of an application's change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Application.
    pub app_id: String,
    /// The application's sequence number of this change.
    pub seq: i64,
    /// What changed, e.g. `application`, `endpoint_group`.
    pub entity: String,
    /// Its id.
    pub entity_id: String,
    /// `insert`, `update` or `delete`.
    pub op: String,
    /// When.
    pub created_ms: i64,
}

/// The metadata store.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    db: SqlDatabase,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming `what`.
fn conflict(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::Conflict(what),
        _ => StoreError::Sql(error),
    }
}

/// One page from `items`, listed with one item more than `page` asks for: that extra item tells
/// whether another page exists.
pub fn paged<T>(mut items: Vec<T>, page: Page) -> Paged<T> {
    let next = (items.len() as i64 > page.limit).then(|| page.offset.saturating_add(page.limit));
    items.truncate(page.limit as usize);
    Paged { items, next }
}

impl MetadataStore {
    /// Opens the store on `db` and brings its schema up to date.
    pub async fn open(db: SqlDatabase) -> Result<Self, StoreError> {
        let store = Self { db };
        store.migrate().await?;
        Ok(store)
    }

    /// The database.
    pub fn database(&self) -> &SqlDatabase {
        &self.db
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx's default table: databases migrated before the endpoint store existed keep working.
        self.db.migrate("_sqlx_migrations", MIGRATIONS).await
    }

    // ---- tenants ----

    /// Creates a tenant; its name must be unique.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
        let tenant = Tenant {
            id: new_id(),
            name: name.to_owned(),
            created_ms: now_ms(),
        };
        self.insert(self.db.pool(), &tenant).await?;
        Ok(tenant)
    }

    /// A tenant by id.
    pub async fn tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        self.select("WHERE id = ?").bind(id).one().await
    }

    /// Tenants by name.
    pub async fn tenants(&self, page: Page) -> Result<Paged<Tenant>, StoreError> {
        self.select("ORDER BY name").page(page).await
    }

    /// Renames a tenant.
    pub async fn rename_tenant(&self, id: &str, name: &str) -> Result<Tenant, StoreError> {
        let done = self
            .statement("UPDATE tenants SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(conflict("tenant name"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        self.tenant(id).await
    }

    /// Deletes a tenant that has no users and no applications left.
    pub async fn delete_tenant(&self, id: &str) -> Result<(), StoreError> {
        let done = self
            .statement("DELETE FROM tenants WHERE id = ?")
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(conflict("tenant still has users or applications"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }

    // ---- users and sessions ----

    /// Creates a user. KAA_ADMIN users have no tenant; every other role needs one.
    pub async fn create_user(
        &self,
        tenant_id: Option<&str>,
        username: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        if role.is_tenant_role() != tenant_id.is_some() {
            return Err(StoreError::Invalid(
                "a KAA_ADMIN has no tenant; every other role has one",
            ));
        }
        let user = User {
            id: new_id(),
            tenant_id: tenant_id.map(str::to_owned),
            username: username.to_owned(),
            role,
            password_hash: password_hash.to_owned(),
            created_ms: now_ms(),
        };
        self.insert(self.db.pool(), &user).await?;
        Ok(user)
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<User, StoreError> {
        self.select("WHERE id = ?").bind(id).one().await
    }

    /// A user by login name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.select("WHERE username = ?")
            .bind(username)
            .optional()
            .await
    }

    /// Users of a tenant (`Some`) or the KAA_ADMINs (`None`), by name.
    pub async fn users(
        &self,
        tenant_id: Option<&str>,
        page: Page,
    ) -> Result<Paged<User>, StoreError> {
        match tenant_id {
            Some(tenant) => self
                .select("WHERE tenant_id = ? ORDER BY username")
                .bind(tenant),
            None => self.select("WHERE tenant_id IS NULL ORDER BY username"),
        }
        .page(page)
        .await
    }

    /// Changes a user's role and/or password hash. A new password ends the user's sessions,
    /// all but `keep` (the token hash of the session that changed its own password), in the same
    /// transaction.
    pub async fn update_user(
        &self,
        id: &str,
        role: Option<Role>,
        password_hash: Option<&str>,
        keep: Option<&str>,
    ) -> Result<User, StoreError> {
        let mut user = self.user(id).await?;
        if let Some(role) = role {
            if role.is_tenant_role() != user.tenant_id.is_some() {
                return Err(StoreError::Invalid(
                    "a user cannot move between KAA_ADMIN and tenant roles",
                ));
            }
            user.role = role;
        }
        if let Some(hash) = password_hash {
            user.password_hash = hash.to_owned();
        }
        let mut tx = self.db.pool().begin().await?;
        self.statement("UPDATE users SET role = ?, password_hash = ? WHERE id = ?")
            .bind(user.role.name())
            .bind(&user.password_hash)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if password_hash.is_some() {
            self.statement("DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?")
                .bind(id)
                .bind(keep.unwrap_or(""))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    /// Deletes a user and their sessions.
    pub async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        self.statement("DELETE FROM sessions WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let delete = self.statement("DELETE FROM users WHERE id = ?").bind(id);
        execute_changing(delete, &mut *tx, StoreError::NotFound(User::WHAT)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a session token's hash for `user_id` until `expires_ms`.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.statement("INSERT INTO sessions (token_hash, user_id, expires_ms) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(user_id)
            .bind(expires_ms)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The user of an unexpired session.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        self.select(
            "JOIN sessions ON sessions.user_id = users.id \
             WHERE sessions.token_hash = ? AND sessions.expires_ms > ?",
        )
        .bind(token_hash)
        .bind(now_ms())
        .optional()
        .await
    }

    /// Ends a session, and every expired one.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.statement("DELETE FROM sessions WHERE token_hash = ? OR expires_ms <= ?")
            .bind(token_hash)
            .bind(now_ms())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Deletes every expired session; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, StoreError> {
        let done = self
            .statement("DELETE FROM sessions WHERE expires_ms <= ?")
            .bind(now_ms())
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }

    // ---- applications and the change log ----

    /// Creates an application with its group `all`, and logs both.
    pub async fn create_application(
        &self,
        tenant_id: &str,
        name: &str,
        credentials_service: &str,
    ) -> Result<Application, StoreError> {
        if !CREDENTIALS_SERVICES.contains(&credentials_service) {
            return Err(StoreError::Invalid(
                "credentials_service must be trustful or internal",
            ));
        }
        let app = Application {
            id: new_id(),
            tenant_id: tenant_id.to_owned(),
            name: name.to_owned(),
            app_token: uuid::Uuid::new_v4().simple().to_string(),
            credentials_service: credentials_service.to_owned(),
            seq: 0,
            created_ms: now_ms(),
        };
        let all = EndpointGroup::new(&app.id, GROUP_ALL, 0, "every endpoint of the application");
        let mut tx = self.db.pool().begin().await?;
        self.insert(&mut *tx, &app).await?;
        self.log_change(&mut tx, &app.id, "application", &app.id, "insert")
            .await?;
        self.insert(&mut *tx, &all).await?;
        let seq = self
            .log_change(&mut tx, &app.id, "endpoint_group", &all.id, "insert")
            .await?;
        tx.commit().await?;
        Ok(Application { seq, ..app })
    }

    /// An application by id.
    pub async fn application(&self, id: &str) -> Result<Application, StoreError> {
        self.select("WHERE id = ?").bind(id).one().await
    }

    /// A tenant's applications, by name.
    pub async fn applications(
        &self,
        tenant_id: &str,
        page: Page,
    ) -> Result<Paged<Application>, StoreError> {
        self.select("WHERE tenant_id = ? ORDER BY name")
            .bind(tenant_id)
            .page(page)
            .await
    }

    /// Renames an application or changes its credentials service; logged.
    pub async fn update_application(
        &self,
        id: &str,
        name: Option<&str>,
        credentials_service: Option<&str>,
    ) -> Result<Application, StoreError> {
        let current = self.application(id).await?;
        let name = name.unwrap_or(&current.name);
        let credentials = credentials_service.unwrap_or(&current.credentials_service);
        if !CREDENTIALS_SERVICES.contains(&credentials) {
            return Err(StoreError::Invalid(
                "credentials_service must be trustful or internal",
            ));
        }
        let mut tx = self.db.pool().begin().await?;
        self.statement("UPDATE applications SET name = ?, credentials_service = ? WHERE id = ?")
            .bind(name)
            .bind(credentials)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(conflict(Application::CONFLICT))?;
        self.log_change(&mut tx, id, "application", id, "update")
            .await?;
        tx.commit().await?;
        self.application(id).await
    }

    /// Appends a change under the application's next sequence number; returns the number.
    async fn log_change(
        &self,
        tx: &mut AnyConnection,
        app_id: &str,
        entity: &str,
        entity_id: &str,
        op: &str,
    ) -> Result<i64, StoreError> {
        // The UPDATE takes the application's row lock, so concurrent changes get distinct numbers.
        self.statement("UPDATE applications SET seq = seq + 1 WHERE id = ?")
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
        let seq: i64 = self
            .statement("SELECT seq FROM applications WHERE id = ?")
            .bind(app_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let change = Change {
            app_id: app_id.to_owned(),
            seq,
            entity: entity.to_owned(),
            entity_id: entity_id.to_owned(),
            op: op.to_owned(),
            created_ms: now_ms(),
        };
        change
            .bind(self.statement(Change::INSERT))
            .execute(&mut *tx)
            .await?;
        Ok(seq)
    }

    /// The application's changes after `seq`, oldest first, at most `limit`.
    pub async fn changes_since(
        &self,
        app_id: &str,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<Change>, StoreError> {
        self.select("WHERE app_id = ? AND seq > ? ORDER BY seq LIMIT ?")
            .bind(app_id)
            .bind(seq)
            .bind(limit)
            .all()
            .await
    }

    // ---- schemas ----

    /// Adds the next version of an application's schema of `kind`. The body must already be
    /// validated by the caller.
    pub async fn create_schema(
        &self,
        app_id: &str,
        kind: &str,
        name: &str,
        body: &str,
    ) -> Result<SchemaVersion, StoreError> {
        if !SCHEMA_KINDS.contains(&kind) {
            return Err(StoreError::Invalid("unknown schema kind"));
        }
        let mut tx = self.db.pool().begin().await?;
        let latest: Option<i64> = self
            .statement("SELECT MAX(version) FROM app_schemas WHERE app_id = ? AND kind = ?")
            .bind(app_id)
            .bind(kind)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        let schema = SchemaVersion {
            id: new_id(),
            app_id: app_id.to_owned(),
            kind: kind.to_owned(),
            version: latest.unwrap_or(0) + 1,
            name: name.to_owned(),
            body: body.to_owned(),
            created_ms: now_ms(),
        };
        self.insert(&mut *tx, &schema).await?;
        tx.commit().await?;
        Ok(schema)
    }

    /// An application's schemas of `kind`, newest version first.
    pub async fn schemas(
        &self,
        app_id: &str,
        kind: &str,
        page: Page,
    ) -> Result<Paged<SchemaVersion>, StoreError> {
        self.select("WHERE app_id = ? AND kind = ? ORDER BY version DESC")
            .bind(app_id)
            .bind(kind)
            .page(page)
            .await
    }

    /// One schema version.
    pub async fn schema(
        &self,
        app_id: &str,
        kind: &str,
        version: i64,
    ) -> Result<SchemaVersion, StoreError> {
        self.select("WHERE app_id = ? AND kind = ? AND version = ?")
            .bind(app_id)
            .bind(kind)
            .bind(version)
            .one()
            .await
    }

    // ---- endpoint groups ----

    /// Creates an endpoint group (weight > 0, unique in the application); logged.
    pub async fn create_group(
        &self,
        app_id: &str,
        name: &str,
        weight: i64,
        description: &str,
    ) -> Result<EndpointGroup, StoreError> {
        if weight <= 0 {
            return Err(StoreError::Invalid(
                "weight must be positive; 0 belongs to the group all",
            ));
        }
        let group = EndpointGroup::new(app_id, name, weight, description);
        self.insert_logged(&group, app_id, "endpoint_group", &group.id)
            .await?;
        Ok(group)
    }

    /// An application's groups, by weight.
    pub async fn groups(
        &self,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<EndpointGroup>, StoreError> {
        self.select("WHERE app_id = ? ORDER BY weight")
            .bind(app_id)
            .page(page)
            .await
    }

    /// One group.
    pub async fn group(&self, id: &str) -> Result<EndpointGroup, StoreError> {
        self.select("WHERE id = ?").bind(id).one().await
    }

    /// Deletes a group other than `all`; logged.
    pub async fn delete_group(&self, id: &str) -> Result<(), StoreError> {
        let group = self.group(id).await?;
        if group.name == GROUP_ALL && group.weight == 0 {
            return Err(StoreError::Invalid("the group all cannot be deleted"));
        }
        let delete = self
            .statement("DELETE FROM endpoint_groups WHERE id = ?")
            .bind(id);
        self.delete_logged(
            delete,
            EndpointGroup::WHAT,
            &group.app_id,
            "endpoint_group",
            id,
        )
        .await?;
        Ok(())
    }
}

stored! {
    Tenant in "tenants",
    not found: "tenant",
    conflict: "tenant name",
    columns: [id, name, created_ms],
}

stored! {
    User in "users",
    not found: "user",
    conflict: "username",
    columns: [id, tenant_id, username, role, password_hash, created_ms],
}

stored! {
    Application in "applications",
    not found: "application",
    conflict: "application name",
    columns: [id, tenant_id, name, app_token, credentials_service, seq, created_ms],
}

stored! {
    Change in "change_log",
    not found: "change",
    conflict: "change sequence number",
    columns: [app_id, seq, entity, entity_id, op, created_ms],
}

stored! {
    SchemaVersion in "app_schemas",
    not found: "schema",
    conflict: "schema version (a concurrent upload won; retry)",
    columns: [id, app_id, kind, version, name, body, created_ms],
}

stored! {
    EndpointGroup in "endpoint_groups",
    not found: "endpoint group",
    conflict: "group name or weight",
    columns: [id, app_id, name, weight, description, created_ms],
}

impl EndpointGroup {
    /// A new group, created now.
    fn new(app_id: &str, name: &str, weight: i64, description: &str) -> Self {
        EndpointGroup {
            id: new_id(),
            app_id: app_id.to_owned(),
            name: name.to_owned(),
            weight,
            description: description.to_owned(),
            created_ms: now_ms(),
        }
    }
}
