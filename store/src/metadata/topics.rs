//! Notification topics of an application and the groups they are attached to. Endpoints of a
//! group receive its topics: mandatory ones always, optional ones after subscribing.

use sqlx::Row;

use super::record::{Insert, Record, Statement, execute_changing, stored};
use super::{MetadataStore, Page, Paged, new_id, now_ms};
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

stored! {
    Topic in "topics",
    not found: "topic",
    conflict: "topic name",
    columns: [id, app_id, name, kind, created_ms],
}

/// A topic attached to a group.
struct Attachment<'a> {
    group_id: &'a str,
    topic_id: &'a str,
}

impl Insert for Attachment<'_> {
    const INSERT: &'static str = "INSERT INTO group_topics (group_id, topic_id) VALUES (?, ?)";
    const CONFLICT: &'static str = "topic already attached to the group";
    fn bind(&self, insert: Statement) -> Statement {
        insert.bind(self.group_id).bind(self.topic_id)
    }
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
        self.insert(self.db.pool(), &topic).await?;
        Ok(topic)
    }

    /// Hands out the next sequence number of a topic's notifications (1, 2, …).
    pub async fn next_notification_seq(&self, topic_id: &str) -> Result<i32, StoreError> {
        let mut tx = self.db.pool().begin().await?;
        let next = self
            .statement("UPDATE topics SET notification_seq = notification_seq + 1 WHERE id = ?")
            .bind(topic_id);
        execute_changing(next, &mut *tx, StoreError::NotFound(Topic::WHAT)).await?;
        let seq: i64 = self
            .statement("SELECT notification_seq FROM topics WHERE id = ?")
            .bind(topic_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        tx.commit().await?;
        i32::try_from(seq).map_err(|_| StoreError::Invalid("topic sequence exhausted"))
    }

    /// One topic.
    pub async fn topic(&self, id: &str) -> Result<Topic, StoreError> {
        self.select("WHERE id = ?").bind(id).one().await
    }

    /// An application's topics, by name.
    pub async fn topics(&self, app_id: &str, page: Page) -> Result<Paged<Topic>, StoreError> {
        self.select("WHERE app_id = ? ORDER BY name")
            .bind(app_id)
            .page(page)
            .await
    }

    /// The topics attached to a group, by name.
    pub async fn group_topics(&self, group_id: &str) -> Result<Vec<Topic>, StoreError> {
        self.select(
            "JOIN group_topics ON group_topics.topic_id = topics.id \
             WHERE group_topics.group_id = ? ORDER BY topics.name",
        )
        .bind(group_id)
        .all()
        .await
    }

    /// Attaches a topic to a group of the same application; logged. Returns the sequence number.
    pub async fn attach_topic(&self, group_id: &str, topic_id: &str) -> Result<i64, StoreError> {
        let (group, topic) = (self.group(group_id).await?, self.topic(topic_id).await?);
        if group.app_id != topic.app_id {
            return Err(StoreError::NotFound(Topic::WHAT));
        }
        let attachment = Attachment { group_id, topic_id };
        self.insert_logged(&attachment, &group.app_id, "group_topic", topic_id)
            .await
    }

    /// Detaches a topic from a group; logged. Returns the sequence number.
    pub async fn detach_topic(&self, group_id: &str, topic_id: &str) -> Result<i64, StoreError> {
        let group = self.group(group_id).await?;
        let delete = self
            .statement("DELETE FROM group_topics WHERE group_id = ? AND topic_id = ?")
            .bind(group_id)
            .bind(topic_id);
        self.delete_logged(
            delete,
            "topic attachment",
            &group.app_id,
            "group_topic",
            topic_id,
        )
        .await
    }
}
