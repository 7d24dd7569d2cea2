//! Conformance of the metadata store's event class families and application event maps, run on
//! PostgreSQL, MariaDB and SQLite: every backend must behave the same, including its errors.

use kaa_store::StoreError;
use kaa_store::metadata::{
    EventAction, EventClassKind, MetadataStore, NewEventClass, Page, SdkProfile,
};
use kaa_store::sql::SqlDatabase;
use kaa_tests::infra;

const PAGE: Page = Page {
    offset: 0,
    limit: 50,
};

fn class(fqn: &str, kind: EventClassKind) -> NewEventClass {
    let (namespace, name) = fqn.rsplit_once('.').unwrap();
    NewEventClass {
        fqn: fqn.to_owned(),
        kind,
        body: format!(
            r#"{{"type":"record","name":"{name}","namespace":"{namespace}","fields":[]}}"#
        ),
    }
}

fn body(classes: &[NewEventClass]) -> String {
    format!(
        "[{}]",
        classes
            .iter()
            .map(|c| c.body.as_str())
            .collect::<Vec<_>>()
            .join(",")
    )
}

async fn conformance(url: &str) {
    let store = MetadataStore::open(SqlDatabase::connect(url, 4).await.expect("connect"))
        .await
        .expect("migrate");
    let acme = store.create_tenant("acme").await.unwrap();
    let globex = store.create_tenant("globex").await.unwrap();
    let app = store
        .create_application(&acme.id, "thermostats", "trustful")
        .await
        .unwrap();
    let foreign_app = store
        .create_application(&globex.id, "lamps", "trustful")
        .await
        .unwrap();

    // Families: names and class names unique per tenant, scoped reads, paging by name.
    let thermo = store
        .create_event_family(
            &acme.id,
            "thermostat",
            "org.acme.events",
            "ThermostatFamily",
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_event_family(&acme.id, "thermostat", "org.acme", "Other")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_event_family(&acme.id, "other", "org.acme", "ThermostatFamily")
            .await,
        Err(StoreError::Conflict(_))
    ));
    let alarms = store
        .create_event_family(&acme.id, "alarms", "org.acme.events", "AlarmFamily")
        .await
        .unwrap();
    let globex_thermo = store
        .create_event_family(
            &globex.id,
            "thermostat",
            "org.acme.events",
            "ThermostatFamily",
        )
        .await
        .expect("another tenant may reuse the names");
    assert_eq!(
        store.event_family(&acme.id, &thermo.id).await.unwrap(),
        thermo
    );
    assert!(matches!(
        store.event_family(&globex.id, &thermo.id).await,
        Err(StoreError::NotFound(_))
    ));
    let first = store
        .event_families(
            &acme.id,
            Page {
                offset: 0,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.items, std::slice::from_ref(&alarms));
    assert_eq!(first.next, Some(1));
    let names: Vec<_> = store
        .event_families(&acme.id, PAGE)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["alarms", "thermostat"]);

    // Versions: numbered per family, classes stored and read back by FQN.
    let v1_classes = [
        class("org.acme.events.SetTemperature", EventClassKind::Event),
        class("org.acme.events.Reading", EventClassKind::Object),
        class("org.acme.events.TemperatureChanged", EventClassKind::Event),
    ];
    let v1 = store
        .add_event_family_version(&thermo.id, &body(&v1_classes), &v1_classes)
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(
        v1.classes
            .iter()
            .map(|c| c.fqn.as_str())
            .collect::<Vec<_>>(),
        [
            "org.acme.events.Reading",
            "org.acme.events.SetTemperature",
            "org.acme.events.TemperatureChanged"
        ]
    );
    assert_eq!(store.event_family_version(&thermo.id, 1).await.unwrap(), v1);
    // A later version of the same family may repeat its FQNs.
    let v2_classes = [
        class("org.acme.events.SetTemperature", EventClassKind::Event),
        class("org.acme.events.Reset", EventClassKind::Event),
    ];
    let v2 = store
        .add_event_family_version(&thermo.id, &body(&v2_classes), &v2_classes)
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let versions = store.event_family_versions(&thermo.id, PAGE).await.unwrap();
    assert_eq!(versions.items, [v2.clone(), v1.clone()]);
    let newest = store
        .event_family_versions(
            &thermo.id,
            Page {
                offset: 0,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((newest.items, newest.next), (vec![v2.clone()], Some(1)));
    let oldest = store
        .event_family_versions(
            &thermo.id,
            Page {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((oldest.items, oldest.next), (vec![v1.clone()], None));
    assert!(matches!(
        store.event_family_version(&thermo.id, 3).await,
        Err(StoreError::NotFound(_))
    ));

    // Another family of the tenant cannot take those FQNs; another tenant's family can.
    let stolen = [class("org.acme.events.Reset", EventClassKind::Event)];
    assert!(matches!(
        store
            .add_event_family_version(&alarms.id, &body(&stolen), &stolen)
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .add_event_family_version(&globex_thermo.id, &body(&stolen), &stolen)
        .await
        .unwrap();
    let alarm_classes = [class("org.acme.events.Alarm", EventClassKind::Event)];
    store
        .add_event_family_version(&alarms.id, &body(&alarm_classes), &alarm_classes)
        .await
        .unwrap();
    // Rules the store keeps whatever the caller checked.
    assert!(matches!(
        store.add_event_family_version(&alarms.id, "[]", &[]).await,
        Err(StoreError::Invalid(_))
    ));
    let twice = [
        class("org.acme.events.Siren", EventClassKind::Event),
        class("org.acme.events.Siren", EventClassKind::Object),
    ];
    assert!(matches!(
        store
            .add_event_family_version(&alarms.id, &body(&twice), &twice)
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .add_event_family_version("no-such-family", &body(&alarm_classes), &alarm_classes)
            .await,
        Err(StoreError::NotFound(_))
    ));
    // A large schema survives (MariaDB needs MEDIUMTEXT for it).
    let mut big = class("org.acme.events.Big", EventClassKind::Object);
    big.body = format!(
        r#"{{"type":"record","name":"Big","namespace":"org.acme.events","doc":"{}","fields":[]}}"#,
        "x".repeat(200_000)
    );
    let big_version = store
        .add_event_family_version(&alarms.id, &big.body, std::slice::from_ref(&big))
        .await
        .unwrap();
    assert_eq!(
        store
            .event_family_version(&alarms.id, big_version.version)
            .await
            .unwrap()
            .classes[0]
            .body,
        big.body
    );

    // Event maps: one version per family and application, actions per event class, logged.
    let seq_before = store.application(&app.id).await.unwrap().seq;
    let (map, seq) = store
        .create_event_map(
            &app.id,
            &thermo.id,
            1,
            &[
                (
                    "org.acme.events.TemperatureChanged".into(),
                    EventAction::Sink,
                ),
                ("org.acme.events.SetTemperature".into(), EventAction::Both),
            ],
        )
        .await
        .unwrap();
    assert_eq!(seq, seq_before + 1);
    assert_eq!((map.version, map.family_name.as_str()), (1, "thermostat"));
    assert_eq!(
        map.actions
            .iter()
            .map(|a| (a.fqn.as_str(), a.action))
            .collect::<Vec<_>>(),
        [
            ("org.acme.events.SetTemperature", EventAction::Both),
            ("org.acme.events.TemperatureChanged", EventAction::Sink)
        ]
    );
    assert_eq!(store.event_map(&app.id, &map.id).await.unwrap(), map);
    let change = store.changes_since(&app.id, seq_before, 10).await.unwrap();
    assert_eq!(
        (
            change[0].entity.as_str(),
            change[0].entity_id.as_str(),
            change[0].op.as_str()
        ),
        ("event_map", map.id.as_str(), "insert")
    );
    assert!(store.event_map_exists(&app.id, &map.id).await.unwrap());
    assert!(
        !store
            .event_map_exists(&foreign_app.id, &map.id)
            .await
            .unwrap()
    );
    assert!(matches!(
        store.create_event_map(&app.id, &thermo.id, 2, &[]).await,
        Err(StoreError::Conflict(_))
    ));
    let other_app = store
        .create_application(&acme.id, "heaters", "trustful")
        .await
        .unwrap();
    // An FQN the version lacks, and an object class, take no action.
    for (version, fqn) in [
        (2, "org.acme.events.Reading"),
        (1, "org.acme.events.Reading"),
        (1, "org.acme.events.Nope"),
    ] {
        assert!(matches!(
            store
                .create_event_map(
                    &other_app.id,
                    &thermo.id,
                    version,
                    &[(fqn.into(), EventAction::Source)],
                )
                .await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert!(matches!(
        store
            .create_event_map(&other_app.id, &thermo.id, 9, &[])
            .await,
        Err(StoreError::NotFound(_))
    ));
    // Another tenant's family is not found, and nothing was written by the refusals.
    assert!(matches!(
        store
            .create_event_map(&foreign_app.id, &thermo.id, 1, &[])
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .event_maps(&other_app.id, PAGE)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let (alarm_map, _) = store
        .create_event_map(
            &app.id,
            &alarms.id,
            1,
            &[("org.acme.events.Alarm".into(), EventAction::Source)],
        )
        .await
        .unwrap();
    let maps = store.event_maps(&app.id, PAGE).await.unwrap();
    assert_eq!(maps.items, [alarm_map.clone(), map.clone()]);
    let second = store
        .event_maps(
            &app.id,
            Page {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((second.items, second.next), (vec![map.clone()], None));

    // A map an SDK profile names stays; deleting another is logged and takes its actions along.
    store
        .create_sdk_profile(SdkProfile {
            id: String::new(),
            app_id: app.id.clone(),
            name: "v1 sdk".into(),
            sdk_token: String::new(),
            client_profile_version: 0,
            server_profile_version: 0,
            configuration_version: 0,
            notification_version: 0,
            log_version: 0,
            event_map_ids: serde_json::to_string(&[&alarm_map.id]).unwrap(),
            default_verifier_token: None,
            created_ms: 0,
        })
        .await
        .unwrap();
    assert!(matches!(
        store.delete_event_map(&app.id, &alarm_map.id).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.delete_event_map(&foreign_app.id, &map.id).await,
        Err(StoreError::NotFound(_))
    ));
    let seq = store.delete_event_map(&app.id, &map.id).await.unwrap();
    let last = store.changes_since(&app.id, seq - 1, 10).await.unwrap();
    assert_eq!(
        (last[0].entity.as_str(), last[0].op.as_str()),
        ("event_map", "delete")
    );
    assert!(matches!(
        store.delete_event_map(&app.id, &map.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.event_map(&app.id, &map.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.event_maps(&app.id, PAGE).await.unwrap().items,
        [alarm_map]
    );
    // The family can be mapped again, at another version.
    let (again, _) = store
        .create_event_map(
            &app.id,
            &thermo.id,
            2,
            &[("org.acme.events.Reset".into(), EventAction::Source)],
        )
        .await
        .unwrap();
    assert_eq!(again.version, 2);
    store.database().pool().close().await;
}

#[tokio::test]
async fn event_families_conform_on_postgresql() {
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    conformance(&database.url).await;
    database.drop().await;
}

#[tokio::test]
async fn event_families_conform_on_mariadb() {
    let database = infra::fresh_database(&infra::mariadb(), "mariadb").await;
    conformance(&database.url).await;
    database.drop().await;
}

#[tokio::test]
async fn event_families_conform_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&format!("sqlite://{}/metadata.db", dir.path().display())).await;
}
