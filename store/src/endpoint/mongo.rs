//! The endpoint store on MongoDB (or a wire-compatible server such as FerretDB).
//!
//! One collection per record kind. A record with a single natural key uses it as `_id` (an
//! endpoint profile its key hash, a configuration its hash, a topic list its hash); records keyed
//! by two fields (credentials, notifications) get a unique compound index on them and are written
//! with filtered upserts. Binary ids are BSON generic binary, which sorts like the raw bytes for
//! equal lengths (key hashes are all 20 bytes).
//!
//! Profile writes are optimistic: a new profile is an insert (a duplicate `_id` means another
//! writer came first), an update replaces the document only where `version` still matches.
//! Expired notifications are filtered out by `expires_at_ms` and deleted by `purge_expired`.

use std::time::Duration;

use futures::TryStreamExt;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Collection, IndexModel};

use super::{
    CredentialStatus, Credentials, EndpointProfile, GroupState, Notification, NotificationKind,
    Page, TopicListEntry, UnicastNotification, UserConfiguration,
};
use crate::{StoreError, Timeouts};

const CREDENTIALS: &str = "endpoint_credentials";
const PROFILES: &str = "endpoint_profiles";
const CONFIGURATIONS: &str = "endpoint_configurations";
const NOTIFICATIONS: &str = "topic_notifications";
const UNICASTS: &str = "unicast_notifications";
const USER_CONFIGURATIONS: &str = "user_configurations";
const TOPIC_LISTS: &str = "topic_lists";

/// MongoDB's duplicate key error.
const DUPLICATE_KEY: i32 = 11000;

/// The endpoint store in one MongoDB database.
#[derive(Clone)]
pub struct MongoEndpoints {
    db: mongodb::Database,
    /// The limit of each call of the store's API.
    pub(super) request_timeout: Duration,
}

impl MongoEndpoints {
    pub(super) async fn connect(
        url: &str,
        database: &str,
        timeouts: Timeouts,
    ) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(url).await?;
        options
            .server_selection_timeout
            .get_or_insert(timeouts.connect);
        options.connect_timeout.get_or_insert(timeouts.connect);
        options.app_name.get_or_insert_with(|| "kaa-rs".to_owned());
        Ok(Self {
            db: mongodb::Client::with_options(options)?.database(database),
            request_timeout: timeouts.request,
        })
    }

    pub(super) async fn prepare(&self) -> Result<(), StoreError> {
        let indexes: [(&str, &str, Document, bool); 9] = [
            (
                CREDENTIALS,
                "by_key",
                doc! { "application_id": 1, "endpoint_key_hash": 1 },
                true,
            ),
            (
                PROFILES,
                "by_app",
                doc! { "application_id": 1, "_id": 1 },
                false,
            ),
            (
                PROFILES,
                "by_token",
                doc! { "application_id": 1, "access_token": 1 },
                false,
            ),
            (
                NOTIFICATIONS,
                "by_seq",
                doc! { "topic_id": 1, "seq": 1 },
                true,
            ),
            (
                NOTIFICATIONS,
                "by_expiry",
                doc! { "expires_at_ms": 1 },
                false,
            ),
            (
                UNICASTS,
                "by_key",
                doc! { "endpoint_key_hash": 1, "id": 1 },
                true,
            ),
            (UNICASTS, "by_expiry", doc! { "expires_at_ms": 1 }, false),
            (
                PROFILES,
                "by_owner",
                doc! { "owner_id": 1, "_id": 1 },
                false,
            ),
            (
                USER_CONFIGURATIONS,
                "by_owner",
                doc! { "owner_id": 1, "application_id": 1, "schema_version": 1 },
                true,
            ),
        ];
        for (collection, name, keys, unique) in indexes {
            let options = IndexOptions::builder()
                .name(name.to_owned())
                .unique(unique)
                .build();
            self.collection(collection)
                .create_index(IndexModel::builder().keys(keys).options(options).build())
                .await?;
        }
        Ok(())
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    fn collection(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    // ---- credentials ----

    pub(super) async fn provision_credentials(&self, c: &Credentials) -> Result<(), StoreError> {
        let key = doc! {
            "application_id": &c.application_id,
            "endpoint_key_hash": binary(&c.endpoint_key_hash),
        };
        let mut document = key.clone();
        document.insert("public_key", binary(&c.public_key));
        document.insert("status", c.status.name());
        self.collection(CREDENTIALS)
            .replace_one(key, document)
            .upsert(true)
            .await?;
        Ok(())
    }

    pub(super) async fn credentials(
        &self,
        app: &str,
        key_hash: &[u8],
    ) -> Result<Option<Credentials>, StoreError> {
        self.collection(CREDENTIALS)
            .find_one(doc! { "application_id": app, "endpoint_key_hash": binary(key_hash) })
            .await?
            .map(|d| credentials_from(&d))
            .transpose()
    }

    pub(super) async fn set_credentials_status(
        &self,
        app: &str,
        key_hash: &[u8],
        status: CredentialStatus,
    ) -> Result<bool, StoreError> {
        let done = self
            .collection(CREDENTIALS)
            .update_one(
                doc! { "application_id": app, "endpoint_key_hash": binary(key_hash) },
                doc! { "$set": { "status": status.name() } },
            )
            .await?;
        Ok(done.matched_count > 0)
    }

    pub(super) async fn list_credentials(
        &self,
        app: &str,
        page: Page,
    ) -> Result<Vec<Credentials>, StoreError> {
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        let documents: Vec<Document> = self
            .collection(CREDENTIALS)
            .find(doc! { "application_id": app })
            .sort(doc! { "endpoint_key_hash": 1 })
            .skip(page.offset as u64)
            .limit(page.limit)
            .await?
            .try_collect()
            .await?;
        documents.iter().map(credentials_from).collect()
    }

    // ---- endpoint profiles ----

    pub(super) async fn save_profile(&self, p: &EndpointProfile) -> Result<(), StoreError> {
        const CONFLICT: StoreError =
            StoreError::Conflict("endpoint profile changed or deleted since it was read");
        let document = profile_document(p, p.version + 1);
        let profiles = self.collection(PROFILES);
        if p.version == 0 {
            return match profiles.insert_one(document).await {
                Ok(_) => Ok(()),
                Err(error) if is_duplicate_key(&error) => Err(CONFLICT),
                Err(error) => Err(error.into()),
            };
        }
        let done = profiles
            .replace_one(
                doc! { "_id": binary(&p.endpoint_key_hash), "version": p.version },
                document,
            )
            .await?;
        if done.matched_count == 0 {
            return Err(CONFLICT);
        }
        Ok(())
    }

    pub(super) async fn profile(
        &self,
        key_hash: &[u8],
    ) -> Result<Option<EndpointProfile>, StoreError> {
        self.collection(PROFILES)
            .find_one(doc! { "_id": binary(key_hash) })
            .await?
            .map(|d| profile_from(&d))
            .transpose()
    }

    pub(super) async fn profile_by_access_token(
        &self,
        app: &str,
        token: &str,
    ) -> Result<Option<EndpointProfile>, StoreError> {
        let first: Vec<Document> = self
            .collection(PROFILES)
            .find(doc! { "application_id": app, "access_token": token })
            .sort(doc! { "_id": 1 })
            .limit(1)
            .await?
            .try_collect()
            .await?;
        first.first().map(profile_from).transpose()
    }

    pub(super) async fn list_profiles(
        &self,
        app: &str,
        page: Page,
    ) -> Result<Vec<EndpointProfile>, StoreError> {
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        let documents: Vec<Document> = self
            .collection(PROFILES)
            .find(doc! { "application_id": app })
            .sort(doc! { "_id": 1 })
            .skip(page.offset as u64)
            .limit(page.limit)
            .await?
            .try_collect()
            .await?;
        documents.iter().map(profile_from).collect()
    }

    pub(super) async fn count_profiles(&self, app: &str) -> Result<i64, StoreError> {
        let count = self
            .collection(PROFILES)
            .count_documents(doc! { "application_id": app })
            .await?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    pub(super) async fn delete_profile(&self, key_hash: &[u8]) -> Result<bool, StoreError> {
        let done = self
            .collection(PROFILES)
            .delete_one(doc! { "_id": binary(key_hash) })
            .await?;
        Ok(done.deleted_count > 0)
    }

    // ---- configurations ----

    pub(super) async fn save_configuration(
        &self,
        hash: &[u8],
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.collection(CONFIGURATIONS)
            .replace_one(
                doc! { "_id": binary(hash) },
                doc! { "_id": binary(hash), "body": binary(body) },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    pub(super) async fn configuration(&self, hash: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.collection(CONFIGURATIONS)
            .find_one(doc! { "_id": binary(hash) })
            .await?
            .map(|d| bytes(&d, "body"))
            .transpose()
    }

    // ---- notifications ----

    pub(super) async fn save_notification(&self, n: &Notification) -> Result<(), StoreError> {
        let key = doc! { "topic_id": &n.topic_id, "seq": n.seq };
        let mut document = key.clone();
        document.extend(doc! {
            "id": &n.id,
            "application_id": &n.application_id,
            "kind": n.kind.name(),
            "body": binary(&n.body),
            "expires_at_ms": n.expires_at_ms,
        });
        self.collection(NOTIFICATIONS)
            .replace_one(key, document)
            .upsert(true)
            .await?;
        Ok(())
    }

    pub(super) async fn notifications(
        &self,
        topic_id: &str,
        after_seq: i32,
        now_ms: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let documents: Vec<Document> = self
            .collection(NOTIFICATIONS)
            .find(doc! {
                "topic_id": topic_id,
                "seq": { "$gt": after_seq },
                "expires_at_ms": { "$gt": now_ms },
            })
            .sort(doc! { "seq": 1 })
            .await?
            .try_collect()
            .await?;
        documents
            .iter()
            .map(|d| {
                Ok(Notification {
                    id: string(d, "id")?,
                    application_id: string(d, "application_id")?,
                    topic_id: string(d, "topic_id")?,
                    seq: int32(d, "seq")?,
                    kind: kind(d)?,
                    body: bytes(d, "body")?,
                    expires_at_ms: int64(d, "expires_at_ms")?,
                })
            })
            .collect()
    }

    pub(super) async fn save_unicast(&self, u: &UnicastNotification) -> Result<(), StoreError> {
        let key = doc! { "endpoint_key_hash": binary(&u.endpoint_key_hash), "id": &u.id };
        let mut document = key.clone();
        document.extend(doc! {
            "topic_id": &u.topic_id,
            "kind": u.kind.name(),
            "body": binary(&u.body),
            "expires_at_ms": u.expires_at_ms,
        });
        self.collection(UNICASTS)
            .replace_one(key, document)
            .upsert(true)
            .await?;
        Ok(())
    }

    pub(super) async fn unicasts(
        &self,
        key_hash: &[u8],
        now_ms: i64,
    ) -> Result<Vec<UnicastNotification>, StoreError> {
        let documents: Vec<Document> = self
            .collection(UNICASTS)
            .find(doc! {
                "endpoint_key_hash": binary(key_hash),
                "expires_at_ms": { "$gt": now_ms },
            })
            .sort(doc! { "id": 1 })
            .await?
            .try_collect()
            .await?;
        documents
            .iter()
            .map(|d| {
                Ok(UnicastNotification {
                    id: string(d, "id")?,
                    endpoint_key_hash: bytes(d, "endpoint_key_hash")?,
                    topic_id: string(d, "topic_id")?,
                    kind: kind(d)?,
                    body: bytes(d, "body")?,
                    expires_at_ms: int64(d, "expires_at_ms")?,
                })
            })
            .collect()
    }

    pub(super) async fn delete_unicast(
        &self,
        key_hash: &[u8],
        id: &str,
    ) -> Result<bool, StoreError> {
        let done = self
            .collection(UNICASTS)
            .delete_one(doc! { "endpoint_key_hash": binary(key_hash), "id": id })
            .await?;
        Ok(done.deleted_count > 0)
    }

    pub(super) async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut purged = 0;
        for collection in [NOTIFICATIONS, UNICASTS] {
            purged += self
                .collection(collection)
                .delete_many(doc! { "expires_at_ms": { "$lte": now_ms } })
                .await?
                .deleted_count;
        }
        Ok(purged)
    }

    // ---- owners ----

    pub(super) async fn profiles_by_owner(
        &self,
        owner_id: &str,
    ) -> Result<Vec<EndpointProfile>, StoreError> {
        let found: Vec<Document> = self
            .collection(PROFILES)
            .find(doc! { "owner_id": owner_id })
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        found.iter().map(profile_from).collect()
    }

    pub(super) async fn save_user_configuration(
        &self,
        c: &UserConfiguration,
    ) -> Result<(), StoreError> {
        let key = doc! {
            "owner_id": &c.owner_id,
            "application_id": &c.app_id,
            "schema_version": c.schema_version,
        };
        let mut document = key.clone();
        document.insert("body", &c.body);
        document.insert("updated_ms", c.updated_ms);
        self.collection(USER_CONFIGURATIONS)
            .replace_one(key, document)
            .upsert(true)
            .await?;
        Ok(())
    }

    pub(super) async fn user_configurations(
        &self,
        owner_id: &str,
        app_id: &str,
    ) -> Result<Vec<UserConfiguration>, StoreError> {
        let found: Vec<Document> = self
            .collection(USER_CONFIGURATIONS)
            .find(doc! { "owner_id": owner_id, "application_id": app_id })
            .sort(doc! { "schema_version": 1 })
            .await?
            .try_collect()
            .await?;
        found.iter().map(user_configuration_from).collect()
    }

    pub(super) async fn user_configuration(
        &self,
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
    ) -> Result<Option<UserConfiguration>, StoreError> {
        self.collection(USER_CONFIGURATIONS)
            .find_one(doc! {
                "owner_id": owner_id,
                "application_id": app_id,
                "schema_version": schema_version,
            })
            .await?
            .as_ref()
            .map(user_configuration_from)
            .transpose()
    }

    pub(super) async fn delete_user_configuration(
        &self,
        owner_id: &str,
        app_id: &str,
        schema_version: i64,
    ) -> Result<bool, StoreError> {
        let done = self
            .collection(USER_CONFIGURATIONS)
            .delete_one(doc! {
                "owner_id": owner_id,
                "application_id": app_id,
                "schema_version": schema_version,
            })
            .await?;
        Ok(done.deleted_count > 0)
    }

    // ---- topic lists ----

    pub(super) async fn save_topic_list(&self, entry: &TopicListEntry) -> Result<(), StoreError> {
        self.collection(TOPIC_LISTS)
            .replace_one(
                doc! { "_id": entry.hash },
                doc! { "_id": entry.hash, "topic_ids": &entry.topic_ids },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    pub(super) async fn topic_list(&self, hash: i32) -> Result<Option<TopicListEntry>, StoreError> {
        self.collection(TOPIC_LISTS)
            .find_one(doc! { "_id": hash })
            .await?
            .map(|d| {
                Ok(TopicListEntry {
                    hash,
                    topic_ids: strings(&d, "topic_ids")?,
                })
            })
            .transpose()
    }
}

fn user_configuration_from(d: &Document) -> Result<UserConfiguration, StoreError> {
    let text = |field: &'static str| d.get_str(field).map_err(|_| StoreError::Corrupt(field));
    let number = |field: &'static str| d.get_i64(field).map_err(|_| StoreError::Corrupt(field));
    Ok(UserConfiguration::stored(
        text("owner_id")?,
        text("application_id")?,
        number("schema_version")?,
        text("body")?.to_owned(),
        number("updated_ms")?,
    ))
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    matches!(
        error.kind.as_ref(),
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY
    )
}

fn binary(bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
}

fn optional(value: Option<&str>) -> Bson {
    value.map_or(Bson::Null, Bson::from)
}

fn profile_document(p: &EndpointProfile, version: i64) -> Document {
    let groups: Vec<Bson> = p
        .groups
        .iter()
        .map(|g| {
            Bson::Document(doc! {
                "group_id": &g.group_id,
                "filter_id": optional(g.filter_id.as_deref()),
                "configuration_id": optional(g.configuration_id.as_deref()),
            })
        })
        .collect();
    doc! {
        "_id": binary(&p.endpoint_key_hash),
        "application_id": &p.application_id,
        "public_key": binary(&p.public_key),
        "access_token": optional(p.access_token.as_deref()),
        "sdk_token": &p.sdk_token,
        "client_profile_version": p.client_profile_version,
        "client_profile": binary(&p.client_profile),
        "profile_hash": binary(&p.profile_hash),
        "server_profile_version": p.server_profile_version,
        "server_profile": &p.server_profile,
        "groups": groups,
        "configuration_hash": binary(&p.configuration_hash),
        "topic_hash": p.topic_hash,
        "subscriptions": &p.subscriptions,
        "system_notification_seq": p.system_notification_seq,
        "owner_id": optional(p.owner_id.as_deref()),
        "node_id": optional(p.node_id.as_deref()),
        "last_seen_ms": p.last_seen_ms,
        "version": version,
    }
}

fn profile_from(d: &Document) -> Result<EndpointProfile, StoreError> {
    let groups = match d.get("groups") {
        Some(Bson::Array(groups)) => groups
            .iter()
            .map(|g| match g {
                Bson::Document(g) => Ok(GroupState {
                    group_id: string(g, "group_id")?,
                    filter_id: optional_string(g, "filter_id")?,
                    configuration_id: optional_string(g, "configuration_id")?,
                }),
                _ => Err(StoreError::Corrupt("endpoint profile groups")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(StoreError::Corrupt("endpoint profile groups")),
    };
    Ok(EndpointProfile {
        application_id: string(d, "application_id")?,
        endpoint_key_hash: bytes(d, "_id")?,
        public_key: bytes(d, "public_key")?,
        access_token: optional_string(d, "access_token")?,
        sdk_token: string(d, "sdk_token")?,
        client_profile_version: int32(d, "client_profile_version")?,
        client_profile: bytes(d, "client_profile")?,
        profile_hash: bytes(d, "profile_hash")?,
        server_profile_version: int32(d, "server_profile_version")?,
        server_profile: string(d, "server_profile")?,
        groups,
        configuration_hash: bytes(d, "configuration_hash")?,
        topic_hash: int32(d, "topic_hash")?,
        subscriptions: strings(d, "subscriptions")?,
        system_notification_seq: int32(d, "system_notification_seq")?,
        owner_id: optional_string(d, "owner_id")?,
        node_id: optional_string(d, "node_id")?,
        last_seen_ms: int64(d, "last_seen_ms")?,
        version: int64(d, "version")?,
    })
}

fn credentials_from(d: &Document) -> Result<Credentials, StoreError> {
    Ok(Credentials {
        application_id: string(d, "application_id")?,
        endpoint_key_hash: bytes(d, "endpoint_key_hash")?,
        public_key: bytes(d, "public_key")?,
        status: CredentialStatus::from_name(&string(d, "status")?)
            .ok_or(StoreError::Corrupt("credentials status"))?,
    })
}

fn kind(d: &Document) -> Result<NotificationKind, StoreError> {
    NotificationKind::from_name(&string(d, "kind")?).ok_or(StoreError::Corrupt("notification kind"))
}

// Field readers: a missing or mistyped field is corrupt data, named by the field.

fn string(d: &Document, field: &'static str) -> Result<String, StoreError> {
    match d.get(field) {
        Some(Bson::String(s)) => Ok(s.clone()),
        _ => Err(StoreError::Corrupt(field)),
    }
}

fn optional_string(d: &Document, field: &'static str) -> Result<Option<String>, StoreError> {
    match d.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        _ => Err(StoreError::Corrupt(field)),
    }
}

fn bytes(d: &Document, field: &'static str) -> Result<Vec<u8>, StoreError> {
    match d.get(field) {
        Some(Bson::Binary(b)) => Ok(b.bytes.clone()),
        _ => Err(StoreError::Corrupt(field)),
    }
}

/// An integer field, whichever BSON width the server returns it in.
fn int64(d: &Document, field: &'static str) -> Result<i64, StoreError> {
    match d.get(field) {
        Some(Bson::Int32(n)) => Ok(i64::from(*n)),
        Some(Bson::Int64(n)) => Ok(*n),
        _ => Err(StoreError::Corrupt(field)),
    }
}

fn int32(d: &Document, field: &'static str) -> Result<i32, StoreError> {
    i32::try_from(int64(d, field)?).map_err(|_| StoreError::Corrupt(field))
}

fn strings(d: &Document, field: &'static str) -> Result<Vec<String>, StoreError> {
    match d.get(field) {
        Some(Bson::Array(items)) => items
            .iter()
            .map(|item| match item {
                Bson::String(s) => Ok(s.clone()),
                _ => Err(StoreError::Corrupt(field)),
            })
            .collect(),
        _ => Err(StoreError::Corrupt(field)),
    }
}
