//! The admin REST API as operators and scripts use it, against a real `kaa-node`: whole workflows
//! per role on PostgreSQL, MariaDB and SQLite; tenant isolation and role limits; bad input.

use std::time::Duration;

use kaa_tests::api::{ApiClient, expect, id};
use kaa_tests::infra;
use kaa_tests::node::{Node, NodeBuilder};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "admin-secret-1";

/// A standalone node whose metadata lives at `sql_url` (SQLite under its data dir if `None`).
async fn control_node(sql_url: Option<&str>) -> Node {
    let mut builder = NodeBuilder::standalone()
        .env("KAA_ADMIN_USER", "admin")
        .env("KAA_ADMIN_PASSWORD", ADMIN_PASSWORD);
    if let Some(url) = sql_url {
        builder = builder.set("sql.url", url);
    }
    let mut node = builder.spawn().unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(30))
        .await
        .unwrap();
    node
}

fn base(node: &Node) -> String {
    format!("http://{}", node.admin)
}

/// Two tenants, each with an admin, a developer and a user; acme has an application.
struct World {
    admin: ApiClient,
    acme: Tenant,
    globex: Tenant,
}

struct Tenant {
    id: String,
    admin: ApiClient,
    developer: ApiClient,
    user: ApiClient,
    app: String,
}

async fn tenant(node: &Node, admin: &ApiClient, name: &str) -> Tenant {
    let tenant = admin.post("/api/v1/tenants", json!({ "name": name })).await;
    expect(&tenant, 201);
    let tenant_id = id(&tenant);
    let password = format!("{name}-password");
    let created = admin
        .post("/api/v1/users", json!({ "username": format!("{name}-admin"), "password": password, "role": "TENANT_ADMIN", "tenant_id": tenant_id }))
        .await;
    expect(&created, 201);
    let tenant_admin = ApiClient::login(base(node), &format!("{name}-admin"), &password).await;
    for role in ["TENANT_DEVELOPER", "TENANT_USER"] {
        let username = format!("{name}-{}", role.to_lowercase());
        let created = tenant_admin
            .post(
                "/api/v1/users",
                json!({ "username": username, "password": password, "role": role }),
            )
            .await;
        expect(&created, 201);
        assert_eq!(
            created.body["tenant_id"],
            tenant_id.as_str(),
            "users join their admin's tenant"
        );
    }
    let developer =
        ApiClient::login(base(node), &format!("{name}-tenant_developer"), &password).await;
    let user = ApiClient::login(base(node), &format!("{name}-tenant_user"), &password).await;
    let app = tenant_admin
        .post(
            "/api/v1/applications",
            json!({ "name": format!("{name} thermostats") }),
        )
        .await;
    expect(&app, 201);
    Tenant {
        id: tenant_id,
        admin: tenant_admin,
        developer,
        user,
        app: id(&app),
    }
}

async fn world(node: &Node) -> World {
    let admin = ApiClient::login(base(node), "admin", ADMIN_PASSWORD).await;
    let acme = tenant(node, &admin, "acme").await;
    let globex = tenant(node, &admin, "globex").await;
    World {
        admin,
        acme,
        globex,
    }
}

async fn workflow(sql_url: Option<&str>) {
    let node = control_node(sql_url).await;
    let World {
        admin,
        acme,
        globex,
    } = world(&node).await;
    let app = format!("/api/v1/applications/{}", acme.app);

    // The application came with its group all and a token.
    let application = acme.user.get(&app).await;
    expect(&application, 200);
    assert_eq!(application.body["app_token"].as_str().unwrap().len(), 32);
    assert_eq!(application.body["credentials_service"], "trustful");
    let groups = acme.developer.get(&format!("{app}/groups")).await;
    assert_eq!(groups.body["items"][0]["name"], "all");

    // The developer builds; the others cannot.
    let heaters = acme
        .developer
        .post(
            &format!("{app}/groups"),
            json!({ "name": "heaters", "weight": 10, "description": "all heaters" }),
        )
        .await;
    expect(&heaters, 201);
    expect(
        &acme
            .user
            .post(
                &format!("{app}/groups"),
                json!({ "name": "coolers", "weight": 20 }),
            )
            .await,
        403,
    );
    expect(
        &acme
            .admin
            .post(
                &format!("{app}/groups"),
                json!({ "name": "coolers", "weight": 20 }),
            )
            .await,
        403,
    );
    expect(
        &acme
            .developer
            .post(
                &format!("{app}/groups"),
                json!({ "name": "coolers", "weight": 10 }),
            )
            .await,
        409,
    );

    // Schemas: validated on upload, versioned per kind.
    let config_schema = json!({
        "type": "record", "name": "ThermostatConfig", "namespace": "org.example",
        "fields": [
            {"name": "interval", "type": "int", "default": 60},
            {"name": "mode", "type": {"type": "enum", "name": "Mode", "symbols": ["ECO", "COMFORT"]}},
            {"name": "label", "type": ["null", "string"], "default": null}
        ]
    });
    let uploaded = acme
        .developer
        .post(
            &format!("{app}/schemas/configuration"),
            json!({ "name": "thermostat", "schema": config_schema }),
        )
        .await;
    expect(&uploaded, 201);
    assert_eq!(uploaded.body["version"], 1);
    let profile_schema = json!({"type": "record", "name": "Profile", "fields": [{"name": "model", "type": "string"}]});
    expect(
        &acme
            .developer
            .post(
                &format!("{app}/schemas/client_profile"),
                json!({ "name": "profile", "schema": profile_schema }),
            )
            .await,
        201,
    );
    let bad_schema = acme.developer.post(&format!("{app}/schemas/configuration"), json!({ "name": "bad", "schema": {"type": "record", "name": "X", "fields": [{"name": "a", "type": "nosuchtype"}]} })).await;
    expect(&bad_schema, 422);
    assert_eq!(bad_schema.body["field"], "schema.fields[0].type");
    expect(
        &acme
            .user
            .post(
                &format!("{app}/schemas/configuration"),
                json!({ "name": "x", "schema": config_schema }),
            )
            .await,
        403,
    );
    expect(
        &acme.developer.get(&format!("{app}/schemas/nonsense")).await,
        404,
    );
    assert_eq!(
        acme.user
            .get(&format!("{app}/schemas/configuration/1"))
            .await
            .body["schema"]["name"],
        "ThermostatConfig"
    );

    // Configurations: validated against their schema, drafts, activation.
    let all_group = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
    let configurations = format!("{app}/groups/{all_group}/configurations");
    let wrong = acme
        .developer
        .post(
            &configurations,
            json!({ "schema_version": 1, "body": {"interval": "often", "mode": "ECO"} }),
        )
        .await;
    expect(&wrong, 422);
    assert_eq!(wrong.body["field"], "body.interval");
    expect(
        &acme
            .developer
            .post(
                &configurations,
                json!({ "schema_version": 9, "body": {"mode": "ECO"} }),
            )
            .await,
        422,
    );
    let draft = acme
        .developer
        .post(
            &configurations,
            json!({ "schema_version": 1, "body": {"mode": "ECO"} }),
        )
        .await;
    expect(&draft, 201);
    assert_eq!(draft.body["status"], "draft");
    let draft_path = format!("{configurations}/{}", id(&draft));
    expect(
        &acme
            .developer
            .patch(
                &draft_path,
                json!({ "body": {"mode": "COMFORT", "interval": 30} }),
            )
            .await,
        200,
    );
    let active = acme
        .developer
        .post(&format!("{draft_path}/activate"), json!({}))
        .await;
    expect(&active, 200);
    assert_eq!(active.body["status"], "active");
    assert_eq!(active.body["body"]["interval"], 30);
    expect(
        &acme
            .developer
            .patch(&draft_path, json!({ "body": {"mode": "ECO"} }))
            .await,
        422,
    );

    // Profile filters: compiled on upload; the group all takes none.
    let heaters_filters = format!("{app}/groups/{}/profile-filters", id(&heaters));
    let syntax = acme
        .developer
        .post(
            &heaters_filters,
            json!({ "client_profile_version": 1, "body": "cp.model == " }),
        )
        .await;
    expect(&syntax, 422);
    assert_eq!(syntax.body["field"], "body");
    assert!(
        syntax.body["message"].as_str().unwrap().contains("column"),
        "{}",
        syntax.body
    );
    expect(
        &acme
            .developer
            .post(
                &format!("{app}/groups/{all_group}/profile-filters"),
                json!({ "body": "true" }),
            )
            .await,
        422,
    );
    let filter = acme
        .developer
        .post(
            &heaters_filters,
            json!({ "client_profile_version": 1, "body": "cp.model.startsWith(\"HT-\")" }),
        )
        .await;
    expect(&filter, 201);
    expect(
        &acme
            .developer
            .post(
                &format!("{heaters_filters}/{}/activate", id(&filter)),
                json!({}),
            )
            .await,
        200,
    );

    // Topics attached to a group.
    let topic = acme
        .developer
        .post(
            &format!("{app}/topics"),
            json!({ "name": "alerts", "kind": "mandatory" }),
        )
        .await;
    expect(&topic, 201);
    expect(
        &acme
            .developer
            .post(
                &format!("{app}/topics"),
                json!({ "name": "other", "kind": "sometimes" }),
            )
            .await,
        422,
    );
    let attach = format!("{app}/groups/{}/topics/{}", id(&heaters), id(&topic));
    expect(&acme.developer.send(Method::PUT, &attach, None).await, 204);
    let attached = acme
        .user
        .get(&format!("{app}/groups/{}/topics", id(&heaters)))
        .await;
    assert_eq!(attached.body[0]["name"], "alerts");
    expect(&acme.developer.delete(&attach).await, 204);

    // The tenant admin renames the application; every change is in the log, numbered.
    expect(
        &acme
            .admin
            .patch(
                &app,
                json!({ "name": "acme thermostats v2", "credentials_service": "internal" }),
            )
            .await,
        200,
    );
    expect(
        &acme
            .developer
            .delete(&format!("{app}/groups/{}", id(&heaters)))
            .await,
        204,
    );
    let changes = acme.developer.get(&format!("{app}/changes")).await;
    expect(&changes, 200);
    let log: Vec<(i64, String, String)> = changes
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["seq"].as_i64().unwrap(),
                c["entity"].as_str().unwrap().to_owned(),
                c["op"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(i64, String, String)> = [
        (1, "application", "insert"),
        (2, "endpoint_group", "insert"),
        (3, "endpoint_group", "insert"),
        (4, "configuration", "activate"),
        (5, "profile_filter", "activate"),
        (6, "group_topic", "insert"),
        (7, "group_topic", "delete"),
        (8, "application", "update"),
        (9, "endpoint_group", "delete"),
    ]
    .into_iter()
    .map(|(s, e, o)| (s, e.to_owned(), o.to_owned()))
    .collect();
    assert_eq!(log, expected);
    assert_eq!(
        acme.developer
            .get(&format!("{app}/changes?since=7"))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Log appenders: settings checked per type, field by field.
    let appenders = format!("{app}/log-appenders");
    let cassandra = json!({ "name": "cassandra", "type": "cassandra", "confirm_delivery": true,
        "settings": { "table": "thermostat_logs", "columns": [
            { "name": "endpoint", "source": "header.KEYHASH" }, { "name": "temperature", "source": "record.temperature" } ] } });
    let created = acme.developer.post(&appenders, cassandra).await;
    expect(&created, 201);
    assert_eq!(created.body["header_fields"].as_array().unwrap().len(), 5);
    for (settings, field) in [
        (
            json!({ "table": "Bad-Name", "columns": [{ "name": "a", "source": "record" }] }),
            "settings.table",
        ),
        (
            json!({ "table": "t", "columns": [{ "name": "a", "source": "header.NOPE" }] }),
            "settings.columns[0].source",
        ),
        (
            json!({ "table": "t", "columns": [], "extra": 1 }),
            "settings.extra",
        ),
    ] {
        let refused = acme
            .developer
            .post(
                &appenders,
                json!({ "name": "x", "type": "cassandra", "settings": settings }),
            )
            .await;
        expect(&refused, 422);
        assert_eq!(refused.body["field"], field);
    }
    let rest_bad = acme
        .developer
        .post(
            &appenders,
            json!({ "name": "x", "type": "rest", "settings": { "url": "ftp://x" } }),
        )
        .await;
    assert_eq!(rest_bad.body["field"], "settings.url");
    expect(
        &acme
            .developer
            .post(
                &appenders,
                json!({ "name": "x", "type": "carrier-pigeon", "settings": {} }),
            )
            .await,
        422,
    );
    expect(&acme.developer.post(&appenders, json!({ "name": "files", "type": "file", "min_log_version": 1, "max_log_version": 3, "settings": { "path": "acme.log" } })).await, 201);
    expect(
        &acme
            .developer
            .post(
                &appenders,
                json!({ "name": "mongo", "type": "mongodb", "settings": { "collection": "logs" } }),
            )
            .await,
        201,
    );
    expect(&acme.developer.post(&appenders, json!({ "name": "hook", "type": "rest", "settings": { "url": "https://example.org/logs", "retries": 3 } })).await, 201);
    assert_eq!(
        acme.user.get(&appenders).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // User verifiers and an SDK profile pinned to existing versions.
    let verifiers = format!("{app}/user-verifiers");
    let trustful = acme
        .developer
        .post(
            &verifiers,
            json!({ "name": "trustful", "type": "trustful" }),
        )
        .await;
    expect(&trustful, 201);
    let http_bad = acme
        .developer
        .post(
            &verifiers,
            json!({ "name": "h", "type": "http", "settings": { "url": "nope" } }),
        )
        .await;
    assert_eq!(http_bad.body["field"], "settings.url");
    expect(&acme.developer.post(&verifiers, json!({ "name": "h", "type": "http", "settings": { "url": "http://127.0.0.1:9/verify" } })).await, 201);
    let profiles = format!("{app}/sdk-profiles");
    let missing = acme
        .developer
        .post(
            &profiles,
            json!({ "name": "v1", "configuration_version": 7 }),
        )
        .await;
    expect(&missing, 422);
    assert_eq!(missing.body["field"], "configuration_version");
    let sdk = acme.developer.post(&profiles, json!({ "name": "v1", "configuration_version": 1, "client_profile_version": 1, "default_verifier": trustful.body["verifier_token"] })).await;
    expect(&sdk, 201);
    assert_eq!(sdk.body["sdk_token"].as_str().unwrap().len(), 32);
    assert_eq!(
        sdk.body["default_verifier_token"],
        trustful.body["verifier_token"]
    );
    assert_eq!(sdk.body["log_version"], Value::Null);

    // Another tenant sees nothing of it.
    expect(&globex.admin.get(&app).await, 404);
    expect(
        &globex.developer.get(&format!("{app}/log-appenders")).await,
        404,
    );
    expect(
        &globex.developer.get(&format!("{app}/sdk-profiles")).await,
        404,
    );
    expect(&globex.developer.get(&format!("{app}/groups")).await, 404);
    let globex_apps = globex.user.get("/api/v1/applications").await;
    assert_eq!(
        globex_apps.body["items"].as_array().unwrap().len(),
        1,
        "only its own application"
    );

    // Users change their own password and log in with it; logout ends the session.
    let me = acme.user.get("/api/v1/me").await;
    expect(
        &acme
            .user
            .patch(
                &format!("/api/v1/users/{}", id(&me)),
                json!({ "password": "a-new-password", "current_password": "acme-password" }),
            )
            .await,
        200,
    );
    let again = ApiClient::login(base(&node), "acme-tenant_user", "a-new-password").await;
    expect(&again.post("/api/v1/auth/logout", json!({})).await, 204);
    expect(&again.get("/api/v1/me").await, 401);

    // The KAA_ADMIN manages tenants, not their content.
    expect(&admin.get(&app).await, 403);
    let tenants = admin.get("/api/v1/tenants?limit=1").await;
    assert_eq!(tenants.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(tenants.body["next_offset"], 1);
    expect(
        &admin.delete(&format!("/api/v1/tenants/{}", acme.id)).await,
        409,
    );
}

#[tokio::test]
async fn admin_workflow_on_sqlite() {
    workflow(None).await;
}

#[tokio::test]
async fn admin_workflow_on_postgresql() {
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    workflow(Some(&database.url)).await;
    database.drop().await;
}

#[tokio::test]
async fn admin_workflow_on_mariadb() {
    let database = infra::fresh_database(&infra::mariadb(), "mariadb").await;
    workflow(Some(&database.url)).await;
    database.drop().await;
}

#[tokio::test]
async fn no_role_reaches_another_tenant_or_above_its_role() {
    let node = control_node(None).await;
    let World {
        admin,
        acme,
        globex,
    } = world(&node).await;
    let app = format!("/api/v1/applications/{}", acme.app);
    let group_body = json!({ "name": "g", "weight": 5 });
    let app_body = json!({ "name": "new app" });
    let tenant_body = json!({ "name": "new tenant" });
    let admin_user = |tenant: &str| json!({ "username": format!("x-{tenant}"), "password": "password-1", "role": "TENANT_ADMIN", "tenant_id": tenant });
    let kaa_admin_user =
        json!({ "username": "x-root", "password": "password-1", "role": "KAA_ADMIN" });

    // (who, method, path, body, expected status)
    let who: [(&str, &ApiClient); 7] = [
        ("kaa admin", &admin),
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
            "/api/v1/tenants".into(),
            None,
            [200, 403, 403, 403, 403, 403, 403],
        ),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            Some(tenant_body.clone()),
            [201, 403, 403, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{}", acme.id),
            None,
            [200, 200, 200, 200, 404, 404, 404],
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{}", acme.id),
            Some(json!({ "name": "acme" })),
            [200, 403, 403, 403, 403, 403, 403],
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(kaa_admin_user),
            [201, 403, 403, 403, 403, 403, 403],
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(admin_user(&acme.id)),
            [201, 201, 403, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            format!("/api/v1/users?tenant_id={}", acme.id),
            None,
            [200, 200, 403, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            "/api/v1/applications".into(),
            None,
            [403, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/applications".into(),
            Some(app_body),
            [403, 201, 403, 403, 201, 403, 403],
        ),
        (
            Method::GET,
            app.clone(),
            None,
            [403, 200, 200, 200, 404, 404, 404],
        ),
        (
            Method::PATCH,
            app.clone(),
            Some(json!({ "credentials_service": "trustful" })),
            [403, 200, 403, 403, 404, 403, 403],
        ),
        (
            Method::GET,
            format!("{app}/groups"),
            None,
            [403, 200, 200, 200, 404, 404, 404],
        ),
        (
            Method::POST,
            format!("{app}/groups"),
            Some(group_body),
            [403, 403, 201, 403, 403, 404, 403],
        ),
        (
            Method::GET,
            format!("{app}/changes"),
            None,
            [403, 200, 200, 403, 404, 404, 403],
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

    // Users a caller may not manage are invisible.
    let acme_dev = acme.developer.get("/api/v1/me").await;
    expect(
        &globex
            .admin
            .get(&format!("/api/v1/users/{}", id(&acme_dev)))
            .await,
        404,
    );
    expect(
        &acme
            .user
            .get(&format!("/api/v1/users/{}", id(&acme_dev)))
            .await,
        404,
    );
    expect(
        &globex
            .admin
            .delete(&format!("/api/v1/users/{}", id(&acme_dev)))
            .await,
        404,
    );
    expect(
        &acme
            .developer
            .patch(
                &format!("/api/v1/users/{}", id(&acme_dev)),
                json!({ "role": "TENANT_ADMIN" }),
            )
            .await,
        403,
    );
    // Nobody is let in without a session.
    let anonymous = ApiClient::anonymous(base(&node));
    expect(&anonymous.get("/api/v1/applications").await, 401);
    expect(&anonymous.get("/api/v1/tenants").await, 401);
}

#[tokio::test]
async fn bad_input_is_refused_with_a_4xx_naming_the_field_and_writes_nothing_on_sqlite() {
    bad_input(None).await;
}

#[tokio::test]
async fn bad_input_is_refused_with_a_4xx_naming_the_field_and_writes_nothing_on_postgresql() {
    let database = infra::fresh_database(&infra::postgres(), "postgresql").await;
    bad_input(Some(&database.url)).await;
    database.drop().await;
}

#[tokio::test]
async fn bad_input_is_refused_with_a_4xx_naming_the_field_and_writes_nothing_on_mariadb() {
    let database = infra::fresh_database(&infra::mariadb(), "mariadb").await;
    bad_input(Some(&database.url)).await;
    database.drop().await;
}

async fn bad_input(sql_url: Option<&str>) {
    let node = control_node(sql_url).await;
    let admin = ApiClient::login(base(&node), "admin", ADMIN_PASSWORD).await;

    let unknown = admin
        .post("/api/v1/tenants", json!({ "name": "a", "colour": "red" }))
        .await;
    expect(&unknown, 400);
    assert_eq!(unknown.body["field"], "colour");
    assert_eq!(unknown.body["error"], "invalid_body");

    let wrong_type = admin.post("/api/v1/tenants", json!({ "name": 42 })).await;
    expect(&wrong_type, 400);
    assert_eq!(wrong_type.body["field"], "name");

    let empty = admin.post("/api/v1/tenants", json!({ "name": "  " })).await;
    expect(&empty, 422);
    assert_eq!(empty.body["field"], "name");

    let malformed = admin
        .raw(
            Method::POST,
            "/api/v1/tenants",
            "application/json",
            b"{\"name\": ".to_vec(),
        )
        .await;
    expect(&malformed, 400);
    let not_json = admin
        .raw(
            Method::POST,
            "/api/v1/tenants",
            "text/plain",
            b"name=a".to_vec(),
        )
        .await;
    expect(&not_json, 415);
    let huge = admin
        .raw(
            Method::POST,
            "/api/v1/tenants",
            "application/json",
            vec![b' '; 2 << 20],
        )
        .await;
    expect(&huge, 413);

    let bad_page = admin.get("/api/v1/tenants?limit=abc").await;
    expect(&bad_page, 400);
    assert_eq!(bad_page.body["error"], "invalid_query");

    // SQL metacharacters are data.
    let tricky = "o'brien\"; DROP TABLE tenants; --";
    let created = admin
        .post("/api/v1/tenants", json!({ "name": tricky }))
        .await;
    expect(&created, 201);
    assert_eq!(
        admin
            .get(&format!("/api/v1/tenants/{}", id(&created)))
            .await
            .body["name"],
        tricky
    );

    // A refused user leaves nothing behind.
    let tenant = id(&admin
        .post("/api/v1/tenants", json!({ "name": "acme" }))
        .await);
    let before = admin
        .get(&format!("/api/v1/users?tenant_id={tenant}"))
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();
    let short = admin.post("/api/v1/users", json!({ "username": "x", "password": "short", "role": "TENANT_ADMIN", "tenant_id": tenant })).await;
    expect(&short, 422);
    assert_eq!(short.body["field"], "password");
    let bad_role = admin.post("/api/v1/users", json!({ "username": "x", "password": "long-enough", "role": "ROOT", "tenant_id": tenant })).await;
    expect(&bad_role, 400);
    assert_eq!(bad_role.body["field"], "role");
    let no_tenant = admin.post("/api/v1/users", json!({ "username": "x", "password": "long-enough", "role": "TENANT_ADMIN", "tenant_id": "nope" })).await;
    expect(&no_tenant, 422);
    assert_eq!(no_tenant.body["field"], "tenant_id");
    let after = admin
        .get(&format!("/api/v1/users?tenant_id={tenant}"))
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);

    // Unknown ids are 404 with the JSON error shape; the API never answers 5xx here.
    let missing = admin.get("/api/v1/tenants/does-not-exist").await;
    expect(&missing, 404);
    assert_eq!(missing.body["error"], "not_found");
}

#[tokio::test]
async fn openapi_document_lists_every_served_route() {
    let node = control_node(None).await;
    let doc = ApiClient::anonymous(base(&node))
        .get("/api/v1/openapi.json")
        .await;
    expect(&doc, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/auth/login", vec!["post"]),
        ("/api/v1/tenants", vec!["get", "post"]),
        ("/api/v1/tenants/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/users", vec!["get", "post"]),
        (
            "/api/v1/applications/{id}/groups/{group}",
            vec!["get", "delete"],
        ),
        ("/api/v1/applications/{id}/changes", vec!["get"]),
    ] {
        for method in methods {
            assert!(
                paths[path].get(method).is_some(),
                "{method} {path} missing from the OpenAPI document"
            );
        }
    }
    // Every documented operation is served: it answers with the API's JSON (an auth or input
    // error here), never with the unrouted fallback.
    let anonymous = ApiClient::anonymous(base(&node));
    for (path, operations) in paths {
        let concrete = path.replace("{id}", "x").replace("{group}", "y");
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let reply = anonymous.send(method.clone(), &concrete, body).await;
            let served = reply.status == 200
                || (reply.body.get("error").is_some() && reply.body["error"] != "no_route");
            assert!(
                served,
                "{method} {path} is not served: {} {:?}",
                reply.status, reply.body
            );
        }
    }
    let unrouted = anonymous.get("/api/v1/nothing-here").await;
    expect(&unrouted, 404);
    assert_eq!(unrouted.body["error"], "no_route");
}

#[tokio::test]
async fn a_method_not_served_on_an_api_path_is_405_with_allow() {
    let node = control_node(None).await;
    let admin = ApiClient::login(base(&node), "admin", ADMIN_PASSWORD).await;
    let tenant = id(&admin
        .post("/api/v1/tenants", json!({ "name": "acme" }))
        .await);
    let http = reqwest::Client::new();
    for (method, path, allow) in [
        (
            Method::PUT,
            format!("/api/v1/tenants/{tenant}"),
            "GET, PATCH, DELETE",
        ),
        (Method::DELETE, "/api/v1/tenants".to_owned(), "GET, POST"),
        (Method::POST, "/api/v1/me".to_owned(), "GET"),
        (Method::GET, "/api/v1/auth/login".to_owned(), "POST"),
        (Method::PATCH, "/api/v1/openapi.json".to_owned(), "GET"),
        (
            Method::PUT,
            "/api/v1/applications/x/groups/y".to_owned(),
            "GET, DELETE",
        ),
        (
            Method::OPTIONS,
            "/api/v1/applications/x/profile-filters/test".to_owned(),
            "POST",
        ),
    ] {
        // With a session or without: the method is wrong either way, and nothing is done.
        for token in [admin.token(), None] {
            let mut request = http.request(method.clone(), format!("{}{path}", base(&node)));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_eq!(
                response.headers()["allow"].to_str().unwrap(),
                allow,
                "{method} {path}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "method_not_allowed", "{method} {path}");
            assert!(body["message"].as_str().unwrap().contains(allow), "{body}");
        }
    }
    // The tenant is still there; served methods and unknown paths answer as before.
    expect(&admin.get(&format!("/api/v1/tenants/{tenant}")).await, 200);
    let unrouted = admin
        .send(Method::PUT, "/api/v1/nothing-here", Some(json!({})))
        .await;
    expect(&unrouted, 404);
    assert_eq!(unrouted.body["error"], "no_route");
}

#[tokio::test]
async fn nested_structs_sent_as_arrays_are_refused_naming_the_field() {
    let node = control_node(None).await;
    let world = world(&node).await;
    let developer = &world.acme.developer;
    let app = format!("/api/v1/applications/{}", world.acme.app);

    // A cassandra column as `[name, source]` instead of `{name, source}`; serde alone would read
    // it, in field order.
    let appenders = format!("{app}/log-appenders");
    for (columns, field) in [
        (json!([["event_id", "record"]]), "settings.columns[0]"),
        (
            json!([{ "name": "event_id", "source": "record" }, ["ts", "header.TIMESTAMP"]]),
            "settings.columns[1]",
        ),
    ] {
        let refused = developer
            .post(
                &appenders,
                json!({ "name": "events", "type": "cassandra",
                    "settings": { "table": "events", "columns": columns } }),
            )
            .await;
        expect(&refused, 422);
        assert_eq!(refused.body["error"], "invalid");
        assert_eq!(refused.body["field"], field);
        assert!(
            refused.body["message"]
                .as_str()
                .unwrap()
                .contains("expected a JSON object"),
            "{}",
            refused.body
        );
    }
    assert_eq!(
        developer.get(&appenders).await.body["items"],
        json!([]),
        "nothing was stored"
    );
    let accepted = developer
        .post(
            &appenders,
            json!({ "name": "events", "type": "cassandra",
                "settings": { "table": "events", "columns": [{ "name": "event_id", "source": "record" }] } }),
        )
        .await;
    expect(&accepted, 201);

    // An event class as `[schema, kind]` instead of `{schema, kind}`.
    let family = developer
        .post(
            "/api/v1/event-families",
            json!({ "name": "thermo", "namespace": "org.acme", "class_name": "Thermo" }),
        )
        .await;
    expect(&family, 201);
    let versions = format!("/api/v1/event-families/{}/versions", id(&family));
    let ping = json!({ "type": "record", "name": "Ping", "namespace": "org.acme",
        "fields": [{ "name": "value", "type": "int" }] });
    for classes in [
        json!([[ping, "event"]]),
        json!([{ "schema": ping, "kind": "event" }, [ping, "object"]]),
    ] {
        let refused = developer
            .post(&versions, json!({ "classes": classes.clone() }))
            .await;
        expect(&refused, 400);
        assert_eq!(refused.body["error"], "invalid_body");
        let at = classes.as_array().unwrap().len() - 1;
        assert_eq!(refused.body["field"], format!("classes[{at}]"));
    }
    assert_eq!(developer.get(&versions).await.body["items"], json!([]));
    let accepted = developer
        .post(
            &versions,
            json!({ "classes": [{ "schema": ping, "kind": "event" }] }),
        )
        .await;
    expect(&accepted, 201);
}
