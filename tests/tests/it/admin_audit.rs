//! Login protection and the audit log of the admin API, on real standalone nodes: repeated failed
//! logins lock out a user name (from any address) and an address (whatever the names) with 429
//! `too_many_attempts` and `Retry-After`, and both recover once it has passed; an unknown user
//! name is refused exactly as a wrong password is; changing one's password needs the current one
//! and ends one's other sessions (an administrator's reset ends them all); and `GET
//! /api/v1/audit` shows logins, failed logins, logouts and changes, every entry to a KAA_ADMIN
//! and its own tenant's to a TENANT_ADMIN, nothing to the other roles.
//!
//! Clients send from different 127.x addresses (a socket bound before it connects), which is how
//! the node tells "addresses" apart here.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use kaa_tests::api::{ApiClient, expect, expect_field, id};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "admin-secret-1";
const PASSWORD: &str = "tenant-secret-1";

fn base(node: &Node) -> String {
    format!("http://{}", node.admin)
}

/// The answer to one login attempt.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

/// Logs in as `username` with `password` from the address 127.0.0.`from`.
async fn login_from(node: &Node, from: u8, username: &str, password: &str) -> Answer {
    let http = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, from)))
        .build()
        .unwrap();
    let response = http
        .post(format!("{}/api/v1/auth/login", base(node)))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("the admin API answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

/// Asserts a 429 `too_many_attempts` with a `Retry-After` of 1 to `at_most` seconds; returns it.
#[track_caller]
fn locked_out(answer: &Answer, at_most: u64) -> u64 {
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (429, Some("too_many_attempts")),
        "{answer:?}"
    );
    let seconds = answer.retry_after.expect("Retry-After");
    assert!((1..=at_most).contains(&seconds), "{answer:?}");
    seconds
}

/// A tenant `name` with a TENANT_ADMIN `<name>-boss`, created by `admin`; returns the tenant's
/// id and the TENANT_ADMIN's client.
async fn tenant(node: &Node, admin: &ApiClient, name: &str) -> (String, ApiClient) {
    let tenant = admin.post("/api/v1/tenants", json!({ "name": name })).await;
    expect(&tenant, 201);
    let tenant_id = id(&tenant);
    let boss = format!("{name}-boss");
    let created = admin
        .post("/api/v1/users", json!({ "username": boss, "password": PASSWORD, "role": "TENANT_ADMIN", "tenant_id": tenant_id }))
        .await;
    expect(&created, 201);
    (
        tenant_id,
        ApiClient::login(base(node), &boss, PASSWORD).await,
    )
}

#[tokio::test]
async fn repeated_failed_logins_lock_out_the_user_name_and_the_address_until_retry_after() {
    let node = NodeBuilder::standalone_with_admin(ADMIN_PASSWORD)
        .set("control.login_max_failures_per_user", 3)
        .set("control.login_max_failures_per_address", 5)
        .set("control.login_lockout", "2s")
        .set("control.login_lockout_max", "4s")
        .start()
        .await;
    let admin = ApiClient::login(base(&node), "admin", ADMIN_PASSWORD).await;
    let created = admin
        .post(
            "/api/v1/users",
            json!({ "username": "second", "password": PASSWORD, "role": "KAA_ADMIN" }),
        )
        .await;
    expect(&created, 201);

    // A name that is no user's is refused exactly as a wrong password is.
    let unknown = login_from(&node, 2, "nobody", "wrong-password").await;
    let wrong = login_from(&node, 3, "admin", "wrong-password").await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(wrong.body["error"], "wrong_credentials");

    // Per user name: its third failure, each from another address, locks it out everywhere,
    // even with the right password; other names are not affected.
    for from in [4, 5] {
        expect_status(
            &login_from(&node, from, "admin", "wrong-password").await,
            401,
        );
    }
    let user_wait = locked_out(&login_from(&node, 6, "admin", ADMIN_PASSWORD).await, 2);
    locked_out(&login_from(&node, 7, "admin", ADMIN_PASSWORD).await, 2);
    expect_status(&login_from(&node, 6, "second", PASSWORD).await, 200);

    // Per address: its fifth failure, whatever the names, locks it out for every name.
    for name in ["n1", "n2", "n3", "n4", "n5"] {
        expect_status(&login_from(&node, 9, name, "wrong-password").await, 401);
    }
    let address_wait = locked_out(&login_from(&node, 9, "second", PASSWORD).await, 2);
    expect_status(&login_from(&node, 10, "second", PASSWORD).await, 200);

    assert!(
        node.metric(r#"kaa_admin_login_lockouts_total{scope="user"}"#)
            .await
            >= 1.0
    );
    assert!(
        node.metric(r#"kaa_admin_login_lockouts_total{scope="address"}"#)
            .await
            >= 1.0
    );
    assert!(
        node.metric(r#"kaa_admin_login_attempts_total{outcome="locked_out"}"#)
            .await
            >= 3.0
    );

    // Both recover once Retry-After has passed.
    tokio::time::sleep(Duration::from_secs(user_wait.max(address_wait))).await;
    expect_status(&login_from(&node, 6, "admin", ADMIN_PASSWORD).await, 200);
    expect_status(&login_from(&node, 9, "second", PASSWORD).await, 200);
    println!(
        "login lockout: user name locked for {user_wait} s, address for {address_wait} s, both \
         recovered after"
    );
}

#[track_caller]
fn expect_status(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{answer:?}");
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_ends_the_other_sessions() {
    let node = NodeBuilder::standalone_with_admin(ADMIN_PASSWORD)
        .start()
        .await;
    let admin = ApiClient::login(base(&node), "admin", ADMIN_PASSWORD).await;
    let (_, boss) = tenant(&node, &admin, "acme").await;
    let created = boss
        .post(
            "/api/v1/users",
            json!({ "username": "dev", "password": PASSWORD, "role": "TENANT_DEVELOPER" }),
        )
        .await;
    expect(&created, 201);
    let dev_path = format!("/api/v1/users/{}", id(&created));
    let here = ApiClient::login(base(&node), "dev", PASSWORD).await;
    let elsewhere = ApiClient::login(base(&node), "dev", PASSWORD).await;

    let change = |current: Option<&str>| {
        let mut body = json!({ "password": "a-new-password" });
        if let Some(current) = current {
            body["current_password"] = json!(current);
        }
        body
    };
    expect_field(
        &here.patch(&dev_path, change(None)).await,
        422,
        "current_password",
    );
    let wrong = here.patch(&dev_path, change(Some("not-my-password"))).await;
    expect_field(&wrong, 403, "current_password");
    assert_eq!(wrong.body["error"], "wrong_credentials");
    expect(&elsewhere.get("/api/v1/me").await, 200);

    expect(&here.patch(&dev_path, change(Some(PASSWORD))).await, 200);
    expect(&here.get("/api/v1/me").await, 200);
    expect(&elsewhere.get("/api/v1/me").await, 401);
    expect_status(&login_from(&node, 1, "dev", PASSWORD).await, 401);
    let again = ApiClient::login(base(&node), "dev", "a-new-password").await;

    // An administrator's reset needs no current password and ends every session of the user.
    expect(
        &boss
            .patch(&dev_path, json!({ "password": "reset-by-boss" }))
            .await,
        200,
    );
    expect(&here.get("/api/v1/me").await, 401);
    expect(&again.get("/api/v1/me").await, 401);
    expect(&boss.get("/api/v1/me").await, 200);
    ApiClient::login(base(&node), "dev", "reset-by-boss").await;
}

/// The entries of an audit page.
fn entries(reply: &kaa_tests::api::Reply) -> Vec<Value> {
    expect(reply, 200);
    reply.body["items"].as_array().unwrap().clone()
}

fn has(entries: &[Value], action: &str, username: &str) -> bool {
    entries
        .iter()
        .any(|e| e["action"] == action && e["username"] == username)
}

#[tokio::test]
async fn the_audit_log_shows_logins_failures_and_changes_to_each_admin_within_its_scope() {
    let node = NodeBuilder::standalone_with_admin(ADMIN_PASSWORD)
        .start()
        .await;
    let admin = ApiClient::login(base(&node), "admin", ADMIN_PASSWORD).await;
    let (acme, acme_boss) = tenant(&node, &admin, "acme").await;
    let (globex, globex_boss) = tenant(&node, &admin, "globex").await;

    expect_status(
        &login_from(&node, 1, "acme-boss", "wrong-password").await,
        401,
    );
    expect_status(&login_from(&node, 1, "nobody", "wrong-password").await, 401);
    let app = acme_boss
        .post("/api/v1/applications", json!({ "name": "thermostats" }))
        .await;
    expect(&app, 201);
    let app_id = id(&app);
    for (boss, username, role) in [
        (&acme_boss, "acme-user", "TENANT_USER"),
        (&globex_boss, "globex-dev", "TENANT_DEVELOPER"),
    ] {
        let created = boss
            .post(
                "/api/v1/users",
                json!({ "username": username, "password": PASSWORD, "role": role }),
            )
            .await;
        expect(&created, 201);
    }
    expect(&acme_boss.post("/api/v1/auth/logout", json!({})).await, 204);
    let acme_boss = ApiClient::login(base(&node), "acme-boss", PASSWORD).await;

    // A KAA_ADMIN sees everything, newest first.
    let all = entries(&admin.get("/api/v1/audit?limit=500").await);
    let times: Vec<i64> = all.iter().map(|e| e["at_ms"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(has(&all, "login", "admin"));
    assert!(has(&all, "login_failed", "acme-boss"));
    assert!(has(&all, "logout", "acme-boss"));
    assert!(has(&all, "login", "globex-boss"));
    let tenant_created = all
        .iter()
        .find(|e| {
            e["action"] == "change" && e["path"] == "/api/v1/tenants" && e["entity_id"] == acme
        })
        .expect("the tenant's creation, naming it");
    assert_eq!(tenant_created["username"], "admin");
    assert_eq!(tenant_created["role"], "KAA_ADMIN");
    assert_eq!(tenant_created["tenant_id"], Value::Null);
    assert_eq!(tenant_created["method"], "POST");
    assert_eq!(tenant_created["status"], 201);
    assert_eq!(tenant_created["address"], "127.0.0.1");
    // A failed login naming no user is recorded without the name.
    let unknown = all
        .iter()
        .find(|e| e["action"] == "login_failed" && e["user_id"].is_null())
        .expect("the failed login of an unknown name");
    assert_eq!(unknown["username"], Value::Null);
    assert_eq!(unknown["address"], "127.0.0.1");
    assert_eq!(unknown["status"], 401);
    // Reads are not recorded, and no entry carries a password or a token.
    assert!(all.iter().all(|e| e["method"] != "GET"));
    let text = serde_json::to_string(&all).unwrap();
    for secret in [
        ADMIN_PASSWORD,
        PASSWORD,
        "wrong-password",
        admin.token().unwrap(),
    ] {
        assert!(!text.contains(secret), "an audit entry holds {secret:?}");
    }

    // A TENANT_ADMIN sees its tenant's entries only.
    let own = entries(&acme_boss.get("/api/v1/audit?limit=500").await);
    assert!(
        own.iter().all(|e| e["tenant_id"] == acme.as_str()),
        "{own:#?}"
    );
    assert!(has(&own, "login_failed", "acme-boss"));
    assert!(has(&own, "logout", "acme-boss"));
    let app_created = own
        .iter()
        .find(|e| e["path"] == "/api/v1/applications" && e["method"] == "POST")
        .expect("the application's creation");
    assert_eq!(
        (
            app_created["entity_id"].as_str(),
            app_created["status"].as_i64()
        ),
        (Some(app_id.as_str()), Some(201))
    );
    let theirs = entries(&globex_boss.get("/api/v1/audit").await);
    assert!(!theirs.is_empty());
    assert!(theirs.iter().all(|e| e["tenant_id"] == globex.as_str()));
    expect(
        &acme_boss
            .get(&format!("/api/v1/audit?tenant_id={globex}"))
            .await,
        403,
    );

    // Filters and pages.
    let failed = entries(&admin.get("/api/v1/audit?action=login_failed").await);
    assert_eq!(failed.len(), 2, "{failed:#?}");
    let of_globex = entries(
        &admin
            .get(&format!("/api/v1/audit?tenant_id={globex}"))
            .await,
    );
    assert_eq!(of_globex, theirs);
    let page = admin.get("/api/v1/audit?limit=2").await;
    assert_eq!(entries(&page).len(), 2);
    assert_eq!(page.body["next_offset"], 2);

    // The other roles may not read it; nobody without a session.
    let user = ApiClient::login(base(&node), "acme-user", PASSWORD).await;
    expect(&user.get("/api/v1/audit").await, 403);
    expect(
        &ApiClient::anonymous(base(&node)).get("/api/v1/audit").await,
        401,
    );
    println!(
        "audit log: {} entries after the scenario, {} of them acme's",
        all.len(),
        own.len()
    );
}
