//! Secrets stay with those who need them: a TENANT_USER reads an application's appenders,
//! verifiers and endpoints without their credentials and access tokens (a TENANT_DEVELOPER sees
//! them), `check-config` and a failing node's log hide passwords, and the data dir is the node
//! user's alone.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use kaa_tests::api::{ApiClient, Reply};
use kaa_tests::node::{NodeBuilder, binary};
use serde_json::{Value, json};

use crate::endpoint_path::{PASSWORD, application, configuration_event, standalone};
use crate::support;

const MONGO_URL: &str = "mongodb://logs:mongo-pass-1@logs.invalid:27017/?authSource=admin";
const REST_URL: &str = "https://bot:rest-pass-2@ingest.invalid/in?tenant=acme&api_key=rest-key-3";
const VERIFIER_URL: &str = "https://verify.invalid/check?token=verifier-token-4";
const ACCESS_TOKEN: &str = "endpoint-token-5";
const SECRETS: [&str; 5] = [
    "mongo-pass-1",
    "rest-pass-2",
    "rest-key-3",
    "verifier-token-4",
    ACCESS_TOKEN,
];

#[track_caller]
fn ok(reply: Reply) -> Value {
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    reply.body
}

#[track_caller]
fn created(reply: Reply) {
    assert_eq!(reply.status, 201, "{:#}", reply.body);
}

/// What `client` reads of the application at `app`: its appenders, verifiers and endpoints.
async fn read_all(client: &ApiClient, app: &str) -> Vec<Value> {
    let appenders = ok(client.get(&format!("{app}/log-appenders")).await);
    let first = appenders["items"][0]["id"].as_str().unwrap().to_owned();
    let endpoints = ok(client.get(&format!("{app}/endpoints")).await);
    let key = endpoints["items"][0]["endpoint_key_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    vec![
        ok(client.get(&format!("{app}/log-appenders/{first}")).await),
        appenders,
        ok(client.get(&format!("{app}/user-verifiers")).await),
        ok(client.get(&format!("{app}/endpoints/{key}")).await),
        endpoints,
    ]
}

fn setting<'a>(page: &'a Value, name: &str, key: &str) -> &'a Value {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == name)
        .map(|item| &item["settings"][key])
        .unwrap_or_else(|| panic!("no {name} in {page:#}"))
}

#[tokio::test]
async fn a_tenant_user_sees_no_credentials_or_access_tokens_while_a_developer_does() {
    let node = standalone().await;
    let mode = std::fs::metadata(node.data_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "data dir mode {mode:o}");

    let (developer, app) = application(&node).await;
    let base = format!("http://{}", node.admin);
    let boss = ApiClient::login(&base, "boss", PASSWORD).await;
    created(
        boss.post(
            "/api/v1/users",
            json!({ "username": "watcher", "password": PASSWORD, "role": "TENANT_USER" }),
        )
        .await,
    );
    let watcher = ApiClient::login(&base, "watcher", PASSWORD).await;
    let appenders = format!("{}/log-appenders", app.path);
    created(
        developer
            .post(
                &appenders,
                json!({ "name": "archive", "type": "mongodb",
                        "settings": { "collection": "logs", "url": MONGO_URL } }),
            )
            .await,
    );
    created(
        developer
            .post(
                &appenders,
                json!({ "name": "ingest", "type": "rest", "settings": { "url": REST_URL } }),
            )
            .await,
    );
    created(
        developer
            .post(
                &format!("{}/user-verifiers", app.path),
                json!({ "name": "accounts", "type": "http", "settings": { "url": VERIFIER_URL } }),
            )
            .await,
    );

    // An endpoint with an access token registers and gets its configuration.
    let state = tempfile::tempdir().unwrap();
    let mut client = kaa_sdk::client::KaaClient::start(support::endpoint_config(
        &[&node],
        &app.sdk_token,
        ACCESS_TOKEN,
        state.path(),
    ))
    .unwrap();
    support::wait_event(
        &mut client,
        Duration::from_secs(30),
        "the endpoint's first configuration",
        configuration_event,
    )
    .await;

    let seen = read_all(&developer, &app.path).await;
    let text = serde_json::to_string(&seen).unwrap();
    for secret in SECRETS {
        assert!(
            text.contains(secret),
            "a developer must see {secret}: {text}"
        );
    }
    assert_eq!(setting(&seen[1], "archive", "url"), MONGO_URL);
    assert_eq!(seen[3]["access_token"], ACCESS_TOKEN);

    let seen = read_all(&watcher, &app.path).await;
    let text = serde_json::to_string(&seen).unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "a TENANT_USER saw {secret}: {text}");
    }
    // What is not secret stays readable.
    assert_eq!(
        setting(&seen[1], "archive", "url"),
        "mongodb://logs:***@logs.invalid:27017/?authSource=admin"
    );
    assert_eq!(
        setting(&seen[1], "ingest", "url"),
        "https://bot:***@ingest.invalid/in?tenant=acme&api_key=***"
    );
    assert_eq!(setting(&seen[1], "archive", "collection"), "logs");
    assert_eq!(
        setting(&seen[2], "accounts", "url"),
        "https://verify.invalid/check?token=***"
    );
    assert_eq!(seen[3]["access_token"], "***");
    assert_eq!(seen[4]["items"][0]["access_token"], "***");
    client.stop().await;
}

#[test]
fn check_config_prints_no_passwords() {
    let output = Command::new(binary())
        .args(["check-config", "--standalone"])
        .args(["--set", "sql.url=postgres://kaa:sql-pass-6@db.invalid:5432/kaa"])
        .args(["--set", "endpoint_store.backend=mongodb"])
        .args([
            "--set",
            "endpoint_store.url=mongodb://kaa:mongo-pass-7@m1.invalid,m2.invalid/kaa?authSource=admin",
        ])
        .args(["--set", "zookeeper.auth=kaa:zk-pass-8"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in ["sql-pass-6", "mongo-pass-7", "zk-pass-8"] {
        assert!(
            !printed.contains(secret),
            "check-config printed {secret}: {printed}"
        );
    }
    for shown in [
        r#"url = "postgres://kaa:***@db.invalid:5432/kaa""#,
        r#"url = "mongodb://kaa:***@m1.invalid,m2.invalid/kaa?authSource=admin""#,
        r#"auth = "***""#,
    ] {
        assert!(
            printed.contains(shown),
            "check-config lacks {shown}: {printed}"
        );
    }
}

#[tokio::test]
async fn a_node_that_cannot_reach_its_database_does_not_log_the_password() {
    let mut node = NodeBuilder::standalone()
        .set("sql.url", "postgres://kaa:sql-pass-9@127.0.0.1:1/kaa")
        .set("node.startup_timeout", "2s")
        .spawn()
        .unwrap();
    let exit = node.wait_exit(Duration::from_secs(60)).await.unwrap();
    let log = node.log();
    assert!(!exit.success(), "{log}");
    assert!(log.contains("sql.url"), "the failure names the key: {log}");
    assert!(
        !log.contains("sql-pass-9"),
        "the log shows the password: {log}"
    );
}
