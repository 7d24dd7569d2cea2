//! Notification topics of an application and the groups they are attached to. Endpoints of a
//! group receive its topics: mandatory ones always, optional ones after subscribing.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{MetadataStore, Page, Paged, conflict, new_id, now_ms, paged};
use crate::StoreError;

/// Whether endpoints may opt out of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    /// Every endpoint of an attached group receives it.
    Mandatory,
    /// Endpoints subscribe and unsubscribe.
    Optional,
}

impl TopicKind {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            TopicKind::Mandatory => "mandatory",
            TopicKind::Optional => "optional",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "mandatory" => Some(TopicKind::Mandatory),
            "optional" => Some(TopicKind::Optional),
            _ => None,
        }
    }
}

/// A notification topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// Id.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Name, unique in the application.
    pub name: String,
    /// Mandatory or optional.
    pub kind: TopicKind,
    /// Creation time.
    pub created_ms: i64,
}

fn topic_from(row: &AnyRow) -> Result<Topic, StoreError> {
    let kind: String = row.try_get(3)?;
    Ok(Topic {
        id: row.try_get(0)?,
        app_id: row.try_get(1)?,
        name: row.try_get(2)?,
        kind: TopicKind::parse(&kind).ok_or(StoreError::Corrupt("unknown topic kind"))?,
        created_ms: row.try_get(4)?,
    })
}

impl MetadataStore {
    /// Creates a topic.
    pub async fn create_topic(
        &self,
        app_id: &str,
        name: &str,
        kind: TopicKind,
    ) -> Result<Topic, StoreError> {
        let topic = Topic {
            id: new_id(),
            app_id: app_id.to_owned(),
            name: name.to_owned(),
            kind,
            created_ms: now_ms(),
        };
        sqlx::query(
            self.sql(
                "INSERT INTO topics (id, app_id, name, kind, created_ms) VALUES (?, ?, ?, ?, ?)",
            ),
        )
        .bind(&topic.id)
        .bind(&topic.app_id)
        .bind(&topic.name)
        .bind(kind.name())
        .bind(topic.created_ms)
        .execute(self.db.pool())
        .await
        .map_err(conflict("topic name"))?;
        Ok(topic)
    }

    /// Hands out the next sequence number of a topic's notifications (1, 2, …).
    pub async fn next_notification_seq(&self, topic_id: &str) -> Result<i32, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        let updated = sqlx::query(
            self.sql("UPDATE topics SET notification_seq = notification_seq + 1 WHERE id = ?"),
        )
        .bind(topic_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("topic"));
        }
        let seq: i64 = sqlx::query(self.sql("SELECT notification_seq FROM topics WHERE id = ?"))
            .bind(topic_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        tx.commit().await?;
        i32::try_from(seq).map_err(|_| StoreError::Invalid("topic sequence exhausted"))
    }

    /// One topic.
    pub async fn topic(&self, id: &str) -> Result<Topic, StoreError> {
        let row = sqlx::query(
            self.sql("SELECT id, app_id, name, kind, created_ms FROM topics WHERE id = ?"),
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| topic_from(&r))
            .transpose()?
            .ok_or(StoreError::NotFound("topic"))
    }

    /// An application's topics, by name.
    pub async fn topics(&self, app_id: &str, page: Page) -> Result<Paged<Topic>, StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT id, app_id, name, kind, created_ms FROM topics WHERE app_id = ? ORDER BY name LIMIT ? OFFSET ?",
        ))
        .bind(app_id)
        .bind(page.limit + 1)
        .bind(page.offset)
        .fetch_all(self.db.pool())
        .await?;
        Ok(paged(
            rows.iter().map(topic_from).collect::<Result<_, _>>()?,
            page,
        ))
    }

    /// The topics attached to a group, by name.
    pub async fn group_topics(&self, group_id: &str) -> Result<Vec<Topic>, StoreError> {
        let rows = sqlx::query(self.sql(
            "SELECT t.id, t.app_id, t.name, t.kind, t.created_ms FROM topics t \
             JOIN group_topics g ON g.topic_id = t.id WHERE g.group_id = ? ORDER BY t.name",
        ))
        .bind(group_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(topic_from).collect()
    }

    /// Attaches a topic to a group of the same application; logged. Returns the sequence number.
    pub async fn attach_topic(&self, group_id: &str, topic_id: &str) -> Result<i64, StoreError> {
        let (group, topic) = (self.group(group_id).await?, self.topic(topic_id).await?);
        if group.app_id != topic.app_id {
            return Err(StoreError::NotFound("topic"));
        }
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(self.sql("INSERT INTO group_topics (group_id, topic_id) VALUES (?, ?)"))
            .bind(group_id)
            .bind(topic_id)
            .execute(&mut *tx)
            .await
            .map_err(conflict("topic already attached to the group"))?;
        let seq = self
            .log_change(&mut tx, &group.app_id, "group_topic", topic_id, "insert")
            .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Detaches a topic from a group; logged. Returns the sequence number.
    pub async fn detach_topic(&self, group_id: &str, topic_id: &str) -> Result<i64, StoreError> {
        let group = self.group(group_id).await?;
        let mut tx = self.db.pool().begin().await?;
        let done =
            sqlx::query(self.sql("DELETE FROM group_topics WHERE group_id = ? AND topic_id = ?"))
                .bind(group_id)
                .bind(topic_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("topic attachment"));
        }
        let seq = self
            .log_change(&mut tx, &group.app_id, "group_topic", topic_id, "delete")
            .await?;
        tx.commit().await?;
        Ok(seq)
    }
}
