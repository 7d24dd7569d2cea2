//! Owners' configurations through the admin REST API of a real standalone `kaa-node`: set, read,
//! replace and delete one, bad input refused with the field named and nothing changed, unknown
//! schema versions and applications, and who may read and write. The store side is checked on
//! every backend by `endpoint_store`; the push to an attached SDK endpoint by `owners_events`.

use kaa_tests::api::{ApiClient, Reply, expect, expect_field, new_application};
use kaa_tests::node::NodeBuilder;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "owner-config-1";

async fn put(client: &ApiClient, path: &str, body: Value) -> Reply {
    client.send(Method::PUT, path, Some(body)).await
}

#[tokio::test]
async fn owner_configurations_are_set_replaced_validated_and_deleted() {
    let node = NodeBuilder::standalone_with_admin(PASSWORD).start().await;
    let base = format!("http://{}", node.admin);
    let (developer, app) = new_application(&base, PASSWORD, "homes", "thermostats").await;
    expect(
        &developer
            .post(
                &format!("{app}/schemas/configuration"),
                json!({"name": "settings", "schema": {"type": "record", "name": "Settings",
                       "fields": [{"name": "interval", "type": "int"},
                                  {"name": "mode", "type": "string"}]}}),
            )
            .await,
        201,
    );
    let carol = format!("{app}/owners/carol/configurations");
    let version_1 = format!("{carol}/1");

    // Nothing yet.
    let listed = developer.get(&carol).await;
    expect(&listed, 200);
    assert_eq!(listed.body, json!([]));
    expect(&developer.get(&version_1).await, 404);

    // Set, read.
    let set = put(
        &developer,
        &version_1,
        json!({"body": {"interval": 30, "mode": "eco"}}),
    )
    .await;
    expect(&set, 200);
    assert_eq!(set.body["schema_version"], 1);
    assert_eq!(set.body["body"], json!({"interval": 30, "mode": "eco"}));
    let first_write = set.body["updated_ms"].as_i64().expect("updated_ms");
    assert!(first_write > 0);
    let read = developer.get(&version_1).await;
    expect(&read, 200);
    assert_eq!(read.body, set.body);

    // Replaced, not added.
    let replaced = put(
        &developer,
        &version_1,
        json!({"body": {"interval": 45, "mode": "boost"}}),
    )
    .await;
    expect(&replaced, 200);
    assert!(replaced.body["updated_ms"].as_i64().unwrap() >= first_write);
    let listed = developer.get(&carol).await;
    expect(&listed, 200);
    assert_eq!(listed.body, json!([replaced.body]));

    // Bad input names the field and changes nothing.
    expect_field(
        &put(
            &developer,
            &version_1,
            json!({"body": {"interval": "often", "mode": "eco"}}),
        )
        .await,
        422,
        "body.interval",
    );
    // A missing field is named at its record, as for group configurations.
    let missing = put(&developer, &version_1, json!({"body": {"interval": 5}})).await;
    expect_field(&missing, 422, "body");
    assert!(
        missing.body["message"].as_str().unwrap().contains("`mode`"),
        "{:#}",
        missing.body
    );
    let unknown_field = put(
        &developer,
        &version_1,
        json!({"body": {"interval": 5, "mode": "eco"}, "ttl": 3}),
    )
    .await;
    assert!(
        (400..500).contains(&unknown_field.status),
        "{:#}",
        unknown_field.body
    );
    expect_field(
        &put(
            &developer,
            &format!("{app}/owners/{}/configurations/1", "u".repeat(201)),
            json!({"body": {"interval": 5, "mode": "eco"}}),
        )
        .await,
        422,
        "user",
    );
    let unchanged = developer.get(&version_1).await;
    expect(&unchanged, 200);
    assert_eq!(unchanged.body, replaced.body);

    // Unknown schema version, application; another owner sees none of carol's.
    expect(
        &put(
            &developer,
            &format!("{carol}/7"),
            json!({"body": {"interval": 5, "mode": "eco"}}),
        )
        .await,
        404,
    );
    expect(
        &developer
            .get("/api/v1/applications/no-such-app/owners/carol/configurations")
            .await,
        404,
    );
    let dave = developer
        .get(&format!("{app}/owners/dave/configurations"))
        .await;
    expect(&dave, 200);
    assert_eq!(dave.body, json!([]));

    // Roles as for group configurations: the tenant admin reads but does not write; the Kaa
    // admin and anonymous callers get nothing.
    let boss = ApiClient::login(&base, "boss", PASSWORD).await;
    expect(&boss.get(&version_1).await, 200);
    expect(
        &put(
            &boss,
            &version_1,
            json!({"body": {"interval": 1, "mode": "eco"}}),
        )
        .await,
        403,
    );
    expect(&boss.delete(&version_1).await, 403);
    let admin = ApiClient::login(&base, "admin", PASSWORD).await;
    expect(&admin.get(&carol).await, 403);
    expect(&ApiClient::anonymous(&base).get(&carol).await, 401);

    // Deleted once.
    expect(&developer.delete(&version_1).await, 204);
    expect(&developer.delete(&version_1).await, 404);
    expect(&developer.get(&version_1).await, 404);
    let listed = developer.get(&carol).await;
    expect(&listed, 200);
    assert_eq!(listed.body, json!([]));
}
