//! One conformance suite for the endpoint-data store, run on every backend: SQL on SQLite,
//! PostgreSQL and MariaDB, Cassandra, and MongoDB (FerretDB). Each scenario is written once, as an
//! async fn taking an [`EndpointStore`]; `on_every_backend!` turns it into one test per backend
//! (`endpoint_store::<backend>::<scenario>`), each in a fresh database or keyspace that the store
//! itself prepares. Servers are started on first use (`deploy/local/infra.sh up`); a backend whose
//! server cannot be started or does not answer fails its tests, naming the server.

use std::future::Future;

use kaa_store::StoreError;
use kaa_store::endpoint::{
    CassandraReplication, Consistency, CredentialStatus, Credentials, EndpointBackend,
    EndpointProfile, EndpointStore, GroupState, Notification, NotificationKind, Page,
    TopicListEntry, UnicastNotification, UserConfiguration,
};
use kaa_store::metadata::now_ms;
use kaa_tests::infra;

/// The backends the suite runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgresql,
    Mariadb,
    Cassandra,
    Mongodb,
}

impl Backend {
    /// The server `deploy/local/infra.sh` starts for this backend.
    fn server(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgresql => Some("postgresql"),
            Self::Mariadb => Some("mariadb"),
            Self::Cassandra => Some("cassandra"),
            Self::Mongodb => Some("mongodb"),
        }
    }
}

/// Fresh storage for one test, removed afterwards.
enum Fresh {
    Sqlite(tempfile::TempDir),
    Sql(infra::FreshDatabase),
    Cassandra(Box<infra::FreshKeyspace>),
    Mongodb(infra::FreshMongoDatabase),
}

impl Fresh {
    async fn create(backend: Backend) -> (Self, EndpointBackend) {
        if let Some(server) = backend.server() {
            infra::ensure_up(server);
        }
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/endpoints.db", dir.path().display());
                (Self::Sqlite(dir), EndpointBackend::Sql { url })
            }
            Backend::Postgresql | Backend::Mariadb => {
                let (base, server) = match backend {
                    Backend::Postgresql => (infra::postgres(), "postgresql"),
                    _ => (infra::mariadb(), "mariadb"),
                };
                let database = infra::fresh_database(&base, server).await;
                let url = database.url.clone();
                (Self::Sql(database), EndpointBackend::Sql { url })
            }
            Backend::Cassandra => {
                let keyspace = infra::fresh_keyspace().await;
                let backend = EndpointBackend::Cassandra {
                    contact_points: vec![infra::cassandra()],
                    keyspace: keyspace.name.clone(),
                    replication: CassandraReplication::simple(1),
                };
                (Self::Cassandra(Box::new(keyspace)), backend)
            }
            Backend::Mongodb => {
                let database = infra::fresh_mongo_database().await;
                let backend = EndpointBackend::MongoDb {
                    url: infra::mongodb(),
                    database: database.name.clone(),
                };
                (Self::Mongodb(database), backend)
            }
        }
    }

    async fn drop(self) {
        match self {
            Self::Sqlite(dir) => {
                if let Err(error) = dir.close() {
                    eprintln!("could not remove the SQLite test directory: {error}");
                }
            }
            Self::Sql(database) => database.drop().await,
            Self::Cassandra(keyspace) => (*keyspace).drop().await,
            Self::Mongodb(database) => database.drop().await,
        }
    }
}

/// Runs `scenario` on `backend` in fresh storage, prepared twice (preparing is idempotent).
async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(EndpointStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let (fresh, settings) = Fresh::create(backend).await;
    let store = EndpointStore::connect(&settings)
        .await
        .unwrap_or_else(|e| panic!("connect to {backend:?}: {e}"));
    store.prepare().await.expect("prepare");
    store.prepare().await.expect("prepare again");
    store.ping().await.expect("ping");
    scenario(store.clone()).await;
    store.close().await;
    drop(store);
    fresh.drop().await;
}

macro_rules! on_backend {
    ($module:ident, $backend:ident, $($scenario:ident),*) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::run(super::Backend::$backend, super::$scenario).await;
                }
            )*
        }
    };
}

macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        on_backend!(sqlite, Sqlite, $($scenario),*);
        on_backend!(postgresql, Postgresql, $($scenario),*);
        on_backend!(mariadb, Mariadb, $($scenario),*);
        on_backend!(cassandra, Cassandra, $($scenario),*);
        on_backend!(mongodb, Mongodb, $($scenario),*);
    };
}

on_every_backend!(
    credentials_lifecycle,
    profiles_are_versioned,
    profiles_are_listed_counted_and_deleted,
    configurations_by_hash,
    topic_notifications_in_order_until_they_expire,
    unicast_notifications_until_accepted_or_expired,
    topic_lists_by_hash,
    owners_and_their_configurations,
);

/// A production ring names its datacenter: the keyspace is created with NetworkTopologyStrategy
/// there, and a datacenter the ring does not have is refused when connecting.
#[tokio::test]
async fn cassandra_keyspace_in_a_named_datacenter_uses_network_topology_strategy() {
    infra::ensure_up("cassandra");
    let keyspace = infra::fresh_keyspace().await;
    // The single local node's datacenter, as Cassandra names it by default.
    let in_datacenter = |datacenter: &str| EndpointBackend::Cassandra {
        contact_points: vec![infra::cassandra()],
        keyspace: keyspace.name.clone(),
        replication: CassandraReplication {
            datacenter: Some(datacenter.to_owned()),
            replication_factor: 1,
            consistency: Consistency::LocalQuorum,
        },
    };
    let refused = EndpointStore::connect(&in_datacenter("dc-nowhere"))
        .await
        .err()
        .expect("a datacenter the ring lacks is refused");
    assert!(
        refused.to_string().contains("dc-nowhere") && refused.to_string().contains("datacenter1"),
        "{refused}"
    );

    let store = EndpointStore::connect(&in_datacenter("datacenter1"))
        .await
        .unwrap_or_else(|e| panic!("{}", infra::unreachable("cassandra", e)));
    store.prepare().await.expect("prepare");
    store
        .save_configuration(&key(1), b"body")
        .await
        .expect("write at LOCAL_QUORUM");
    let replication = infra::keyspace_replication(&keyspace.name).await;
    assert_eq!(
        replication.get("class").map(String::as_str),
        Some("org.apache.cassandra.locator.NetworkTopologyStrategy"),
        "{replication:?}"
    );
    assert_eq!(
        replication.get("datacenter1").map(String::as_str),
        Some("1"),
        "{replication:?}"
    );
    drop(store);
    keyspace.drop().await;
}

// ---- fixtures ----

/// A 20-byte key hash starting with `first` (so `first` orders them, compared unsigned).
fn key(first: u8) -> Vec<u8> {
    (0..20u8).map(|i| first.wrapping_add(i * 7)).collect()
}

/// A fresh id (application, topic, notification), unique in the test run.
fn new_id() -> String {
    infra::unique_name()
}

fn page(offset: i64, limit: i64) -> Page {
    Page { offset, limit }
}

fn credentials(app: &str, first: u8, status: CredentialStatus) -> Credentials {
    Credentials {
        application_id: app.to_owned(),
        endpoint_key_hash: key(first),
        public_key: vec![0x30, 0x82, first, 0x00, 0xff],
        status,
    }
}

fn profile(app: &str, first: u8) -> EndpointProfile {
    EndpointProfile {
        application_id: app.to_owned(),
        endpoint_key_hash: key(first),
        public_key: vec![0x30, 0x82, first],
        access_token: Some(format!("token-{first}")),
        sdk_token: "sdk-token-1".into(),
        client_profile_version: 2,
        client_profile: vec![0x02, 0x0a, 0x00, 0xff],
        profile_hash: key(first.wrapping_add(100)),
        server_profile_version: 1,
        server_profile: r#"{"tier":"gold","quota":3}"#.into(),
        groups: vec![
            GroupState {
                group_id: "group-all".into(),
                filter_id: None,
                configuration_id: Some("configuration-1".into()),
            },
            GroupState {
                group_id: "group-gold".into(),
                filter_id: Some("filter-7".into()),
                configuration_id: None,
            },
        ],
        configuration_hash: key(first.wrapping_add(200)),
        topic_hash: -123_456,
        subscriptions: vec!["topic-b".into(), "topic-a".into()],
        system_notification_seq: 4,
        owner_id: Some("owner-1".into()),
        node_id: Some("node-a".into()),
        last_seen_ms: 1_700_000_000_123,
        version: 0,
    }
}

fn keys(profiles: &[EndpointProfile]) -> Vec<Vec<u8>> {
    profiles
        .iter()
        .map(|p| p.endpoint_key_hash.clone())
        .collect()
}

fn is_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

// ---- scenarios ----

async fn credentials_lifecycle(store: EndpointStore) {
    let app = new_id();
    let other_app = new_id();
    assert_eq!(store.credentials(&app, &key(1)).await.unwrap(), None);
    assert!(
        !store
            .set_credentials_status(&app, &key(1), CredentialStatus::Revoked)
            .await
            .unwrap()
    );

    // Provisioned out of order; bytes above 0x7f must sort after those below (unsigned).
    for first in [0xf0, 0x01, 0x80, 0x7f, 0x10] {
        store
            .provision_credentials(&credentials(&app, first, CredentialStatus::Available))
            .await
            .unwrap();
    }
    store
        .provision_credentials(&credentials(&other_app, 0x01, CredentialStatus::InUse))
        .await
        .unwrap();
    let available = credentials(&app, 0x10, CredentialStatus::Available);
    assert_eq!(
        store.credentials(&app, &key(0x10)).await.unwrap(),
        Some(available.clone())
    );
    assert_eq!(
        store.credentials(&other_app, &key(0x10)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .credentials(&other_app, &key(0x01))
            .await
            .unwrap()
            .map(|c| c.status),
        Some(CredentialStatus::InUse)
    );

    // AVAILABLE -> IN_USE -> REVOKED; the other application's credentials stay as they are.
    for status in [CredentialStatus::InUse, CredentialStatus::Revoked] {
        assert!(
            store
                .set_credentials_status(&app, &key(0x10), status)
                .await
                .unwrap()
        );
        assert_eq!(
            store.credentials(&app, &key(0x10)).await.unwrap(),
            Some(Credentials {
                status,
                ..available.clone()
            })
        );
    }
    // Setting the status a record already has still finds it.
    assert!(
        store
            .set_credentials_status(&app, &key(0x10), CredentialStatus::Revoked)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .credentials(&other_app, &key(0x01))
            .await
            .unwrap()
            .map(|c| c.status),
        Some(CredentialStatus::InUse)
    );

    // Provisioning again replaces the record.
    let replaced = Credentials {
        public_key: vec![9, 9, 9],
        ..credentials(&app, 0x01, CredentialStatus::InUse)
    };
    store.provision_credentials(&replaced).await.unwrap();
    assert_eq!(
        store.credentials(&app, &key(0x01)).await.unwrap(),
        Some(replaced.clone())
    );

    // Pages, ordered by key hash.
    let listed = |offset, limit| {
        let store = store.clone();
        let app = app.clone();
        async move {
            store
                .list_credentials(&app, page(offset, limit))
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.endpoint_key_hash[0])
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(0, 10).await, [0x01, 0x10, 0x7f, 0x80, 0xf0]);
    assert_eq!(listed(0, 2).await, [0x01, 0x10]);
    assert_eq!(listed(2, 2).await, [0x7f, 0x80]);
    assert_eq!(listed(4, 2).await, [0xf0]);
    assert_eq!(listed(5, 2).await, Vec::<u8>::new());
    assert_eq!(listed(0, 0).await, Vec::<u8>::new());
    let first_page = store.list_credentials(&app, page(0, 1)).await.unwrap();
    assert_eq!(first_page, [replaced]);
    assert_eq!(
        store
            .list_credentials(&other_app, page(0, 10))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .list_credentials(&new_id(), page(0, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.list_credentials(&app, page(-1, 10)).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn profiles_are_versioned(store: EndpointStore) {
    let app = new_id();
    let other_app = new_id();
    assert_eq!(store.profile(&key(1)).await.unwrap(), None);
    assert_eq!(
        store
            .profile_by_access_token(&app, "token-1")
            .await
            .unwrap(),
        None
    );

    // Insert: version 0 becomes 1, and the record reads back whole.
    let new = profile(&app, 1);
    let saved = store.save_profile(&new).await.unwrap();
    assert_eq!(
        saved,
        EndpointProfile {
            version: 1,
            ..new.clone()
        }
    );
    assert_eq!(store.profile(&key(1)).await.unwrap(), Some(saved.clone()));
    // A second insert of the same endpoint conflicts.
    assert!(is_conflict(store.save_profile(&new).await));

    // Update at the stored version.
    let mut changed = saved.clone();
    changed.access_token = Some("token-1b".into());
    changed.node_id = Some("node-b".into());
    changed.groups.truncate(1);
    changed.groups[0].filter_id = Some("filter-9".into());
    changed.subscriptions = vec!["topic-c".into()];
    changed.server_profile = r#"{"tier":"silver"}"#.into();
    changed.server_profile_version = 2;
    changed.configuration_hash = key(42);
    changed.last_seen_ms += 5_000;
    let updated = store.save_profile(&changed).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(store.profile(&key(1)).await.unwrap(), Some(updated.clone()));

    // A stale version (or one from the future) conflicts and changes nothing.
    let mut stale = saved.clone();
    stale.node_id = Some("node-stale".into());
    assert!(is_conflict(store.save_profile(&stale).await));
    assert!(is_conflict(
        store
            .save_profile(&EndpointProfile {
                version: 7,
                ..updated.clone()
            })
            .await
    ));
    assert_eq!(store.profile(&key(1)).await.unwrap(), Some(updated.clone()));
    // Updating an endpoint that was never stored conflicts too.
    assert!(is_conflict(
        store
            .save_profile(&EndpointProfile {
                version: 1,
                ..profile(&app, 9)
            })
            .await
    ));
    assert_eq!(store.profile(&key(9)).await.unwrap(), None);

    // By access token: the new token finds it, the old one no longer does, nor another app.
    assert_eq!(
        store
            .profile_by_access_token(&app, "token-1b")
            .await
            .unwrap(),
        Some(updated.clone())
    );
    assert_eq!(
        store
            .profile_by_access_token(&app, "token-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .profile_by_access_token(&other_app, "token-1b")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .profile_by_access_token(&app, "TOKEN-1B")
            .await
            .unwrap(),
        None,
        "tokens compare exactly"
    );

    // Dropping the token removes the lookup.
    let untokened = store
        .save_profile(&EndpointProfile {
            access_token: None,
            ..updated.clone()
        })
        .await
        .unwrap();
    assert_eq!(untokened.version, 3);
    assert_eq!(
        store
            .profile_by_access_token(&app, "token-1b")
            .await
            .unwrap(),
        None
    );

    // A profile with every optional part empty reads back the same.
    let bare = EndpointProfile {
        access_token: None,
        client_profile_version: 0,
        client_profile: Vec::new(),
        profile_hash: Vec::new(),
        server_profile: "{}".into(),
        groups: Vec::new(),
        configuration_hash: Vec::new(),
        topic_hash: 0,
        subscriptions: Vec::new(),
        system_notification_seq: 0,
        owner_id: None,
        node_id: None,
        last_seen_ms: 0,
        ..profile(&other_app, 2)
    };
    let bare = store.save_profile(&bare).await.unwrap();
    assert_eq!(store.profile(&key(2)).await.unwrap(), Some(bare));
}

async fn profiles_are_listed_counted_and_deleted(store: EndpointStore) {
    let app = new_id();
    let other_app = new_id();
    assert_eq!(store.count_profiles(&app).await.unwrap(), 0);
    assert!(
        store
            .list_profiles(&app, page(0, 10))
            .await
            .unwrap()
            .is_empty()
    );

    let mut saved = Vec::new();
    for first in [0xc0, 0x05, 0x90, 0x40] {
        saved.push(store.save_profile(&profile(&app, first)).await.unwrap());
    }
    store
        .save_profile(&profile(&other_app, 0x06))
        .await
        .unwrap();
    saved.sort_by(|a, b| a.endpoint_key_hash.cmp(&b.endpoint_key_hash));
    assert_eq!(store.count_profiles(&app).await.unwrap(), 4);
    assert_eq!(store.count_profiles(&other_app).await.unwrap(), 1);

    // Pages, ordered by key hash, whole records.
    assert_eq!(store.list_profiles(&app, page(0, 10)).await.unwrap(), saved);
    assert_eq!(
        keys(&store.list_profiles(&app, page(0, 3)).await.unwrap()),
        keys(&saved[..3])
    );
    assert_eq!(
        keys(&store.list_profiles(&app, page(3, 3)).await.unwrap()),
        keys(&saved[3..])
    );
    assert!(
        store
            .list_profiles(&app, page(4, 3))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_profiles(&app, page(0, 0))
            .await
            .unwrap()
            .is_empty()
    );

    // Delete: gone from lookups, token lookups, lists and counts; a second delete finds nothing.
    let gone = saved[1].clone();
    assert!(store.delete_profile(&gone.endpoint_key_hash).await.unwrap());
    assert!(!store.delete_profile(&gone.endpoint_key_hash).await.unwrap());
    assert!(!store.delete_profile(&key(0x77)).await.unwrap());
    assert_eq!(store.profile(&gone.endpoint_key_hash).await.unwrap(), None);
    assert_eq!(
        store
            .profile_by_access_token(&app, gone.access_token.as_deref().unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.count_profiles(&app).await.unwrap(), 3);
    let remaining: Vec<_> = saved
        .iter()
        .filter(|p| p.endpoint_key_hash != gone.endpoint_key_hash)
        .cloned()
        .collect();
    assert_eq!(
        store.list_profiles(&app, page(0, 10)).await.unwrap(),
        remaining
    );
    // Saving the deleted record at its old version conflicts; registering anew works.
    assert!(is_conflict(store.save_profile(&gone).await));
    let again = store
        .save_profile(&EndpointProfile {
            version: 0,
            ..gone.clone()
        })
        .await
        .unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(store.count_profiles(&app).await.unwrap(), 4);
    assert_eq!(store.count_profiles(&other_app).await.unwrap(), 1);
}

async fn configurations_by_hash(store: EndpointStore) {
    assert_eq!(store.configuration(&key(1)).await.unwrap(), None);
    let small = vec![0x02, 0x06, b'o', b'n', 0x00];
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    store.save_configuration(&key(1), &small).await.unwrap();
    store.save_configuration(&key(2), &large).await.unwrap();
    store.save_configuration(&key(3), &[]).await.unwrap();
    // Saving the same body again is harmless.
    store.save_configuration(&key(1), &small).await.unwrap();
    assert_eq!(store.configuration(&key(1)).await.unwrap(), Some(small));
    assert_eq!(store.configuration(&key(2)).await.unwrap(), Some(large));
    assert_eq!(
        store.configuration(&key(3)).await.unwrap(),
        Some(Vec::new())
    );
    assert_eq!(store.configuration(&key(4)).await.unwrap(), None);
}

fn notification(app: &str, topic: &str, seq: i32, expires_at_ms: i64) -> Notification {
    Notification {
        id: new_id(),
        application_id: app.to_owned(),
        topic_id: topic.to_owned(),
        seq,
        kind: if seq % 2 == 0 {
            NotificationKind::System
        } else {
            NotificationKind::User
        },
        body: vec![0x02, seq as u8, 0xff],
        expires_at_ms,
    }
}

async fn topic_notifications_in_order_until_they_expire(store: EndpointStore) {
    let app = new_id();
    let topic = new_id();
    let other_topic = new_id();
    let now = now_ms();
    let hour = 3_600_000;
    assert!(
        store
            .notifications(&topic, 0, now)
            .await
            .unwrap()
            .is_empty()
    );

    // Saved out of order; seq 4 has already expired, seq 5 expires in a minute.
    let one = notification(&app, &topic, 1, now + hour);
    let two = notification(&app, &topic, 2, now + hour);
    let three = notification(&app, &topic, 3, now + hour);
    let four = notification(&app, &topic, 4, now - 1_000);
    let five = notification(&app, &topic, 5, now + 60_000);
    for n in [&three, &one, &four, &five, &two] {
        store.save_notification(n).await.unwrap();
    }
    let elsewhere = notification(&app, &other_topic, 1, now + hour);
    store.save_notification(&elsewhere).await.unwrap();

    assert_eq!(
        store.notifications(&topic, 0, now).await.unwrap(),
        [one.clone(), two.clone(), three.clone(), five.clone()]
    );
    assert_eq!(
        store.notifications(&topic, 2, now).await.unwrap(),
        [three.clone(), five.clone()]
    );
    assert!(
        store
            .notifications(&topic, 5, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.notifications(&other_topic, 0, now).await.unwrap(),
        [elsewhere]
    );
    // Two minutes later the one-minute notification has expired too.
    assert_eq!(
        store.notifications(&topic, 0, now + 120_000).await.unwrap(),
        [one.clone(), two.clone(), three.clone()]
    );

    // The same sequence number replaces the notification.
    let two_again = Notification {
        body: vec![7, 7, 7],
        ..notification(&app, &topic, 2, now + hour)
    };
    store.save_notification(&two_again).await.unwrap();
    assert_eq!(
        store.notifications(&topic, 1, now).await.unwrap(),
        [two_again.clone(), three.clone(), five.clone()]
    );

    // Purging removes only what expired.
    let purged = store.purge_expired(now).await.unwrap();
    match store {
        EndpointStore::Cassandra(_) => assert_eq!(purged, 0, "Cassandra expires by TTL"),
        _ => assert_eq!(purged, 1, "seq 4"),
    }
    assert_eq!(
        store.notifications(&topic, 0, now).await.unwrap(),
        [one, two_again, three, five]
    );
}

fn unicast(key_hash: &[u8], id: &str, expires_at_ms: i64) -> UnicastNotification {
    UnicastNotification {
        id: id.to_owned(),
        endpoint_key_hash: key_hash.to_vec(),
        topic_id: "topic-u".into(),
        kind: NotificationKind::User,
        body: id.as_bytes().to_vec(),
        expires_at_ms,
    }
}

async fn unicast_notifications_until_accepted_or_expired(store: EndpointStore) {
    let endpoint = key(0x31);
    let other = key(0x32);
    let now = now_ms();
    let hour = 3_600_000;
    assert!(store.unicasts(&endpoint, now).await.unwrap().is_empty());

    let a = unicast(&endpoint, "u-a", now + hour);
    let b = unicast(&endpoint, "u-b", now + 60_000);
    let expired = unicast(&endpoint, "u-c", now - 1_000);
    let theirs = unicast(&other, "u-a", now + hour);
    for u in [&b, &expired, &a, &theirs] {
        store.save_unicast(u).await.unwrap();
    }
    assert_eq!(
        store.unicasts(&endpoint, now).await.unwrap(),
        [a.clone(), b.clone()]
    );
    assert_eq!(
        store.unicasts(&other, now).await.unwrap(),
        std::slice::from_ref(&theirs)
    );
    assert_eq!(
        store.unicasts(&endpoint, now + 120_000).await.unwrap(),
        std::slice::from_ref(&a)
    );

    // Saving the same id replaces it.
    let b_again = UnicastNotification {
        kind: NotificationKind::System,
        body: vec![1, 2, 3],
        ..b.clone()
    };
    store.save_unicast(&b_again).await.unwrap();
    assert_eq!(
        store.unicasts(&endpoint, now).await.unwrap(),
        [a.clone(), b_again.clone()]
    );

    // Accepted ones are deleted, for this endpoint only.
    assert!(store.delete_unicast(&endpoint, "u-a").await.unwrap());
    assert!(!store.delete_unicast(&endpoint, "u-a").await.unwrap());
    assert!(!store.delete_unicast(&endpoint, "u-zzz").await.unwrap());
    assert_eq!(store.unicasts(&endpoint, now).await.unwrap(), [b_again]);
    assert_eq!(store.unicasts(&other, now).await.unwrap(), [theirs]);
}

async fn topic_lists_by_hash(store: EndpointStore) {
    assert_eq!(store.topic_list(42).await.unwrap(), None);
    let list = TopicListEntry {
        hash: 42,
        topic_ids: vec!["topic-b".into(), "topic-a".into()],
    };
    store.save_topic_list(&list).await.unwrap();
    assert_eq!(store.topic_list(42).await.unwrap(), Some(list));
    let replaced = TopicListEntry {
        hash: 42,
        topic_ids: vec!["topic-c".into()],
    };
    store.save_topic_list(&replaced).await.unwrap();
    assert_eq!(store.topic_list(42).await.unwrap(), Some(replaced));
    let empty = TopicListEntry {
        hash: -7,
        topic_ids: Vec::new(),
    };
    store.save_topic_list(&empty).await.unwrap();
    assert_eq!(store.topic_list(-7).await.unwrap(), Some(empty));
    assert_eq!(store.topic_list(43).await.unwrap(), None);
}

async fn owners_and_their_configurations(store: EndpointStore) {
    let (app, other_app) = (new_id(), new_id());
    let alice = format!("{}:alice", new_id());
    let bob = format!("{}:bob", new_id());
    assert!(store.profiles_by_owner(&alice).await.unwrap().is_empty());
    for (app, first, owner) in [
        (&app, 1, Some(&alice)),
        (&app, 2, Some(&alice)),
        (&other_app, 3, Some(&alice)),
        (&app, 4, None),
    ] {
        let attached = EndpointProfile {
            owner_id: owner.cloned(),
            ..profile(app, first)
        };
        store.save_profile(&attached).await.unwrap();
    }
    let owned = |profiles: Vec<EndpointProfile>| -> Vec<Vec<u8>> {
        profiles.into_iter().map(|p| p.endpoint_key_hash).collect()
    };
    assert_eq!(
        owned(store.profiles_by_owner(&alice).await.unwrap()),
        [key(1), key(2), key(3)]
    );
    // Detached, and moved to another owner: the index follows.
    let detached = EndpointProfile {
        owner_id: None,
        ..store.profile(&key(2)).await.unwrap().unwrap()
    };
    store.save_profile(&detached).await.unwrap();
    let moved = EndpointProfile {
        owner_id: Some(bob.clone()),
        ..store.profile(&key(1)).await.unwrap().unwrap()
    };
    store.save_profile(&moved).await.unwrap();
    assert_eq!(
        owned(store.profiles_by_owner(&alice).await.unwrap()),
        [key(3)]
    );
    assert_eq!(
        owned(store.profiles_by_owner(&bob).await.unwrap()),
        [key(1)]
    );
    // Attached again to its former owner, and a deleted profile: the index follows both.
    let reattached = EndpointProfile {
        owner_id: Some(alice.clone()),
        ..store.profile(&key(2)).await.unwrap().unwrap()
    };
    store.save_profile(&reattached).await.unwrap();
    assert!(store.delete_profile(&key(3)).await.unwrap());
    let listed = store.profiles_by_owner(&alice).await.unwrap();
    assert_eq!(owned(listed.clone()), [key(2)]);
    assert_eq!(
        listed[0].version,
        reattached.version + 1,
        "the stored profile"
    );
    assert_eq!(listed[0].owner_id.as_deref(), Some(alice.as_str()));

    assert_eq!(
        store.user_configuration(&alice, &app, 1).await.unwrap(),
        None
    );
    let first = UserConfiguration {
        owner_id: alice.clone(),
        app_id: app.clone(),
        schema_version: 1,
        body: r#"{"interval":5}"#.into(),
        updated_ms: 1_000,
    };
    store.save_user_configuration(&first).await.unwrap();
    assert_eq!(
        store.user_configuration(&alice, &app, 1).await.unwrap(),
        Some(first.clone())
    );
    // Owner ids compare exactly (MariaDB's default collation would not).
    let shouted = alice.to_uppercase();
    assert_eq!(
        store.user_configuration(&shouted, &app, 1).await.unwrap(),
        None
    );
    assert!(store.profiles_by_owner(&shouted).await.unwrap().is_empty());
    let replaced = UserConfiguration {
        body: r#"{"interval":6}"#.into(),
        updated_ms: 2_000,
        ..first.clone()
    };
    store.save_user_configuration(&replaced).await.unwrap();
    let second = UserConfiguration {
        schema_version: 2,
        ..first.clone()
    };
    store.save_user_configuration(&second).await.unwrap();
    assert_eq!(
        store.user_configurations(&alice, &app).await.unwrap(),
        [replaced.clone(), second.clone()]
    );
    assert!(
        store
            .user_configurations(&alice, &other_app)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .user_configurations(&bob, &app)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .delete_user_configuration(&alice, &app, 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_user_configuration(&alice, &app, 1)
            .await
            .unwrap()
    );
    assert_eq!(
        store.user_configuration(&alice, &app, 1).await.unwrap(),
        None
    );
    assert_eq!(
        store.user_configurations(&alice, &app).await.unwrap(),
        [second]
    );
}
