//! An application's log appenders, user verifiers and SDK profiles. Their type-specific settings
//! are JSON text, checked by the API; here they are stored, listed and logged.

use super::record::{Record, execute_changing, stored};
use super::{MetadataStore, Page, Paged, new_id, now_ms};
use crate::StoreError;

/// A log appender: where an application's logs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAppender {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Name, unique in the application.
    pub name: String,
    /// `cassandra`, `mongodb`, `file` or `rest`.
    pub appender_type: String,
    /// Lowest log schema version it takes.
    pub min_log_version: i64,
    /// Highest log schema version it takes (0: no upper bound).
    pub max_log_version: i64,
    /// Whether endpoints get SUCCESS only once this appender stored their logs.
    pub confirm_delivery: bool,
    /// Record header fields it writes, as a JSON array.
    pub header_fields: String,
    /// Type-specific settings, JSON.
    pub settings: String,
    /// Creation time.
    pub created_ms: i64,
}

/// A user verifier: how endpoints prove who their owner is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserVerifier {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Name, unique in the application.
    pub name: String,
    /// `trustful` or `http`.
    pub verifier_type: String,
    /// The token SDKs name the verifier by.
    pub verifier_token: String,
    /// Type-specific settings, JSON.
    pub settings: String,
    /// Creation time.
    pub created_ms: i64,
}

/// An SDK profile: what a generated SDK is pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkProfile {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Name, unique in the application.
    pub name: String,
    /// The token generated SDKs carry.
    pub sdk_token: String,
    /// Client-profile schema version (0: none).
    pub client_profile_version: i64,
    /// Server-profile schema version (0: none).
    pub server_profile_version: i64,
    /// Configuration schema version (0: none).
    pub configuration_version: i64,
    /// Notification schema version (0: none).
    pub notification_version: i64,
    /// Log schema version (0: none).
    pub log_version: i64,
    /// Event maps, as a JSON array of ids.
    pub event_map_ids: String,
    /// Token of the default user verifier.
    pub default_verifier_token: Option<String>,
    /// Creation time.
    pub created_ms: i64,
}

stored! {
    LogAppender in "log_appenders",
    not found: "log appender",
    conflict: "log appender name",
    columns: [
        id, app_id, name, appender_type, min_log_version, max_log_version, confirm_delivery,
        header_fields, settings, created_ms,
    ],
}

stored! {
    UserVerifier in "user_verifiers",
    not found: "user verifier",
    conflict: "user verifier name",
    columns: [id, app_id, name, verifier_type, verifier_token, settings, created_ms],
}

stored! {
    SdkProfile in "sdk_profiles",
    not found: "SDK profile",
    conflict: "SDK profile name",
    columns: [
        id, app_id, name, sdk_token, client_profile_version, server_profile_version,
        configuration_version, notification_version, log_version, event_map_ids,
        default_verifier_token, created_ms,
    ],
}

impl MetadataStore {
    /// Adds a log appender (fields other than id and creation time as given); logged.
    pub async fn create_appender(&self, appender: LogAppender) -> Result<LogAppender, StoreError> {
        let appender = LogAppender {
            id: new_id(),
            created_ms: now_ms(),
            ..appender
        };
        self.insert_logged(&appender, &appender.app_id, "log_appender", &appender.id)
            .await?;
        Ok(appender)
    }

    /// An application's log appenders, by name.
    pub async fn appenders(
        &self,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<LogAppender>, StoreError> {
        self.select("WHERE app_id = ? ORDER BY name")
            .bind(app_id)
            .page(page)
            .await
    }

    /// One log appender of an application.
    pub async fn appender(&self, app_id: &str, id: &str) -> Result<LogAppender, StoreError> {
        self.select("WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(id)
            .one()
            .await
    }

    /// Removes a log appender; logged. Returns the change's sequence number.
    pub async fn delete_appender(&self, app_id: &str, id: &str) -> Result<i64, StoreError> {
        let delete = self
            .statement("DELETE FROM log_appenders WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(id);
        self.delete_logged(delete, LogAppender::WHAT, app_id, "log_appender", id)
            .await
    }

    /// Adds a user verifier with a fresh token; logged.
    pub async fn create_verifier(
        &self,
        app_id: &str,
        name: &str,
        verifier_type: &str,
        settings: &str,
    ) -> Result<UserVerifier, StoreError> {
        let verifier = UserVerifier {
            id: new_id(),
            app_id: app_id.to_owned(),
            name: name.to_owned(),
            verifier_type: verifier_type.to_owned(),
            verifier_token: uuid::Uuid::new_v4().simple().to_string(),
            settings: settings.to_owned(),
            created_ms: now_ms(),
        };
        self.insert_logged(&verifier, app_id, "user_verifier", &verifier.id)
            .await?;
        Ok(verifier)
    }

    /// An application's user verifiers, by name.
    pub async fn verifiers(
        &self,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<UserVerifier>, StoreError> {
        self.select("WHERE app_id = ? ORDER BY name")
            .bind(app_id)
            .page(page)
            .await
    }

    /// One user verifier of an application, by id or by token.
    pub async fn verifier(
        &self,
        app_id: &str,
        id_or_token: &str,
    ) -> Result<UserVerifier, StoreError> {
        self.select("WHERE app_id = ? AND (id = ? OR verifier_token = ?)")
            .bind(app_id)
            .bind(id_or_token)
            .bind(id_or_token)
            .one()
            .await
    }

    /// Removes a user verifier; logged. Returns the change's sequence number.
    pub async fn delete_verifier(&self, app_id: &str, id: &str) -> Result<i64, StoreError> {
        let delete = self
            .statement("DELETE FROM user_verifiers WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(id);
        self.delete_logged(delete, UserVerifier::WHAT, app_id, "user_verifier", id)
            .await
    }

    /// Adds an SDK profile (fields other than id and creation time as given), with a fresh SDK
    /// token when `sdk_token` is empty; a token already taken is a conflict. The caller has
    /// checked the versions and the token's form.
    pub async fn create_sdk_profile(&self, profile: SdkProfile) -> Result<SdkProfile, StoreError> {
        let sdk_token = if profile.sdk_token.is_empty() {
            uuid::Uuid::new_v4().simple().to_string()
        } else {
            match self.sdk_profile_by_token(&profile.sdk_token).await {
                Ok(_) => return Err(StoreError::Conflict("SDK token")),
                Err(StoreError::NotFound(_)) => profile.sdk_token.clone(),
                Err(error) => return Err(error),
            }
        };
        let profile = SdkProfile {
            id: new_id(),
            sdk_token,
            created_ms: now_ms(),
            ..profile
        };
        self.insert(self.db.pool(), &profile).await?;
        Ok(profile)
    }

    /// An application's SDK profiles, by name.
    pub async fn sdk_profiles(
        &self,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<SdkProfile>, StoreError> {
        self.select("WHERE app_id = ? ORDER BY name")
            .bind(app_id)
            .page(page)
            .await
    }

    /// One SDK profile of the application.
    pub async fn sdk_profile(&self, app_id: &str, id: &str) -> Result<SdkProfile, StoreError> {
        self.select("WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(id)
            .one()
            .await
    }

    /// The SDK profile an SDK token names (how Operations finds what an endpoint runs).
    pub async fn sdk_profile_by_token(&self, sdk_token: &str) -> Result<SdkProfile, StoreError> {
        self.select("WHERE sdk_token = ?")
            .bind(sdk_token)
            .one()
            .await
    }

    /// Whether `map_id` is one of the application's event maps.
    pub async fn event_map_exists(&self, app_id: &str, map_id: &str) -> Result<bool, StoreError> {
        let row = self
            .statement("SELECT id FROM application_event_maps WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(map_id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Removes an SDK profile; generated SDKs carrying its token stop registering.
    pub async fn delete_sdk_profile(&self, app_id: &str, id: &str) -> Result<(), StoreError> {
        let delete = self
            .statement("DELETE FROM sdk_profiles WHERE app_id = ? AND id = ?")
            .bind(app_id)
            .bind(id);
        let missing = StoreError::NotFound(SdkProfile::WHAT);
        execute_changing(delete, self.db.pool(), missing).await
    }
}
