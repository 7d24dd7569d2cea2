//! A small client of the admin REST API for tests: log in as someone, then send JSON and get the
//! status and the JSON body back.

use reqwest::Method;
use serde_json::Value;

/// A logged-in (or anonymous) admin API client.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// A response: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

/// Asserts that `reply` has `status`, showing its body otherwise.
#[track_caller]
pub fn expect(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{:#}", reply.body);
}

/// Asserts that `reply` has `status` and its JSON error names `field`.
#[track_caller]
pub fn expect_field(reply: &Reply, status: u16, field: &str) {
    assert_eq!(
        (reply.status, reply.body["field"].as_str()),
        (status, Some(field)),
        "{:#}",
        reply.body
    );
}

/// The `id` of the resource `reply` describes.
#[track_caller]
pub fn id(reply: &Reply) -> String {
    reply.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {reply:?}"))
        .to_owned()
}

impl ApiClient {
    /// An anonymous client of the node at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn anonymous(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            token: None,
            // Idle connections are dropped before the server's keep-alive (5 s) can close them
            // under a request sent on them (which fails as an incomplete message).
            http: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("HTTP client"),
        }
    }

    /// Logs in; panics if the login fails.
    pub async fn login(base: impl Into<String>, username: &str, password: &str) -> Self {
        let mut client = Self::anonymous(base);
        let reply = client
            .post(
                "/api/v1/auth/login",
                serde_json::json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(reply.status, 200, "login as {username}: {:?}", reply.body);
        client.token = Some(reply.body["token"].as_str().expect("token").to_owned());
        client
    }

    /// The session's bearer token; `None` for an anonymous client.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Sends `method path` with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin API answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("admin API answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

/// A tenant `tenant` with an admin `boss` and a developer `dev` (all with `password`), and an
/// application `app` the admin created, on the node at `base` whose first admin is `admin` with
/// `password`. Returns the developer's client and the application's path
/// (`/api/v1/applications/<id>`).
pub async fn new_application(
    base: &str,
    password: &str,
    tenant: &str,
    app: &str,
) -> (ApiClient, String) {
    let created = |reply: &Reply, what: &str| -> String {
        assert_eq!(reply.status, 201, "create {what}: {:#}", reply.body);
        reply.body["id"].as_str().unwrap_or_default().to_owned()
    };
    let admin = ApiClient::login(base, "admin", password).await;
    let tenant_id = created(
        &admin
            .post("/api/v1/tenants", serde_json::json!({ "name": tenant }))
            .await,
        "tenant",
    );
    created(
        &admin
            .post(
                "/api/v1/users",
                serde_json::json!({ "username": "boss", "password": password, "role": "TENANT_ADMIN", "tenant_id": tenant_id }),
            )
            .await,
        "tenant admin",
    );
    let boss = ApiClient::login(base, "boss", password).await;
    created(
        &boss
            .post(
                "/api/v1/users",
                serde_json::json!({ "username": "dev", "password": password, "role": "TENANT_DEVELOPER" }),
            )
            .await,
        "developer",
    );
    let app_id = created(
        &boss
            .post("/api/v1/applications", serde_json::json!({ "name": app }))
            .await,
        "application",
    );
    (
        ApiClient::login(base, "dev", password).await,
        format!("/api/v1/applications/{app_id}"),
    )
}

/// Creates a mandatory topic `name` in the application at `app` (its API path) and attaches it
/// to group `group`; returns the topic's id.
pub async fn mandatory_topic(developer: &ApiClient, app: &str, group: &str, name: &str) -> String {
    let topic = developer
        .post(
            &format!("{app}/topics"),
            serde_json::json!({ "name": name, "kind": "mandatory" }),
        )
        .await;
    expect(&topic, 201);
    let topic_id = id(&topic);
    expect(
        &developer
            .send(
                Method::PUT,
                &format!("{app}/groups/{group}/topics/{topic_id}"),
                None,
            )
            .await,
        204,
    );
    topic_id
}
