//! Control's domain layer: the metadata operations the admin API performs, between its handlers
//! and the stores.
//!
//! A handler parses, authorizes and serialises; what happens to the data happens here. A write
//! that Operations nodes act on goes through one method of [`Metadata`], which stores the data
//! (the store writes the application's change-log row in the same transaction) and then
//! announces the typed [`Change`] to every live Operations node. The tenant-scoped lookups answer
//! records of another tenant, application or group as absent. Records kept per application share
//! one list/get/remove shape (`AppScoped`, `AppRemovable`).
//!
//! Reads, and writes no Operations node has to hear of (tenants, users, sessions, schemas, drafts,
//! event families, SDK profiles), go to the store directly through [`Metadata::store`].

use std::sync::Arc;

use kaa_store::StoreError;
use kaa_store::endpoint::{EndpointStore, Notification, NotificationKind};
use kaa_store::metadata::{
    Application, DocumentKind, EndpointGroup, EventAction, EventMap, GroupDocument, LogAppender,
    MetadataStore, Page, Paged, SdkProfile, Topic, UserVerifier,
};

use crate::announce::ChangeAnnouncer;
use crate::changes::{Announcement, Change};

/// Control's metadata as the admin API reads and changes it; every change Operations acts on is
/// announced.
#[derive(Clone)]
pub struct Metadata {
    store: MetadataStore,
    endpoints: EndpointStore,
    announcer: Arc<ChangeAnnouncer>,
}

impl Metadata {
    /// The layer over the metadata `store` and the `endpoints` store (topic notifications),
    /// announcing through `announcer`.
    pub fn new(
        store: MetadataStore,
        endpoints: EndpointStore,
        announcer: Arc<ChangeAnnouncer>,
    ) -> Self {
        Self {
            store,
            endpoints,
            announcer,
        }
    }

    /// The metadata store, for reads and for writes no Operations node has to hear of.
    pub fn store(&self) -> &MetadataStore {
        &self.store
    }

    /// Tells every live Operations node about a committed change, in the background (leader
    /// only; a node that misses it catches up from the change log).
    fn announce(&self, announcement: Announcement) {
        let Ok(targets) = self.announcer.targets() else {
            return;
        };
        let announcer = self.announcer.clone();
        tokio::spawn(async move {
            let notification = announcement.notification();
            for (node, result) in announcer.announce(targets, notification).await {
                if let Err(error) = result {
                    tracing::warn!(operations_node = %node, %error, "change not announced; the node catches up from the change log");
                }
            }
        });
    }

    /// Announces `change` of application `app_id` with the sequence number of the application's
    /// last change, for writes whose store call does not return it.
    async fn announce_latest(&self, app_id: &str, change: Change) -> Result<(), StoreError> {
        let seq = self.store.application(app_id).await?.seq;
        self.announce(Announcement::logged(app_id, seq, change));
        Ok(())
    }

    // ---- tenant-scoped lookups ----

    /// Application `id` if it belongs to tenant `tenant_id`.
    pub async fn application_in(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Application, StoreError> {
        match self.store.application(id).await {
            Ok(app) if app.tenant_id == tenant_id => Ok(app),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(StoreError::NotFound("application")),
            Err(error) => Err(error),
        }
    }

    /// Document `id` of `kind` if it belongs to group `group_id`.
    pub async fn document_in(
        &self,
        group_id: &str,
        kind: DocumentKind,
        id: &str,
    ) -> Result<GroupDocument, StoreError> {
        match self.store.document(kind, id).await {
            Ok(document) if document.group_id == group_id => Ok(document),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(StoreError::NotFound(kind.name())),
            Err(error) => Err(error),
        }
    }

    // ---- records of an application, alike ----

    /// One page of application `app_id`'s records of type `T`.
    pub(crate) async fn list<T: AppScoped>(
        &self,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<T>, StoreError> {
        T::list(&self.store, app_id, page).await
    }

    /// Record `id` of type `T` if it belongs to application `app_id`.
    pub(crate) async fn get<T: AppScoped>(&self, app_id: &str, id: &str) -> Result<T, StoreError> {
        T::get(&self.store, app_id, id).await
    }

    /// Removes record `id` of type `T` of application `app_id`, announcing the change if
    /// Operations acts on it.
    pub(crate) async fn remove<T: AppRemovable>(
        &self,
        app_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        T::remove(self, app_id, id).await
    }

    // ---- writes Operations acts on ----

    /// Creates an application with its group `all`.
    pub async fn create_application(
        &self,
        tenant_id: &str,
        name: &str,
        credentials_service: &str,
    ) -> Result<Application, StoreError> {
        let app = self
            .store
            .create_application(tenant_id, name, credentials_service)
            .await?;
        self.announce(Announcement::logged(&app.id, app.seq, Change::Application));
        Ok(app)
    }

    /// Renames an application or changes its credentials service.
    pub async fn update_application(
        &self,
        id: &str,
        name: Option<&str>,
        credentials_service: Option<&str>,
    ) -> Result<Application, StoreError> {
        let app = self
            .store
            .update_application(id, name, credentials_service)
            .await?;
        self.announce(Announcement::logged(&app.id, app.seq, Change::Application));
        Ok(app)
    }

    /// Creates an endpoint group.
    pub async fn create_group(
        &self,
        app_id: &str,
        name: &str,
        weight: i64,
        description: &str,
    ) -> Result<EndpointGroup, StoreError> {
        let group = self
            .store
            .create_group(app_id, name, weight, description)
            .await?;
        let change = Change::Group {
            group_id: group.id.clone(),
            added: true,
        };
        self.announce_latest(app_id, change).await?;
        Ok(group)
    }

    /// Attaches topic `topic_id` to `group`, or detaches it.
    pub async fn set_topic_attachment(
        &self,
        group: &EndpointGroup,
        topic_id: &str,
        attached: bool,
    ) -> Result<(), StoreError> {
        let seq = if attached {
            self.store.attach_topic(&group.id, topic_id).await?
        } else {
            self.store.detach_topic(&group.id, topic_id).await?
        };
        let change = Change::TopicAttachment {
            group_id: group.id.clone(),
            topic_id: topic_id.to_owned(),
            attached,
        };
        self.announce(Announcement::logged(&group.app_id, seq, change));
        Ok(())
    }

    /// Activates document `id` of `kind` of `group` (deprecating the one it replaces), or takes
    /// it out of effect.
    pub async fn set_document_active(
        &self,
        group: &EndpointGroup,
        kind: DocumentKind,
        id: &str,
        active: bool,
    ) -> Result<GroupDocument, StoreError> {
        let (document, seq) = if active {
            self.store.activate(kind, id).await?
        } else {
            self.store.deactivate(kind, id).await?
        };
        let (group_id, id) = (group.id.clone(), document.id.clone());
        let change = match kind {
            DocumentKind::Configuration => Change::Configuration {
                group_id,
                configuration_id: id,
                active,
            },
            DocumentKind::ProfileFilter => Change::ProfileFilter {
                group_id,
                profile_filter_id: id,
                active,
            },
        };
        self.announce(Announcement::logged(&group.app_id, seq, change));
        Ok(document)
    }

    /// Adds a log appender.
    pub async fn create_appender(&self, appender: LogAppender) -> Result<LogAppender, StoreError> {
        let appender = self.store.create_appender(appender).await?;
        let change = Change::Appender {
            appender_id: appender.id.clone(),
            added: true,
        };
        self.announce_latest(&appender.app_id, change).await?;
        Ok(appender)
    }

    /// Adds a user verifier.
    pub async fn create_verifier(
        &self,
        app_id: &str,
        name: &str,
        verifier_type: &str,
        settings: &str,
    ) -> Result<UserVerifier, StoreError> {
        let verifier = self
            .store
            .create_verifier(app_id, name, verifier_type, settings)
            .await?;
        let change = Change::Verifier {
            verifier_token: verifier.verifier_token.clone(),
            added: true,
        };
        self.announce_latest(app_id, change).await?;
        Ok(verifier)
    }

    /// Maps version `version` of event family `family_id` into application `app_id`.
    pub async fn create_event_map(
        &self,
        app_id: &str,
        family_id: &str,
        version: i64,
        actions: &[(String, EventAction)],
    ) -> Result<EventMap, StoreError> {
        let (map, seq) = self
            .store
            .create_event_map(app_id, family_id, version, actions)
            .await?;
        self.announce(Announcement::logged(app_id, seq, Change::Application));
        Ok(map)
    }

    /// Stores a notification of `topic` for every endpoint receiving it, with the topic's next
    /// sequence number, and announces it.
    pub async fn send_topic_notification(
        &self,
        topic: &Topic,
        body: Vec<u8>,
        expires_at_ms: i64,
    ) -> Result<Notification, StoreError> {
        let seq = self.store.next_notification_seq(&topic.id).await?;
        let notification = Notification {
            id: uuid::Uuid::now_v7().to_string(),
            application_id: topic.app_id.clone(),
            topic_id: topic.id.clone(),
            seq,
            kind: NotificationKind::User,
            body,
            expires_at_ms,
        };
        self.endpoints.save_notification(&notification).await?;
        self.announce(Announcement {
            app_id: topic.app_id.clone(),
            seq: None,
            change: Change::TopicNotification {
                topic_id: topic.id.clone(),
                notification_id: notification.id.clone(),
            },
        });
        Ok(notification)
    }
}

/// A record kept per application: listed by page and read by id within its application.
pub(crate) trait AppScoped: Sized {
    /// One page of application `app_id`'s records.
    async fn list(
        store: &MetadataStore,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<Self>, StoreError>;

    /// Record `id` if it belongs to application `app_id` (absent otherwise).
    async fn get(store: &MetadataStore, app_id: &str, id: &str) -> Result<Self, StoreError>;
}

/// A record kept per application that can be removed.
pub(crate) trait AppRemovable: AppScoped {
    /// Removes record `id` of application `app_id` and announces the change if Operations acts
    /// on it.
    async fn remove(metadata: &Metadata, app_id: &str, id: &str) -> Result<(), StoreError>;
}

impl AppScoped for EndpointGroup {
    async fn list(
        store: &MetadataStore,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<Self>, StoreError> {
        store.groups(app_id, page).await
    }

    async fn get(store: &MetadataStore, app_id: &str, id: &str) -> Result<Self, StoreError> {
        match store.group(id).await {
            Ok(group) if group.app_id == app_id => Ok(group),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(StoreError::NotFound("endpoint group")),
            Err(error) => Err(error),
        }
    }
}

impl AppRemovable for EndpointGroup {
    async fn remove(metadata: &Metadata, app_id: &str, id: &str) -> Result<(), StoreError> {
        let group = Self::get(&metadata.store, app_id, id).await?;
        metadata.store.delete_group(&group.id).await?;
        let change = Change::Group {
            group_id: group.id,
            added: false,
        };
        metadata.announce_latest(app_id, change).await
    }
}

impl AppScoped for Topic {
    async fn list(
        store: &MetadataStore,
        app_id: &str,
        page: Page,
    ) -> Result<Paged<Self>, StoreError> {
        store.topics(app_id, page).await
    }

    async fn get(store: &MetadataStore, app_id: &str, id: &str) -> Result<Self, StoreError> {
        match store.topic(id).await {
            Ok(topic) if topic.app_id == app_id => Ok(topic),
            Ok(_) => Err(StoreError::NotFound("topic")),
            Err(error) => Err(error),
        }
    }
}

/// Records the store lists and reads by application: `record => list method, get method`.
macro_rules! app_scoped {
    ($($record:ty => $list:ident, $get:ident;)*) => {$(
        impl AppScoped for $record {
            async fn list(
                store: &MetadataStore,
                app_id: &str,
                page: Page,
            ) -> Result<Paged<Self>, StoreError> {
                store.$list(app_id, page).await
            }

            async fn get(store: &MetadataStore, app_id: &str, id: &str) -> Result<Self, StoreError> {
                store.$get(app_id, id).await
            }
        }
    )*};
}

// A user verifier is found by id or by verifier token.
app_scoped! {
    LogAppender => appenders, appender;
    UserVerifier => verifiers, verifier;
    SdkProfile => sdk_profiles, sdk_profile;
    EventMap => event_maps, event_map;
}

impl AppRemovable for LogAppender {
    async fn remove(metadata: &Metadata, app_id: &str, id: &str) -> Result<(), StoreError> {
        let seq = metadata.store.delete_appender(app_id, id).await?;
        let change = Change::Appender {
            appender_id: id.to_owned(),
            added: false,
        };
        metadata.announce(Announcement::logged(app_id, seq, change));
        Ok(())
    }
}

impl AppRemovable for UserVerifier {
    async fn remove(metadata: &Metadata, app_id: &str, id: &str) -> Result<(), StoreError> {
        let verifier = Self::get(&metadata.store, app_id, id).await?;
        let seq = metadata.store.delete_verifier(app_id, &verifier.id).await?;
        let change = Change::Verifier {
            verifier_token: verifier.verifier_token,
            added: false,
        };
        metadata.announce(Announcement::logged(app_id, seq, change));
        Ok(())
    }
}

/// Operations reads SDK profiles when endpoints register; removing one is not announced.
impl AppRemovable for SdkProfile {
    async fn remove(metadata: &Metadata, app_id: &str, id: &str) -> Result<(), StoreError> {
        metadata.store.delete_sdk_profile(app_id, id).await
    }
}

impl AppRemovable for EventMap {
    async fn remove(metadata: &Metadata, app_id: &str, id: &str) -> Result<(), StoreError> {
        let seq = metadata.store.delete_event_map(app_id, id).await?;
        metadata.announce(Announcement::logged(app_id, seq, Change::Application));
        Ok(())
    }
}
