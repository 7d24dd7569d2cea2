//! Profile filters and configurations: documents attached to an endpoint group and a schema
//! version, written as drafts and activated. At most one document of a kind is active per group
//! and schema versions; activating one deprecates the one before, in one transaction, logged.

use sqlx::{Any, Transaction};

use super::record::{Statement, execute_changing, stored};
use super::{MetadataStore, Page, Paged, new_id, now_ms};
use crate::StoreError;

/// What a group document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// A profile filter: an expression over client and server profiles.
    ProfileFilter,
    /// A configuration: a JSON document of the configuration schema.
    Configuration,
}

impl DocumentKind {
    /// The stored name, also the change-log entity.
    pub fn name(self) -> &'static str {
        match self {
            DocumentKind::ProfileFilter => "profile_filter",
            DocumentKind::Configuration => "configuration",
        }
    }

    pub(super) fn parse(name: &str) -> Option<Self> {
        match name {
            "profile_filter" => Some(DocumentKind::ProfileFilter),
            "configuration" => Some(DocumentKind::Configuration),
            _ => None,
        }
    }
}

/// Where a document is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentStatus {
    /// Editable, not in effect.
    Draft,
    /// In effect.
    Active,
    /// Was in effect; kept for history.
    Deprecated,
}

impl DocumentStatus {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            DocumentStatus::Draft => "draft",
            DocumentStatus::Active => "active",
            DocumentStatus::Deprecated => "deprecated",
        }
    }

    pub(super) fn parse(name: &str) -> Option<Self> {
        match name {
            "draft" => Some(DocumentStatus::Draft),
            "active" => Some(DocumentStatus::Active),
            "deprecated" => Some(DocumentStatus::Deprecated),
            _ => None,
        }
    }
}

/// A profile filter or a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDocument {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Group.
    pub group_id: String,
    /// Filter or configuration.
    pub kind: DocumentKind,
    /// Client-profile schema version (filters) or configuration schema version; 0 = any.
    pub schema_version: i64,
    /// Server-profile schema version (filters; 0 = any); 0 for configurations.
    pub server_schema_version: i64,
    /// The expression or the JSON document.
    pub body: String,
    /// Draft, active or deprecated.
    pub status: DocumentStatus,
    /// Creation time.
    pub created_ms: i64,
    /// Activation time.
    pub activated_ms: Option<i64>,
}

stored! {
    GroupDocument in "group_documents",
    not found: "group document",
    conflict: "group document",
    columns: [
        id, app_id, group_id, kind, schema_version, server_schema_version, body, status,
        created_ms, activated_ms,
    ],
}

impl MetadataStore {
    /// Writes a draft. The caller has validated the body against the schema versions.
    pub async fn create_document(
        &self,
        group_id: &str,
        kind: DocumentKind,
        schema_version: i64,
        server_schema_version: i64,
        body: &str,
    ) -> Result<GroupDocument, StoreError> {
        let group = self.group(group_id).await?;
        let document = GroupDocument {
            id: new_id(),
            app_id: group.app_id,
            group_id: group.id,
            kind,
            schema_version,
            server_schema_version,
            body: body.to_owned(),
            status: DocumentStatus::Draft,
            created_ms: now_ms(),
            activated_ms: None,
        };
        self.insert(self.db.pool(), &document).await?;
        Ok(document)
    }

    /// One document of `kind`.
    pub async fn document(
        &self,
        kind: DocumentKind,
        id: &str,
    ) -> Result<GroupDocument, StoreError> {
        self.select("WHERE id = ? AND kind = ?")
            .bind(id)
            .bind(kind.name())
            .optional()
            .await?
            .ok_or(StoreError::NotFound(kind.name()))
    }

    /// A group's documents of `kind`, newest first.
    pub async fn documents(
        &self,
        group_id: &str,
        kind: DocumentKind,
        page: Page,
    ) -> Result<Paged<GroupDocument>, StoreError> {
        self.select("WHERE group_id = ? AND kind = ? ORDER BY created_ms DESC, id DESC")
            .bind(group_id)
            .bind(kind.name())
            .page(page)
            .await
    }

    /// The active documents of `kind` across an application's groups.
    pub async fn active_documents(
        &self,
        app_id: &str,
        kind: DocumentKind,
    ) -> Result<Vec<GroupDocument>, StoreError> {
        self.select("WHERE app_id = ? AND kind = ? AND status = 'active' ORDER BY group_id")
            .bind(app_id)
            .bind(kind.name())
            .all()
            .await
    }

    /// Replaces a draft's body.
    pub async fn update_draft(
        &self,
        kind: DocumentKind,
        id: &str,
        body: &str,
    ) -> Result<GroupDocument, StoreError> {
        let update = self
            .statement(
                "UPDATE group_documents SET body = ? WHERE id = ? AND kind = ? AND status = 'draft'",
            )
            .bind(body)
            .bind(id)
            .bind(kind.name());
        self.change_draft(kind, id, update, "only drafts can be edited")
            .await?;
        self.document(kind, id).await
    }

    /// Activates a draft, deprecating the document it replaces; logged. Returns the document
    /// and the change's sequence number.
    pub async fn activate(
        &self,
        kind: DocumentKind,
        id: &str,
    ) -> Result<(GroupDocument, i64), StoreError> {
        let document = self.document(kind, id).await?;
        if document.status != DocumentStatus::Draft {
            return Err(StoreError::Invalid("only drafts can be activated"));
        }
        let mut tx = self.db.pool().begin().await?;
        self.statement(
            "UPDATE group_documents SET status = 'deprecated' WHERE group_id = ? AND kind = ? \
             AND schema_version = ? AND server_schema_version = ? AND status = 'active'",
        )
        .bind(&document.group_id)
        .bind(kind.name())
        .bind(document.schema_version)
        .bind(document.server_schema_version)
        .execute(&mut *tx)
        .await?;
        let activate = self
            .statement(
                "UPDATE group_documents SET status = 'active', activated_ms = ? \
                 WHERE id = ? AND status = 'draft'",
            )
            .bind(now_ms())
            .bind(id);
        let concurrent = StoreError::Conflict("the draft was activated concurrently");
        execute_changing(activate, &mut *tx, concurrent).await?;
        self.log_transition(tx, &document, "activate").await
    }

    /// Takes an active document out of effect; logged. Returns it and the sequence number.
    pub async fn deactivate(
        &self,
        kind: DocumentKind,
        id: &str,
    ) -> Result<(GroupDocument, i64), StoreError> {
        let document = self.document(kind, id).await?;
        let mut tx = self.db.pool().begin().await?;
        let deactivate = self
            .statement(
                "UPDATE group_documents SET status = 'deprecated' WHERE id = ? AND status = 'active'",
            )
            .bind(id);
        let inactive = StoreError::Invalid("only an active document can be deactivated");
        execute_changing(deactivate, &mut *tx, inactive).await?;
        self.log_transition(tx, &document, "deactivate").await
    }

    /// Deletes a draft.
    pub async fn delete_draft(&self, kind: DocumentKind, id: &str) -> Result<(), StoreError> {
        let delete = self
            .statement("DELETE FROM group_documents WHERE id = ? AND kind = ? AND status = 'draft'")
            .bind(id)
            .bind(kind.name());
        self.change_draft(kind, id, delete, "only drafts can be deleted")
            .await
    }

    /// Runs `change`, a statement on the draft `id`: if it touched no row, the document is
    /// missing ([`StoreError::NotFound`]) or no draft (`Invalid(refused)`).
    async fn change_draft(
        &self,
        kind: DocumentKind,
        id: &str,
        change: Statement,
        refused: &'static str,
    ) -> Result<(), StoreError> {
        if change.execute(self.db.pool()).await?.rows_affected() == 0 {
            self.document(kind, id).await?;
            return Err(StoreError::Invalid(refused));
        }
        Ok(())
    }

    /// Logs `op` on `document` in `tx`, commits, and returns the document as it is now with
    /// the change's sequence number.
    async fn log_transition(
        &self,
        mut tx: Transaction<'_, Any>,
        document: &GroupDocument,
        op: &str,
    ) -> Result<(GroupDocument, i64), StoreError> {
        let (kind, id) = (document.kind, document.id.as_str());
        let seq = self
            .log_change(&mut tx, &document.app_id, kind.name(), id, op)
            .await?;
        tx.commit().await?;
        Ok((self.document(kind, id).await?, seq))
    }
}
