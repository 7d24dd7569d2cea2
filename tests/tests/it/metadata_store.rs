//! One conformance suite for the SQL metadata store, run on PostgreSQL, MariaDB and SQLite: every
//! backend must behave the same, including its errors.

use kaa_model::Role;
use kaa_store::StoreError;
use kaa_store::metadata::{AuditEntry, AuditFilter, GROUP_ALL, MetadataStore, Page};
use kaa_store::sql::SqlDatabase;
use kaa_tests::infra;

/// Runs the suite in a fresh database on the server behind `base_url`, dropped afterwards.
async fn in_fresh_database(base_url: &str, server: &str) {
    let database = infra::fresh_database(base_url, server).await;
    conformance(&database.url).await;
    database.drop().await;
}

const PAGE: Page = Page {
    offset: 0,
    limit: 50,
};

async fn conformance(url: &str) {
    let store = MetadataStore::open(SqlDatabase::connect(url, 4).await.expect("connect"))
        .await
        .expect("migrate");
    // Opening again finds the schema up to date.
    MetadataStore::open(store.database().clone())
        .await
        .expect("migrations are idempotent");

    // Tenants: unique names, rename, paging.
    let acme = store.create_tenant("acme").await.unwrap();
    assert!(matches!(
        store.create_tenant("acme").await,
        Err(StoreError::Conflict(_))
    ));
    let globex = store.create_tenant("globex").await.unwrap();
    store.create_tenant("initech").await.unwrap();
    let first = store
        .tenants(Page {
            offset: 0,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["acme", "globex"]
    );
    assert_eq!(first.next, Some(2));
    let last = store
        .tenants(Page {
            offset: 2,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(last.items.len(), 1);
    assert_eq!(last.next, None);
    assert_eq!(
        store
            .rename_tenant(&globex.id, "globex corp")
            .await
            .unwrap()
            .name,
        "globex corp"
    );
    assert!(matches!(
        store.rename_tenant(&globex.id, "acme").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.tenant("nope").await,
        Err(StoreError::NotFound(_))
    ));

    // Users: roles bound to tenants, unique names, sessions.
    let admin = store
        .create_user(None, "root", Role::KaaAdmin, "hash-0")
        .await
        .unwrap();
    assert!(matches!(
        store.create_user(None, "x", Role::TenantAdmin, "h").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .create_user(Some(&acme.id), "y", Role::KaaAdmin, "h")
            .await,
        Err(StoreError::Invalid(_))
    ));
    let dev = store
        .create_user(Some(&acme.id), "dev", Role::TenantDeveloper, "hash-1")
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_user(Some(&globex.id), "dev", Role::TenantUser, "h")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.user_by_name("dev").await.unwrap().unwrap(), dev);
    assert_eq!(
        store.users(Some(&acme.id), PAGE).await.unwrap().items,
        std::slice::from_ref(&dev)
    );
    assert_eq!(
        store.users(None, PAGE).await.unwrap().items,
        std::slice::from_ref(&admin)
    );
    let promoted = store
        .update_user(&dev.id, Some(Role::TenantAdmin), Some("hash-2"), None)
        .await
        .unwrap();
    assert_eq!(
        (promoted.role, promoted.password_hash.as_str()),
        (Role::TenantAdmin, "hash-2")
    );
    assert!(matches!(
        store
            .update_user(&dev.id, Some(Role::KaaAdmin), None, None)
            .await,
        Err(StoreError::Invalid(_))
    ));

    store
        .create_session(
            "token-live",
            &dev.id,
            kaa_store::metadata::now_ms() + 60_000,
        )
        .await
        .unwrap();
    store
        .create_session("token-old", &dev.id, kaa_store::metadata::now_ms() - 1)
        .await
        .unwrap();
    assert_eq!(
        store.session_user("token-live").await.unwrap().unwrap().id,
        dev.id
    );
    assert!(
        store.session_user("token-old").await.unwrap().is_none(),
        "expired sessions do not count"
    );
    store.delete_session("token-live").await.unwrap();
    assert!(store.session_user("token-live").await.unwrap().is_none());

    // A new password ends the user's sessions but the one kept; expired ones are purged.
    let later = kaa_store::metadata::now_ms() + 60_000;
    for token in ["token-a", "token-b", "token-c"] {
        store.create_session(token, &dev.id, later).await.unwrap();
    }
    store
        .update_user(&dev.id, None, Some("hash-3"), Some("token-b"))
        .await
        .unwrap();
    assert!(store.session_user("token-a").await.unwrap().is_none());
    assert!(store.session_user("token-b").await.unwrap().is_some());
    store
        .create_session("token-gone", &dev.id, kaa_store::metadata::now_ms() - 1)
        .await
        .unwrap();
    assert_eq!(store.purge_expired_sessions().await.unwrap(), 1);
    store
        .update_user(&dev.id, None, Some("hash-2"), None)
        .await
        .unwrap();
    assert!(store.session_user("token-b").await.unwrap().is_none());

    // The audit log: newest first, filtered, paged, purged by age.
    let mut entries = Vec::new();
    for (i, (tenant, action)) in [
        (Some(&acme.id), "login"),
        (None, "change"),
        (Some(&acme.id), "change"),
        (Some(&globex.id), "login_failed"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut entry = AuditEntry::now(action, "POST", "/api/v1/x", 200);
        entry.at_ms = 1_000 + i as i64;
        entry.tenant_id = tenant.cloned();
        entry.user_id = Some(dev.id.clone());
        entry.username = Some("dev".into());
        entry.role = Some("TENANT_ADMIN".into());
        entry.address = Some("127.0.0.1".into());
        store.append_audit(&entry).await.unwrap();
        entries.push(entry);
    }
    let all = store.audit(&AuditFilter::default(), PAGE).await.unwrap();
    assert_eq!(
        all.items,
        entries.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first, read back as written"
    );
    let acme_changes = AuditFilter {
        tenant_id: Some(acme.id.clone()),
        action: Some("change".into()),
        ..AuditFilter::default()
    };
    let found = store.audit(&acme_changes, PAGE).await.unwrap().items;
    assert_eq!(found, std::slice::from_ref(&entries[2]));
    let window = AuditFilter {
        since_ms: Some(1_001),
        until_ms: Some(1_003),
        ..AuditFilter::default()
    };
    let found = store.audit(&window, PAGE).await.unwrap().items;
    assert_eq!(found, [entries[2].clone(), entries[1].clone()]);
    let first = store
        .audit(
            &AuditFilter::default(),
            Page {
                offset: 1,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!((first.items.len(), first.next), (2, Some(3)));
    assert_eq!(store.purge_audit(1_002).await.unwrap(), 2);
    assert_eq!(
        store
            .audit(&AuditFilter::default(), PAGE)
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    // A tenant with users cannot be deleted; an empty one can.
    assert!(matches!(
        store.delete_tenant(&acme.id).await,
        Err(StoreError::Conflict(_))
    ));
    let empty = store.create_tenant("empty").await.unwrap();
    store.delete_tenant(&empty.id).await.unwrap();
    assert!(matches!(
        store.delete_tenant(&empty.id).await,
        Err(StoreError::NotFound(_))
    ));

    // Applications: group all, tokens, change log with per-application sequence numbers.
    let app = store
        .create_application(&acme.id, "thermostats", "trustful")
        .await
        .unwrap();
    assert_eq!(app.seq, 2, "the application and its group all are logged");
    assert_eq!(app.app_token.len(), 32);
    assert!(matches!(
        store
            .create_application(&acme.id, "thermostats", "trustful")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_application(&acme.id, "bad", "magic").await,
        Err(StoreError::Invalid(_))
    ));
    let other = store
        .create_application(&globex.id, "thermostats", "internal")
        .await
        .unwrap();
    assert_eq!(other.seq, 2, "sequence numbers are per application");

    let groups = store.groups(&app.id, PAGE).await.unwrap().items;
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].name.as_str(), groups[0].weight), (GROUP_ALL, 0));
    assert!(matches!(
        store.delete_group(&groups[0].id).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.create_group(&app.id, "zero", 0, "").await,
        Err(StoreError::Invalid(_))
    ));
    let heaters = store
        .create_group(&app.id, "heaters", 10, "all heaters")
        .await
        .unwrap();
    assert!(matches!(
        store.create_group(&app.id, "coolers", 10, "").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_group(&app.id, "heaters", 20, "").await,
        Err(StoreError::Conflict(_))
    ));
    store
        .update_application(&app.id, Some("thermostats v2"), Some("internal"))
        .await
        .unwrap();
    store.delete_group(&heaters.id).await.unwrap();

    let changes = store.changes_since(&app.id, 0, 100).await.unwrap();
    let log: Vec<(i64, &str, &str)> = changes
        .iter()
        .map(|c| (c.seq, c.entity.as_str(), c.op.as_str()))
        .collect();
    assert_eq!(
        log,
        [
            (1, "application", "insert"),
            (2, "endpoint_group", "insert"),
            (3, "endpoint_group", "insert"),
            (4, "application", "update"),
            (5, "endpoint_group", "delete"),
        ]
    );
    assert_eq!(
        store.changes_since(&app.id, 3, 100).await.unwrap().len(),
        2,
        "catch up from a known number"
    );
    assert_eq!(store.application(&app.id).await.unwrap().seq, 5);

    // Schemas: versions count up per application and kind.
    let v1 = store
        .create_schema(&app.id, "configuration", "cfg", "{\"type\":\"record\"}")
        .await
        .unwrap();
    let v2 = store
        .create_schema(
            &app.id,
            "configuration",
            "cfg",
            "{\"type\":\"record\",\"x\":1}",
        )
        .await
        .unwrap();
    let p1 = store
        .create_schema(&app.id, "client_profile", "p", "{}")
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version, p1.version), (1, 2, 1));
    assert!(matches!(
        store.create_schema(&app.id, "weird", "w", "{}").await,
        Err(StoreError::Invalid(_))
    ));
    let listed = store
        .schemas(&app.id, "configuration", PAGE)
        .await
        .unwrap()
        .items;
    assert_eq!(listed.iter().map(|s| s.version).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(store.schema(&app.id, "configuration", 1).await.unwrap(), v1);
    assert!(matches!(
        store.schema(&app.id, "configuration", 9).await,
        Err(StoreError::NotFound(_))
    ));

    // Group documents: drafts, activation deprecating the previous one, one active per versions.
    use kaa_store::metadata::{DocumentKind::*, DocumentStatus::*, TopicKind};
    let lamps = store.create_group(&app.id, "lamps", 30, "").await.unwrap();
    let first = store
        .create_document(&lamps.id, Configuration, 1, 0, "{\"a\": 1}")
        .await
        .unwrap();
    assert_eq!(first.status, Draft);
    let edited = store
        .update_draft(Configuration, &first.id, "{\"a\": 2}")
        .await
        .unwrap();
    assert_eq!(edited.body, "{\"a\": 2}");
    let (active, seq) = store.activate(Configuration, &first.id).await.unwrap();
    assert_eq!(
        (active.status, seq),
        (Active, store.application(&app.id).await.unwrap().seq)
    );
    assert!(matches!(
        store.update_draft(Configuration, &first.id, "{}").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.activate(Configuration, &first.id).await,
        Err(StoreError::Invalid(_))
    ));
    let second = store
        .create_document(&lamps.id, Configuration, 1, 0, "{\"a\": 3}")
        .await
        .unwrap();
    let other_version = store
        .create_document(&lamps.id, Configuration, 2, 0, "{}")
        .await
        .unwrap();
    store.activate(Configuration, &second.id).await.unwrap();
    store
        .activate(Configuration, &other_version.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .document(Configuration, &first.id)
            .await
            .unwrap()
            .status,
        Deprecated
    );
    let mut active_ids: Vec<String> = store
        .active_documents(&app.id, Configuration)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    active_ids.sort();
    let mut expected = vec![second.id.clone(), other_version.id.clone()];
    expected.sort();
    assert_eq!(
        active_ids, expected,
        "one active configuration per schema version"
    );
    assert!(
        matches!(
            store.document(ProfileFilter, &second.id).await,
            Err(StoreError::NotFound(_))
        ),
        "kinds do not mix"
    );
    let filter = store
        .create_document(&lamps.id, ProfileFilter, 1, 0, "cp.kind == \"lamp\"")
        .await
        .unwrap();
    store.activate(ProfileFilter, &filter.id).await.unwrap();
    store.deactivate(ProfileFilter, &filter.id).await.unwrap();
    assert!(
        store
            .active_documents(&app.id, ProfileFilter)
            .await
            .unwrap()
            .is_empty()
    );
    let draft = store
        .create_document(&lamps.id, ProfileFilter, 1, 0, "true")
        .await
        .unwrap();
    store.delete_draft(ProfileFilter, &draft.id).await.unwrap();
    assert!(matches!(
        store.delete_draft(ProfileFilter, &filter.id).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store
            .documents(&lamps.id, Configuration, PAGE)
            .await
            .unwrap()
            .items
            .len(),
        3
    );

    // Topics and their groups.
    let alerts = store
        .create_topic(&app.id, "alerts", TopicKind::Mandatory)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_topic(&app.id, "alerts", TopicKind::Optional)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let news = store
        .create_topic(&app.id, "news", TopicKind::Optional)
        .await
        .unwrap();
    store.attach_topic(&lamps.id, &news.id).await.unwrap();
    store.attach_topic(&lamps.id, &alerts.id).await.unwrap();
    assert!(matches!(
        store.attach_topic(&lamps.id, &alerts.id).await,
        Err(StoreError::Conflict(_))
    ));
    let names: Vec<String> = store
        .group_topics(&lamps.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["alerts", "news"]);
    store.detach_topic(&lamps.id, &news.id).await.unwrap();
    assert!(matches!(
        store.detach_topic(&lamps.id, &news.id).await,
        Err(StoreError::NotFound(_))
    ));
    let foreign = store
        .create_topic(&other.id, "foreign", TopicKind::Optional)
        .await
        .unwrap();
    assert!(matches!(
        store.attach_topic(&lamps.id, &foreign.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.topics(&app.id, PAGE).await.unwrap().items.len(), 2);

    // A large body survives (MariaDB needs MEDIUMTEXT for it).
    let big = "x".repeat(200_000);
    let stored = store
        .create_schema(&app.id, "log", "big", &big)
        .await
        .unwrap();
    assert_eq!(
        store
            .schema(&app.id, "log", stored.version)
            .await
            .unwrap()
            .body
            .len(),
        big.len()
    );

    // SQL metacharacters are data, not code.
    let tricky = "o'brien\"; DROP TABLE tenants; --";
    let t = store.create_tenant(tricky).await.unwrap();
    assert_eq!(store.tenant(&t.id).await.unwrap().name, tricky);

    // Users go with their sessions.
    store
        .create_session("token-2", &dev.id, kaa_store::metadata::now_ms() + 60_000)
        .await
        .unwrap();
    store.delete_user(&dev.id).await.unwrap();
    assert!(store.session_user("token-2").await.unwrap().is_none());
    assert!(matches!(
        store.user(&dev.id).await,
        Err(StoreError::NotFound(_))
    ));
    store.database().pool().close().await;
}

#[tokio::test]
async fn metadata_store_conforms_on_postgresql() {
    in_fresh_database(&infra::postgres(), "postgresql").await;
}

#[tokio::test]
async fn metadata_store_conforms_on_mariadb() {
    in_fresh_database(&infra::mariadb(), "mariadb").await;
}

#[tokio::test]
async fn metadata_store_conforms_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&format!("sqlite://{}/metadata.db", dir.path().display())).await;
}
