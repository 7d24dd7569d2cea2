//! Event class families and application event maps through the admin REST API of a real
//! standalone `kaa-node` (metadata on SQLite; the store itself is checked on every database by
//! `metadata_events`): the workflow, bad input naming the field, and roles and tenants.

use std::time::Duration;

use kaa_tests::api::{ApiClient, expect, expect_field, id};
use kaa_tests::node::{Node, NodeBuilder};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "admin-secret-1";

async fn control_node() -> Node {
    let mut node = NodeBuilder::standalone()
        .env("KAA_ADMIN_USER", "admin")
        .env("KAA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .spawn()
        .unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(30))
        .await
        .unwrap();
    node
}

fn base(node: &Node) -> String {
    format!("http://{}", node.admin)
}

/// A tenant with an admin, a developer, a user and one application.
struct Tenant {
    admin: ApiClient,
    developer: ApiClient,
    user: ApiClient,
    app: String,
}

async fn tenant(node: &Node, kaa_admin: &ApiClient, name: &str) -> Tenant {
    let tenant = kaa_admin
        .post("/api/v1/tenants", json!({ "name": name }))
        .await;
    expect(&tenant, 201);
    let password = format!("{name}-password");
    let login = |role: &str| format!("{name}-{}", role.to_lowercase());
    expect(
        &kaa_admin
            .post(
                "/api/v1/users",
                json!({ "username": login("TENANT_ADMIN"), "password": password, "role": "TENANT_ADMIN", "tenant_id": id(&tenant) }),
            )
            .await,
        201,
    );
    let admin = ApiClient::login(base(node), &login("TENANT_ADMIN"), &password).await;
    for role in ["TENANT_DEVELOPER", "TENANT_USER"] {
        expect(
            &admin
                .post(
                    "/api/v1/users",
                    json!({ "username": login(role), "password": password, "role": role }),
                )
                .await,
            201,
        );
    }
    let app = admin
        .post(
            "/api/v1/applications",
            json!({ "name": format!("{name} thermostats") }),
        )
        .await;
    expect(&app, 201);
    Tenant {
        developer: ApiClient::login(base(node), &login("TENANT_DEVELOPER"), &password).await,
        user: ApiClient::login(base(node), &login("TENANT_USER"), &password).await,
        admin,
        app: format!("/api/v1/applications/{}", id(&app)),
    }
}

/// An Avro record schema named `namespace.name`.
fn record(namespace: &str, name: &str) -> Value {
    json!({
        "type": "record",
        "name": name,
        "namespace": namespace,
        "fields": [{ "name": "value", "type": "int" }],
    })
}

fn thermostat_classes() -> Value {
    json!({ "classes": [
        { "schema": record("org.acme.events", "TemperatureChanged"), "kind": "event" },
        { "schema": record("org.acme.events", "Reading"), "kind": "object" },
        { "schema": record("org.acme.events", "SetTemperature"), "kind": "event" },
    ]})
}

#[tokio::test]
async fn event_family_and_map_workflow() {
    let node = control_node().await;
    let kaa_admin = ApiClient::login(base(&node), "admin", ADMIN_PASSWORD).await;
    let acme = tenant(&node, &kaa_admin, "acme").await;
    let app = &acme.app;

    // The tenant admin and the developer write families; everyone of the tenant reads them.
    let family = acme
        .developer
        .post(
            "/api/v1/event-families",
            json!({ "name": "thermostat", "namespace": "org.acme.events", "class_name": "ThermostatFamily" }),
        )
        .await;
    expect(&family, 201);
    assert_eq!(family.body["class_name"], "ThermostatFamily");
    let family_path = format!("/api/v1/event-families/{}", id(&family));
    expect(
        &acme
            .admin
            .post(
                "/api/v1/event-families",
                json!({ "name": "alarms", "namespace": "org.acme.alarms", "class_name": "AlarmFamily" }),
            )
            .await,
        201,
    );
    let families = acme.user.get("/api/v1/event-families").await;
    expect(&families, 200);
    let names: Vec<_> = families.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alarms", "thermostat"]);
    expect(&acme.user.get(&family_path).await, 200);
    expect(
        &acme
            .developer
            .post(
                "/api/v1/event-families",
                json!({ "name": "thermostat", "namespace": "org.acme", "class_name": "Other" }),
            )
            .await,
        409,
    );

    // Versions: classes named by their schemas' full names, listed by FQN.
    let v1 = acme
        .developer
        .post(&format!("{family_path}/versions"), thermostat_classes())
        .await;
    expect(&v1, 201);
    assert_eq!(v1.body["version"], 1);
    let classes: Vec<_> = v1.body["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["fqn"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        classes,
        [
            ("org.acme.events.Reading", "object"),
            ("org.acme.events.SetTemperature", "event"),
            ("org.acme.events.TemperatureChanged", "event"),
        ]
    );
    assert_eq!(v1.body["classes"][1]["schema"]["name"], "SetTemperature");
    let v2 = acme
        .admin
        .post(
            &format!("{family_path}/versions"),
            json!({ "classes": [{ "schema": record("org.acme.events", "SetTemperature"), "kind": "event" }] }),
        )
        .await;
    expect(&v2, 201);
    assert_eq!(v2.body["version"], 2);
    let versions = acme.user.get(&format!("{family_path}/versions")).await;
    expect(&versions, 200);
    assert_eq!(versions.body["items"][0]["version"], 2);
    assert_eq!(versions.body["items"][1]["version"], 1);
    assert_eq!(versions.body["items"][1]["classes"], v1.body["classes"]);
    let got = acme.user.get(&format!("{family_path}/versions/1")).await;
    expect(&got, 200);
    assert_eq!(got.body, v1.body);
    expect(
        &acme.user.get(&format!("{family_path}/versions/3")).await,
        404,
    );
    expect(
        &acme.user.get(&format!("{family_path}/versions/one")).await,
        404,
    );

    // The developer maps version 1 into the application; the map is logged.
    let map = acme
        .developer
        .post(
            &format!("{app}/event-maps"),
            json!({
                "family_id": id(&family),
                "version": 1,
                "actions": {
                    "org.acme.events.SetTemperature": "both",
                    "org.acme.events.TemperatureChanged": "sink",
                },
            }),
        )
        .await;
    expect(&map, 201);
    assert_eq!(map.body["family_name"], "thermostat");
    assert_eq!(map.body["version"], 1);
    assert_eq!(
        map.body["actions"],
        json!({ "org.acme.events.SetTemperature": "both", "org.acme.events.TemperatureChanged": "sink" })
    );
    let map_path = format!("{app}/event-maps/{}", id(&map));
    let changes = acme.developer.get(&format!("{app}/changes")).await;
    let last = changes.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["entity"], &last["entity_id"], &last["op"]),
        (&json!("event_map"), &json!(id(&map)), &json!("insert"))
    );
    let maps = acme.user.get(&format!("{app}/event-maps")).await;
    expect(&maps, 200);
    assert_eq!(maps.body["items"], json!([map.body.clone()]));
    assert_eq!(acme.user.get(&map_path).await.body, map.body);
    // One version of a family per application.
    expect(
        &acme
            .developer
            .post(
                &format!("{app}/event-maps"),
                json!({ "family_id": id(&family), "version": 2, "actions": {} }),
            )
            .await,
        409,
    );

    // A map an SDK profile names stays until the profile goes.
    let profile = acme
        .developer
        .post(
            &format!("{app}/sdk-profiles"),
            json!({ "name": "v1", "event_map_ids": [id(&map)] }),
        )
        .await;
    expect(&profile, 201);
    expect(&acme.developer.delete(&map_path).await, 409);
    expect(
        &acme
            .developer
            .delete(&format!("{app}/sdk-profiles/{}", id(&profile)))
            .await,
        204,
    );
    expect(&acme.developer.delete(&map_path).await, 204);
    let changes = acme.developer.get(&format!("{app}/changes")).await;
    let last = changes.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["entity"], &last["op"]),
        (&json!("event_map"), &json!("delete"))
    );
    expect(&acme.developer.delete(&map_path).await, 404);
    expect(&acme.user.get(&map_path).await, 404);
    let maps = acme.user.get(&format!("{app}/event-maps")).await;
    assert_eq!(maps.body["items"], json!([]));
    // Now another version can be mapped.
    let again = acme
        .developer
        .post(
            &format!("{app}/event-maps"),
            json!({ "family_id": id(&family), "version": 2, "actions": { "org.acme.events.SetTemperature": "source" } }),
        )
        .await;
    expect(&again, 201);
    assert_eq!(again.body["version"], 2);
}

#[tokio::test]
async fn bad_event_family_input_is_refused_naming_the_field_and_writes_nothing() {
    let node = control_node().await;
    let kaa_admin = ApiClient::login(base(&node), "admin", ADMIN_PASSWORD).await;
    let acme = tenant(&node, &kaa_admin, "acme").await;
    let dev = &acme.developer;
    let family_body = |namespace: &str, class_name: &str| json!({ "name": "f", "namespace": namespace, "class_name": class_name });

    // Families.
    for (body, status, field) in [
        (family_body("org..acme", "Family"), 422, "namespace"),
        (family_body("org.acme-events", "Family"), 422, "namespace"),
        (family_body("", "Family"), 422, "namespace"),
        (family_body("org.acme", "1Family"), 422, "class_name"),
        (family_body("org.acme", "Fam.ily"), 422, "class_name"),
        (
            json!({ "name": " f", "namespace": "org.acme", "class_name": "F" }),
            422,
            "name",
        ),
        (
            json!({ "name": "f", "namespace": "org.acme", "class_name": "F", "colour": "red" }),
            400,
            "colour",
        ),
        (json!({ "name": "f", "namespace": "org.acme" }), 400, "."),
    ] {
        let reply = dev.post("/api/v1/event-families", body.clone()).await;
        if field == "." {
            expect(&reply, status);
        } else {
            expect_field(&reply, status, field);
        }
    }
    let families = dev.get("/api/v1/event-families").await;
    assert_eq!(families.body["items"], json!([]), "nothing was written");

    let family = dev
        .post("/api/v1/event-families", family_body("org.acme", "Family"))
        .await;
    expect(&family, 201);
    let versions = format!("/api/v1/event-families/{}/versions", id(&family));
    let ping = || record("org.acme.events", "Ping");

    // Versions: each class checked, the error naming it.
    for (body, status, field) in [
        (json!({ "classes": [] }), 422, "classes"),
        (
            json!({ "classes": [
                { "schema": ping(), "kind": "event" },
                { "schema": { "type": "record", "name": "Bad", "fields": [{ "name": "a", "type": "Foo" }] }, "kind": "event" },
            ]}),
            422,
            "classes[1].schema.fields[0].type",
        ),
        (
            json!({ "classes": [{ "schema": { "type": "enum", "name": "E", "symbols": ["A"] }, "kind": "event" }] }),
            422,
            "classes[0].schema",
        ),
        (
            json!({ "classes": [{ "schema": "not a schema", "kind": "event" }] }),
            422,
            "classes[0].schema",
        ),
        (
            json!({ "classes": [{ "schema": ping(), "kind": "signal" }] }),
            422,
            "classes[0].kind",
        ),
        (
            json!({ "classes": [{ "schema": ping(), "kind": "event" }, { "schema": ping(), "kind": "object" }] }),
            422,
            "classes[1].schema",
        ),
        (
            json!({ "classes": [{ "schema": ping() }] }),
            400,
            "classes[0]",
        ),
        (
            json!({ "classes": [{ "schema": ping(), "kind": "event", "extra": 1 }] }),
            400,
            "classes[0].extra",
        ),
    ] {
        expect_field(&dev.post(&versions, body.clone()).await, status, field);
    }
    let too_many: Vec<_> = (0..257)
        .map(|i| json!({ "schema": record("org.acme.many", &format!("C{i}")), "kind": "event" }))
        .collect();
    expect_field(
        &dev.post(&versions, json!({ "classes": too_many })).await,
        422,
        "classes",
    );
    let listed = dev.get(&versions).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was written");

    let v1 = dev
        .post(
            &versions,
            json!({ "classes": [
                { "schema": ping(), "kind": "event" },
                { "schema": record("org.acme.events", "Payload"), "kind": "object" },
            ]}),
        )
        .await;
    expect(&v1, 201);
    // Another family of the tenant cannot take an FQN.
    let other = dev
        .post(
            "/api/v1/event-families",
            json!({ "name": "other", "namespace": "org.acme", "class_name": "Other" }),
        )
        .await;
    expect(&other, 201);
    expect(
        &dev.post(
            &format!("/api/v1/event-families/{}/versions", id(&other)),
            json!({ "classes": [{ "schema": ping(), "kind": "event" }] }),
        )
        .await,
        409,
    );

    // Maps: the family, version and every action checked.
    let maps = format!("{}/event-maps", acme.app);
    let map_body = |family: &str, version: i64, actions: Value| json!({ "family_id": family, "version": version, "actions": actions });
    let family_id = id(&family);
    for (body, status, field) in [
        (
            map_body("no-such-family", 1, json!({})),
            422,
            "family_id".to_owned(),
        ),
        (map_body(&family_id, 0, json!({})), 422, "version".into()),
        (map_body(&family_id, 7, json!({})), 422, "version".into()),
        (
            map_body(&family_id, 1, json!({ "org.acme.events.Ping": "sideways" })),
            422,
            "actions.org.acme.events.Ping".into(),
        ),
        (
            map_body(&family_id, 1, json!({ "org.acme.events.Nope": "source" })),
            422,
            "actions.org.acme.events.Nope".into(),
        ),
        (
            map_body(&family_id, 1, json!({ "org.acme.events.Payload": "sink" })),
            422,
            "actions.org.acme.events.Payload".into(),
        ),
        (
            map_body(&family_id, 1, json!({ "org.acme.events.Ping": 1 })),
            400,
            "actions.org.acme.events.Ping".into(),
        ),
        (
            json!({ "family_id": family_id, "version": 1 }),
            400,
            ".".into(),
        ),
    ] {
        let reply = dev.post(&maps, body.clone()).await;
        if field == "." {
            expect(&reply, status);
        } else {
            expect_field(&reply, status, &field);
        }
    }
    let listed = dev.get(&maps).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was written");
    expect(
        &dev.raw(Method::POST, &maps, "text/plain", b"{}".to_vec())
            .await,
        415,
    );
}

#[tokio::test]
async fn no_role_reaches_another_tenants_event_families_or_maps() {
    let node = control_node().await;
    let kaa_admin = ApiClient::login(base(&node), "admin", ADMIN_PASSWORD).await;
    let acme = tenant(&node, &kaa_admin, "acme").await;
    let globex = tenant(&node, &kaa_admin, "globex").await;

    let family = acme
        .admin
        .post(
            "/api/v1/event-families",
            json!({ "name": "thermostat", "namespace": "org.acme", "class_name": "Thermostat" }),
        )
        .await;
    expect(&family, 201);
    let family_path = format!("/api/v1/event-families/{}", id(&family));
    let version = json!({ "classes": [{ "schema": record("org.acme", "Ping"), "kind": "event" }] });
    expect(
        &acme
            .developer
            .post(&format!("{family_path}/versions"), version.clone())
            .await,
        201,
    );
    let map_body =
        json!({ "family_id": id(&family), "version": 1, "actions": { "org.acme.Ping": "both" } });
    let map = acme
        .developer
        .post(&format!("{}/event-maps", acme.app), map_body.clone())
        .await;
    expect(&map, 201);
    let map_path = format!("{}/event-maps/{}", acme.app, id(&map));
    let new_family = json!({ "name": "alarms", "namespace": "org.acme", "class_name": "Alarms" });

    let who: [(&str, &ApiClient); 7] = [
        ("kaa admin", &kaa_admin),
        ("acme admin", &acme.admin),
        ("acme developer", &acme.developer),
        ("acme user", &acme.user),
        ("globex admin", &globex.admin),
        ("globex developer", &globex.developer),
        ("globex user", &globex.user),
    ];
    let cases: Vec<(Method, String, Option<Value>, [u16; 7])> = vec![
        (
            Method::GET,
            "/api/v1/event-families".into(),
            None,
            [403, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/event-families".into(),
            Some(new_family),
            [403, 201, 201, 403, 201, 201, 403],
        ),
        (
            Method::GET,
            family_path.clone(),
            None,
            [403, 200, 200, 200, 404, 404, 404],
        ),
        (
            Method::GET,
            format!("{family_path}/versions"),
            None,
            [403, 200, 200, 200, 404, 404, 404],
        ),
        (
            Method::POST,
            format!("{family_path}/versions"),
            Some(version),
            [403, 201, 201, 403, 404, 404, 403],
        ),
        (
            Method::GET,
            format!("{family_path}/versions/1"),
            None,
            [403, 200, 200, 200, 404, 404, 404],
        ),
        (
            Method::GET,
            format!("{}/event-maps", acme.app),
            None,
            [403, 200, 200, 200, 404, 404, 404],
        ),
        (
            Method::POST,
            format!("{}/event-maps", acme.app),
            Some(map_body.clone()),
            [403, 403, 201, 403, 403, 404, 403],
        ),
        (
            Method::GET,
            map_path.clone(),
            None,
            [403, 200, 200, 200, 404, 404, 404],
        ),
        (
            Method::DELETE,
            map_path.clone(),
            None,
            [403, 403, 204, 403, 403, 404, 403],
        ),
    ];
    for (method, path, body, expected) in cases {
        for ((name, client), status) in who.iter().zip(expected) {
            let reply = client.send(method.clone(), &path, body.clone()).await;
            // A create repeated by a later caller conflicts: 409 also proves it got past the
            // role and tenant checks, so 201 and 409 count alike.
            let created = |s: u16| s == 201 || s == 409;
            let ok = reply.status == status || (created(status) && created(reply.status));
            assert!(
                ok,
                "{name} {method} {path}: expected {status}, got {} {:#}",
                reply.status, reply.body
            );
        }
    }

    // A family of another tenant cannot be mapped, nor named by id in a body.
    let foreign = globex
        .developer
        .post(&format!("{}/event-maps", globex.app), map_body)
        .await;
    expect_field(&foreign, 422, "family_id");
    let globex_maps = globex.user.get(&format!("{}/event-maps", globex.app)).await;
    assert_eq!(globex_maps.body["items"], json!([]));
    // Each tenant lists only its own families.
    let listed = globex.user.get("/api/v1/event-families").await;
    let names: Vec<_> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alarms"]);
    // Nobody is let in without a session.
    let anonymous = ApiClient::anonymous(base(&node));
    expect(&anonymous.get("/api/v1/event-families").await, 401);
    expect(
        &anonymous.get(&format!("{}/event-maps", acme.app)).await,
        401,
    );
}
