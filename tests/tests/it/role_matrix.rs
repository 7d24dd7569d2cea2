//! The role matrix of the admin API: every operation `GET /api/v1/openapi.json` lists, called by
//! each role of two tenants (TENANT_ADMIN, TENANT_DEVELOPER, TENANT_USER), by a KAA_ADMIN and by
//! an anonymous caller, with path ids of records of the caller's own tenant and of the other one,
//! against one real `kaa-node` whose two tenants hold one record of every kind.
//!
//! What each call must answer is the role table of `docs/admin-api.md` ("Who may do what"),
//! written below as data, one row per operation ([`table`]): 401 without a session (the public
//! operations apart), 403 for a role without the right, 404 for another tenant's records (a role
//! is checked before the tenant, so a role without the right is 403 there too), and for an
//! allowed call none of these: a 2xx, or a 4xx about the body (400, 409, 422). An operation of
//! the document without a row fails the test, and so does a row without an operation, so a new
//! route cannot go unchecked and a removed one cannot linger. Deletions run last, children before
//! parents, each caller of a tenant before its developer (who may delete); users are deleted from
//! fresh ones and sessions ended from fresh logins. The test prints the matrix it checked.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kaa_model::Role;
use kaa_sdk::client::{Event, KaaClient};
use kaa_sdk::keys::EndpointKeys;
use kaa_tests::api::{ApiClient, expect, id};
use kaa_tests::node::{Node, NodeBuilder};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{endpoint_config, wait_event};

const ADMIN_PASSWORD: &str = "role-matrix-1";

const KAA_ADMIN: &[Role] = &[Role::KaaAdmin];
const ADMINS: &[Role] = &[Role::KaaAdmin, Role::TenantAdmin];
const TENANT_ADMIN: &[Role] = &[Role::TenantAdmin];
const TENANT_ROLES: &[Role] = &[Role::TenantAdmin, Role::TenantDeveloper, Role::TenantUser];
const ADMIN_OR_DEVELOPER: &[Role] = &[Role::TenantAdmin, Role::TenantDeveloper];
const DEVELOPER: &[Role] = &[Role::TenantDeveloper];

/// Who may call an operation, as the role table says.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// No session needed.
    Public,
    /// Any signed-in user.
    SignedIn,
    /// These roles, whatever the path names; 403 for the others.
    Roles(&'static [Role]),
    /// Records of a tenant: these roles (403 for the others); another tenant's records are 404.
    InTenant(&'static [Role]),
    /// A tenant itself: a KAA_ADMIN reads any, the others their own (another is 404).
    OwnTenant,
    /// A user: a KAA_ADMIN manages KAA_ADMINs and TENANT_ADMINs, a TENANT_ADMIN its tenant's
    /// users, and everyone reaches itself (403 when `itself` is false: nobody deletes itself);
    /// users one does not manage are 404.
    User { itself: bool },
}

/// What a call answered, as the role table tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Let through: a 2xx, or a 4xx about the body (400, 409, 422).
    Allowed,
    /// 401.
    Unauthenticated,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
}

impl Outcome {
    /// The outcome of a status; `None` for one no rule expects (5xx, 405, …).
    fn of(status: u16) -> Option<Self> {
        match status {
            200..=299 | 400 | 409 | 422 => Some(Self::Allowed),
            401 => Some(Self::Unauthenticated),
            403 => Some(Self::Forbidden),
            404 => Some(Self::NotFound),
            _ => None,
        }
    }
}

/// Whose records the ids of a call's path name, seen from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The path names no record.
    NoIds,
    /// Records of the caller's tenant (a KAA_ADMIN's and an anonymous caller's: the first).
    Own,
    /// Records of the other tenant.
    Other,
    /// The caller itself (`/users/{id}`).
    Itself,
}

impl Rule {
    /// What `role` (`None`: anonymous) must get calling with path ids of `scope`.
    fn expected(self, role: Option<Role>, scope: Scope) -> Outcome {
        use Outcome::*;
        let Some(role) = role else {
            return match self {
                Rule::Public => Allowed,
                _ => Unauthenticated,
            };
        };
        match self {
            Rule::Public | Rule::SignedIn => Allowed,
            Rule::Roles(roles) if roles.contains(&role) => Allowed,
            Rule::Roles(_) => Forbidden,
            Rule::InTenant(roles) if !roles.contains(&role) => Forbidden,
            Rule::InTenant(_) if scope == Scope::Other => NotFound,
            Rule::InTenant(_) => Allowed,
            Rule::OwnTenant if role == Role::KaaAdmin || scope == Scope::Own => Allowed,
            Rule::OwnTenant => NotFound,
            Rule::User { itself } => match (scope, role) {
                (Scope::Itself, _) if itself => Allowed,
                (Scope::Itself, _) => Forbidden,
                (_, Role::KaaAdmin) | (Scope::Own, Role::TenantAdmin) => Allowed,
                _ => NotFound,
            },
        }
    }

    /// The scopes an operation on `path` is called with.
    fn scopes(self, path: &str) -> &'static [Scope] {
        match self {
            Rule::User { .. } => &[Scope::Other, Scope::Own, Scope::Itself],
            _ if path.contains('{') => &[Scope::Other, Scope::Own],
            _ => &[Scope::NoIds],
        }
    }
}

/// Which record a row's call acts on, beyond the tenant's fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The tenant's records.
    Fixture,
    /// A new TENANT_ADMIN of the tenant for each call (the user is deleted).
    FreshUser,
    /// A new session of the caller for each call (the session is ended).
    FreshSession,
}

/// One operation of the API and who may call it.
struct Row {
    method: Method,
    /// The path as the OpenAPI document spells it.
    path: String,
    rule: Rule,
    query: &'static str,
    /// The body sent; strings naming a fixture record (`$topic`, …) become its id, and `$n`
    /// in a string a number unique to the call.
    body: Option<Value>,
    target: Target,
}

/// A row for `method` on `/api/v1{path}`.
fn op(method: Method, path: &str, rule: Rule) -> Row {
    Row {
        method,
        path: format!("/api/v1{path}"),
        rule,
        query: "",
        body: None,
        target: Target::Fixture,
    }
}

impl Row {
    fn body(self, body: Value) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }

    fn query(self, query: &'static str) -> Self {
        Self { query, ..self }
    }

    fn target(self, target: Target) -> Self {
        Self { target, ..self }
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The role table of `docs/admin-api.md`, one row per operation of the API (laid out as a table,
/// one operation a line).
#[rustfmt::skip]
fn table() -> Vec<Row> {
    use Method as M;
    use Rule::*;
    let ping = json!({ "type": "record", "name": "Ping$n", "namespace": "org.matrix",
        "fields": [{ "name": "value", "type": "int" }] });
    let settings = json!({ "type": "record", "name": "Settings",
        "fields": [{ "name": "interval", "type": "int", "default": 60 }] });
    vec![
        // Sessions and the document.
        op(M::GET, "/openapi.json", Public),
        op(M::POST, "/auth/login", Public).body(json!({ "username": "admin", "password": ADMIN_PASSWORD })),
        op(M::POST, "/auth/logout", SignedIn).body(json!({})).target(Target::FreshSession),
        op(M::GET, "/me", SignedIn),
        op(M::GET, "/cluster", SignedIn),
        op(M::GET, "/audit", Roles(ADMINS)),
        // Tenants (deleting one is refused, 409, while it has users, as both have) and users.
        op(M::GET, "/tenants", Roles(KAA_ADMIN)),
        op(M::POST, "/tenants", Roles(KAA_ADMIN)).body(json!({ "name": "tenant $n" })),
        op(M::GET, "/tenants/{id}", OwnTenant),
        op(M::PATCH, "/tenants/{id}", Roles(KAA_ADMIN)).body(json!({ "name": "tenant $n" })),
        op(M::DELETE, "/tenants/{id}", Roles(KAA_ADMIN)),
        op(M::GET, "/users", Roles(ADMINS)),
        op(M::POST, "/users", Roles(ADMINS)).body(json!({ "username": "user-$n", "password": "password-$n",
            "role": "TENANT_ADMIN", "tenant_id": "$tenant" })),
        op(M::GET, "/users/{id}", User { itself: true }),
        op(M::PATCH, "/users/{id}", User { itself: true }).body(json!({})),
        op(M::DELETE, "/users/{id}", User { itself: false }).target(Target::FreshUser),
        // Applications and their schemas.
        op(M::GET, "/applications", Roles(TENANT_ROLES)),
        op(M::POST, "/applications", Roles(TENANT_ADMIN)).body(json!({ "name": "app $n" })),
        op(M::GET, "/applications/{id}", InTenant(TENANT_ROLES)),
        op(M::PATCH, "/applications/{id}", InTenant(TENANT_ADMIN)).body(json!({ "credentials_service": "trustful" })),
        op(M::GET, "/applications/{id}/changes", InTenant(ADMIN_OR_DEVELOPER)),
        op(M::GET, "/applications/{id}/schemas/{kind}", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/schemas/{kind}", InTenant(DEVELOPER)).body(json!({ "name": "settings $n", "schema": settings })),
        op(M::GET, "/applications/{id}/schemas/{kind}/{version}", InTenant(TENANT_ROLES)),
        // Groups, their configurations, profile filters and topics.
        op(M::GET, "/applications/{id}/groups", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/groups", InTenant(DEVELOPER)).body(json!({ "name": "group $n", "weight": 500 })),
        op(M::GET, "/applications/{id}/groups/{group}", InTenant(TENANT_ROLES)),
        op(M::DELETE, "/applications/{id}/groups/{group}", InTenant(DEVELOPER)),
        op(M::GET, "/applications/{id}/groups/{group}/configurations", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/groups/{group}/configurations", InTenant(DEVELOPER))
            .body(json!({ "schema_version": 1, "body": { "interval": 5 } })),
        op(M::GET, "/applications/{id}/groups/{group}/configurations/{document}", InTenant(TENANT_ROLES)),
        op(M::PATCH, "/applications/{id}/groups/{group}/configurations/{document}", InTenant(DEVELOPER))
            .body(json!({ "body": { "interval": 7 } })),
        op(M::POST, "/applications/{id}/groups/{group}/configurations/{document}/activate", InTenant(DEVELOPER)).body(json!({})),
        op(M::POST, "/applications/{id}/groups/{group}/configurations/{document}/deactivate", InTenant(DEVELOPER)).body(json!({})),
        op(M::DELETE, "/applications/{id}/groups/{group}/configurations/{document}", InTenant(DEVELOPER)),
        op(M::GET, "/applications/{id}/groups/{group}/profile-filters", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/groups/{group}/profile-filters", InTenant(DEVELOPER))
            .body(json!({ "client_profile_version": 1, "body": "cp.model == \"x\"" })),
        op(M::POST, "/applications/{id}/profile-filters/test", InTenant(TENANT_ROLES))
            .body(json!({ "body": "cp.model == \"x\"", "client_profile": { "model": "x" } })),
        op(M::GET, "/applications/{id}/groups/{group}/profile-filters/{document}", InTenant(TENANT_ROLES)),
        op(M::PATCH, "/applications/{id}/groups/{group}/profile-filters/{document}", InTenant(DEVELOPER))
            .body(json!({ "body": "true" })),
        op(M::POST, "/applications/{id}/groups/{group}/profile-filters/{document}/activate", InTenant(DEVELOPER)).body(json!({})),
        op(M::POST, "/applications/{id}/groups/{group}/profile-filters/{document}/deactivate", InTenant(DEVELOPER)).body(json!({})),
        op(M::DELETE, "/applications/{id}/groups/{group}/profile-filters/{document}", InTenant(DEVELOPER)),
        op(M::GET, "/applications/{id}/topics", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/topics", InTenant(DEVELOPER)).body(json!({ "name": "topic $n", "kind": "optional" })),
        op(M::GET, "/applications/{id}/groups/{group}/topics", InTenant(TENANT_ROLES)),
        op(M::PUT, "/applications/{id}/groups/{group}/topics/{topic}", InTenant(DEVELOPER)),
        op(M::DELETE, "/applications/{id}/groups/{group}/topics/{topic}", InTenant(DEVELOPER)),
        // Event class families and maps.
        op(M::GET, "/event-families", Roles(TENANT_ROLES)),
        op(M::POST, "/event-families", Roles(ADMIN_OR_DEVELOPER))
            .body(json!({ "name": "family $n", "namespace": "org.matrix", "class_name": "Family$n" })),
        op(M::GET, "/event-families/{id}", InTenant(TENANT_ROLES)),
        op(M::GET, "/event-families/{id}/versions", InTenant(TENANT_ROLES)),
        op(M::POST, "/event-families/{id}/versions", InTenant(ADMIN_OR_DEVELOPER))
            .body(json!({ "classes": [{ "schema": ping, "kind": "event" }] })),
        op(M::GET, "/event-families/{id}/versions/{version}", InTenant(TENANT_ROLES)),
        op(M::GET, "/applications/{id}/event-maps", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/event-maps", InTenant(DEVELOPER))
            .body(json!({ "family_id": "$family", "version": 1, "actions": {} })),
        op(M::GET, "/applications/{id}/event-maps/{map}", InTenant(TENANT_ROLES)),
        op(M::DELETE, "/applications/{id}/event-maps/{map}", InTenant(DEVELOPER)),
        // Appenders, verifiers, SDK profiles and SDKs.
        op(M::GET, "/applications/{id}/log-appenders", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/log-appenders", InTenant(DEVELOPER))
            .body(json!({ "name": "files $n", "type": "file", "settings": { "path": "matrix-$n.log" } })),
        op(M::GET, "/applications/{id}/log-appenders/{appender}", InTenant(TENANT_ROLES)),
        op(M::DELETE, "/applications/{id}/log-appenders/{appender}", InTenant(DEVELOPER)),
        op(M::GET, "/applications/{id}/user-verifiers", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/user-verifiers", InTenant(DEVELOPER)).body(json!({ "name": "trustful $n", "type": "trustful" })),
        op(M::DELETE, "/applications/{id}/user-verifiers/{verifier}", InTenant(DEVELOPER)),
        op(M::GET, "/applications/{id}/sdk-profiles", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/sdk-profiles", InTenant(DEVELOPER)).body(json!({ "name": "sdk $n", "configuration_version": 1 })),
        op(M::DELETE, "/applications/{id}/sdk-profiles/{profile}", InTenant(DEVELOPER)),
        op(M::GET, "/applications/{id}/sdk-profiles/{profile}/sdk", InTenant(ADMIN_OR_DEVELOPER)).query("?target=rust"),
        // Credentials, endpoints and notifications.
        op(M::POST, "/applications/{id}/credentials", InTenant(DEVELOPER)).body(json!({ "public_key": "$public_key" })),
        op(M::GET, "/applications/{id}/credentials", InTenant(TENANT_ROLES)),
        op(M::GET, "/applications/{id}/credentials/{key}", InTenant(TENANT_ROLES)),
        op(M::POST, "/applications/{id}/credentials/{key}/revoke", InTenant(DEVELOPER)).body(json!({})),
        op(M::GET, "/applications/{id}/endpoints", InTenant(TENANT_ROLES)),
        op(M::GET, "/applications/{id}/endpoints/{key}", InTenant(TENANT_ROLES)),
        op(M::PUT, "/applications/{id}/endpoints/{key}/server-profile", InTenant(DEVELOPER))
            .body(json!({ "version": 1, "body": { "tier": 2 } })),
        op(M::POST, "/applications/{id}/endpoints/{key}/notifications", InTenant(DEVELOPER))
            .body(json!({ "topic_id": "$topic", "body": { "text": "hello" } })),
        op(M::POST, "/applications/{id}/topics/{topic}/notifications", InTenant(DEVELOPER))
            .body(json!({ "body": { "text": "hello" } })),
        // Owners' configurations.
        op(M::GET, "/applications/{id}/owners/{user}/configurations", InTenant(TENANT_ROLES)),
        op(M::GET, "/applications/{id}/owners/{user}/configurations/{version}", InTenant(TENANT_ROLES)),
        op(M::PUT, "/applications/{id}/owners/{user}/configurations/{version}", InTenant(DEVELOPER))
            .body(json!({ "body": { "interval": 9 } })),
        op(M::DELETE, "/applications/{id}/owners/{user}/configurations/{version}", InTenant(DEVELOPER)),
    ]
}

/// The concrete path of `path` (OpenAPI form): each `{param}` becomes the record `ids` keeps
/// under `<segment before it>/{param}` (e.g. `groups/{group}`, `{kind}/{version}`).
fn concrete(path: &str, ids: &HashMap<String, String>) -> String {
    let mut previous = "";
    let mut segments = Vec::new();
    for segment in path.split('/') {
        if segment.starts_with('{') {
            let key = format!("{previous}/{segment}");
            let id = ids.get(&key).unwrap_or_else(|| {
                panic!("no record for {key} of {path}: add one to the tenants' records")
            });
            segments.push(id.clone());
        } else {
            segments.push(segment.to_owned());
        }
        previous = segment;
    }
    segments.join("/")
}

/// `body` with each string naming a record (`$topic`, …) replaced by its id and `$n` by `n`.
fn filled(body: &Value, ids: &HashMap<String, String>, n: usize) -> Value {
    match body {
        Value::String(text) => match ids.get(text.as_str()) {
            Some(id) if text.starts_with('$') => Value::String(id.clone()),
            _ => Value::String(text.replace("$n", &n.to_string())),
        },
        Value::Array(items) => items.iter().map(|item| filled(item, ids, n)).collect(),
        Value::Object(fields) => fields
            .iter()
            .map(|(name, value)| (name.clone(), filled(value, ids, n)))
            .collect(),
        other => other.clone(),
    }
}

/// Someone calling the API.
struct Caller {
    /// Short name in the printed matrix.
    label: String,
    /// `None`: anonymous.
    role: Option<Role>,
    /// Index of the caller's tenant (a KAA_ADMIN's and an anonymous caller's: 0).
    tenant: usize,
    username: String,
    password: String,
    /// The caller's user id (none for anonymous).
    user_id: Option<String>,
    client: ApiClient,
}

/// One tenant: its records by path key (see [`concrete`]) and body placeholder, and the SDK
/// endpoint registered in its application.
struct TenantRecords {
    ids: HashMap<String, String>,
    endpoint: KaaClient,
    _state: tempfile::TempDir,
}

/// Logs `username` in and describes it as a caller of tenant `tenant`.
async fn caller(
    base: &str,
    label: String,
    role: Role,
    tenant: usize,
    username: String,
    password: &str,
) -> Caller {
    let client = ApiClient::login(base, &username, password).await;
    let me = client.get("/api/v1/me").await;
    expect(&me, 200);
    Caller {
        label,
        role: Some(role),
        tenant,
        username,
        password: password.to_owned(),
        user_id: Some(id(&me)),
        client,
    }
}

/// Creates a record with `client`; its id.
async fn create(client: &ApiClient, path: &str, body: Value) -> String {
    let reply = client.post(path, body).await;
    expect(&reply, 201);
    id(&reply)
}

/// Tenant `name` (index `index`): its admin, developer and user (the callers), a spare
/// TENANT_ADMIN, and an application holding a record of every kind, with an SDK endpoint
/// registered.
async fn tenant(
    node: &Node,
    kaa: &ApiClient,
    index: usize,
    name: &str,
) -> (TenantRecords, Vec<Caller>) {
    let base = format!("http://{}", node.admin);
    let password = format!("{name}-password-1");
    let tenant_id = create(kaa, "/api/v1/tenants", json!({ "name": name })).await;
    let user = |username: &str, role: Role| {
        json!({ "username": username, "password": password, "role": role.name(),
            "tenant_id": tenant_id })
    };
    let spare = create(
        kaa,
        "/api/v1/users",
        user(&format!("{name}-spare"), Role::TenantAdmin),
    )
    .await;
    let mut callers: Vec<Caller> = Vec::new();
    for (role, short) in [
        (Role::TenantAdmin, "adm"),
        (Role::TenantDeveloper, "dev"),
        (Role::TenantUser, "usr"),
    ] {
        // The KAA_ADMIN creates the tenant's admin, who creates the others.
        let creator = callers.first().map_or(kaa, |admin| &admin.client);
        let username = format!("{name}-{short}");
        create(creator, "/api/v1/users", user(&username, role)).await;
        let label = format!("{}.{short}", ["A", "B"][index]);
        callers.push(caller(&base, label, role, index, username, &password).await);
    }
    let admin = &callers[0].client;
    let dev = &callers[1].client;

    let app_id = create(admin, "/api/v1/applications", json!({ "name": name })).await;
    let app = format!("/api/v1/applications/{app_id}");
    for (kind, field, default) in [
        (
            "configuration",
            json!({ "name": "interval", "type": "int" }),
            json!(60),
        ),
        (
            "client_profile",
            json!({ "name": "model", "type": "string" }),
            json!("m-1"),
        ),
        (
            "server_profile",
            json!({ "name": "tier", "type": "int" }),
            json!(0),
        ),
        (
            "notification",
            json!({ "name": "text", "type": "string" }),
            json!(""),
        ),
        ("log", json!({ "name": "level", "type": "int" }), json!(0)),
    ] {
        let mut field = field;
        field["default"] = default;
        let schema = json!({ "type": "record", "name": "Record", "namespace": "org.matrix",
            "fields": [field] });
        let body = json!({ "name": kind, "schema": schema });
        create(dev, &format!("{app}/schemas/{kind}"), body).await;
    }
    let group_id = create(
        dev,
        &format!("{app}/groups"),
        json!({ "name": "meters", "weight": 10 }),
    )
    .await;
    let group = format!("{app}/groups/{group_id}");
    let configuration = json!({ "schema_version": 1, "body": { "interval": 30 } });
    let configuration = create(dev, &format!("{group}/configurations"), configuration).await;
    let filter = json!({ "client_profile_version": 1, "body": "cp.model == \"m-1\"" });
    let filter = create(dev, &format!("{group}/profile-filters"), filter).await;
    let topic = json!({ "name": "alerts", "kind": "mandatory" });
    let topic = create(dev, &format!("{app}/topics"), topic).await;
    let attach = format!("{group}/topics/{topic}");
    expect(&dev.send(Method::PUT, &attach, None).await, 204);
    let namespace = format!("org.{name}");
    let family = json!({ "name": "pings", "namespace": namespace, "class_name": "Pings" });
    let family = create(dev, "/api/v1/event-families", family).await;
    let ping = json!({ "type": "record", "name": "Ping", "namespace": namespace,
        "fields": [{ "name": "value", "type": "int" }] });
    let version = json!({ "classes": [{ "schema": ping, "kind": "event" }] });
    create(
        dev,
        &format!("/api/v1/event-families/{family}/versions"),
        version,
    )
    .await;
    let map = json!({ "family_id": family, "version": 1,
        "actions": { format!("{namespace}.Ping"): "both" } });
    let map = create(dev, &format!("{app}/event-maps"), map).await;
    let appender =
        json!({ "name": "files", "type": "file", "settings": { "path": format!("{name}.log") } });
    let appender = create(dev, &format!("{app}/log-appenders"), appender).await;
    let verifier = json!({ "name": "trustful", "type": "trustful" });
    let verifier = create(dev, &format!("{app}/user-verifiers"), verifier).await;
    let profile = json!({ "name": "full", "configuration_version": 1, "client_profile_version": 1,
        "server_profile_version": 1, "notification_version": 1, "log_version": 1,
        "event_map_ids": [map], "default_verifier": verifier });
    let profile = create(dev, &format!("{app}/sdk-profiles"), profile).await;
    let device = json!({ "name": "device", "configuration_version": 1, "notification_version": 1 });
    let device = dev.post(&format!("{app}/sdk-profiles"), device).await;
    expect(&device, 201);
    let [provisioned, spare_key] = [(); 2].map(|()| EndpointKeys::generate().unwrap());
    let credentials = json!({ "public_key": STANDARD.encode(provisioned.public_der()) });
    expect(
        &dev.post(&format!("{app}/credentials"), credentials).await,
        201,
    );
    let owner = format!("{app}/owners/carol/configurations/1");
    let owner_configuration = json!({ "body": { "interval": 11 } });
    expect(
        &dev.send(Method::PUT, &owner, Some(owner_configuration))
            .await,
        200,
    );

    // A registered endpoint, for the paths that name one.
    let state = tempfile::tempdir().unwrap();
    let token = device.body["sdk_token"].as_str().unwrap();
    let config = endpoint_config(&[node], token, "matrix", state.path());
    let mut endpoint = KaaClient::start(config).unwrap();
    wait_event(&mut endpoint, Duration::from_secs(30), "a session", |e| {
        matches!(e, Event::Connected(_)).then_some(())
    })
    .await;
    let key = URL_SAFE_NO_PAD.encode(endpoint.key_hash());
    let registered = Instant::now();
    while dev.get(&format!("{app}/endpoints/{key}")).await.status != 200 {
        assert!(
            registered.elapsed() < Duration::from_secs(30),
            "endpoint {key} not registered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let ids = [
        ("tenants/{id}", tenant_id.clone()),
        ("users/{id}", spare),
        ("applications/{id}", app_id),
        ("schemas/{kind}", "configuration".to_owned()),
        ("{kind}/{version}", "1".to_owned()),
        ("groups/{group}", group_id),
        ("configurations/{document}", configuration),
        ("profile-filters/{document}", filter),
        ("topics/{topic}", topic.clone()),
        ("event-families/{id}", family.clone()),
        ("versions/{version}", "1".to_owned()),
        ("event-maps/{map}", map),
        ("log-appenders/{appender}", appender),
        ("user-verifiers/{verifier}", verifier),
        ("sdk-profiles/{profile}", profile),
        (
            "credentials/{key}",
            URL_SAFE_NO_PAD.encode(provisioned.key_hash()),
        ),
        ("endpoints/{key}", key),
        ("owners/{user}", "carol".to_owned()),
        ("configurations/{version}", "1".to_owned()),
        ("$tenant", tenant_id),
        ("$topic", topic),
        ("$family", family),
        ("$public_key", STANDARD.encode(spare_key.public_der())),
    ];
    let records = TenantRecords {
        ids: ids
            .into_iter()
            .map(|(key, id)| (key.to_owned(), id))
            .collect(),
        endpoint,
        _state: state,
    };
    (records, callers)
}

/// The calls of the matrix and what they found.
struct Matrix {
    base: String,
    kaa: ApiClient,
    tenants: Vec<TenantRecords>,
    callers: Vec<Caller>,
    calls: usize,
    /// Per row and caller, one letter per scope.
    cells: HashMap<(usize, usize), String>,
    /// Checks per outcome found.
    found: HashMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Matrix {
    /// Calls `row` as caller `who` with path ids of `scope`, and checks the answer.
    async fn check(&mut self, index: usize, row: &Row, who: usize, scope: Scope) {
        let caller = &self.callers[who];
        let tenant = match scope {
            Scope::Other => 1 - caller.tenant,
            _ => caller.tenant,
        };
        self.calls += 1;
        let n = self.calls;
        let mut ids = self.tenants[tenant].ids.clone();
        if scope == Scope::Itself {
            let Some(user_id) = &caller.user_id else {
                return;
            };
            ids.insert("users/{id}".into(), user_id.clone());
        } else if row.target == Target::FreshUser {
            let victim = json!({ "username": format!("victim-{n}"), "password": "victim-password",
                "role": "TENANT_ADMIN", "tenant_id": ids["$tenant"] });
            ids.insert(
                "users/{id}".into(),
                create(&self.kaa, "/api/v1/users", victim).await,
            );
        }
        let client = match (row.target, caller.role) {
            (Target::FreshSession, Some(_)) => {
                ApiClient::login(&self.base, &caller.username, &caller.password).await
            }
            _ => caller.client.clone(),
        };
        let path = format!("{}{}", concrete(&row.path, &ids), row.query);
        let body = row.body.as_ref().map(|body| filled(body, &ids, n));
        let reply = client.send(row.method.clone(), &path, body).await;
        let expected = row.rule.expected(caller.role, scope);
        let outcome = Outcome::of(reply.status);
        let letter = match outcome {
            Some(Outcome::Allowed) if reply.status < 300 => '+',
            Some(Outcome::Allowed) => '~',
            Some(Outcome::Unauthenticated) => 'U',
            Some(Outcome::Forbidden) => 'F',
            Some(Outcome::NotFound) => 'N',
            None => '!',
        };
        *self
            .found
            .entry(match letter {
                '+' => "2xx",
                '~' => "4xx about the body",
                'U' => "401",
                'F' => "403",
                'N' => "404",
                _ => "other",
            })
            .or_default() += 1;
        self.cells.entry((index, who)).or_default().push(letter);
        if outcome != Some(expected) {
            self.failures.push(format!(
                "{} as {} ({scope:?} ids): expected {expected:?}, got {} {}",
                row.name(),
                caller.label,
                reply.status,
                reply.body
            ));
        }
    }

    /// The printed matrix: a line per operation, a column per caller.
    fn summary(&self, rows: &[Row]) -> String {
        let mut out = String::new();
        let width = rows.iter().map(|row| row.name().len()).max().unwrap_or(0);
        let _ = write!(out, "{:width$}", "operation \\ caller");
        for caller in &self.callers {
            let _ = write!(out, " {:>5}", caller.label);
        }
        out.push('\n');
        for (index, row) in rows.iter().enumerate() {
            let _ = write!(out, "{:width$}", row.name());
            for who in 0..self.callers.len() {
                let cell = self.cells.get(&(index, who)).map_or("", String::as_str);
                let _ = write!(out, " {cell:>5}");
            }
            out.push('\n');
        }
        out
    }
}

#[tokio::test]
async fn every_operation_answers_each_role_and_tenant_as_the_role_table_says() {
    let started = Instant::now();
    let node = NodeBuilder::standalone_with_admin(ADMIN_PASSWORD)
        .start()
        .await;
    let base = format!("http://{}", node.admin);
    let kaa = caller(
        &base,
        "kaa".into(),
        Role::KaaAdmin,
        0,
        "admin".into(),
        ADMIN_PASSWORD,
    )
    .await;
    let kaa_client = kaa.client.clone();
    let (first, first_callers) = tenant(&node, &kaa_client, 0, "acme").await;
    let (second, second_callers) = tenant(&node, &kaa_client, 1, "globex").await;
    let anonymous = Caller {
        label: "anon".into(),
        role: None,
        tenant: 0,
        username: String::new(),
        password: String::new(),
        user_id: None,
        client: ApiClient::anonymous(&base),
    };
    // Deleting callers last among those of a tenant: a developer may delete, the others not.
    let mut callers = vec![anonymous, kaa];
    callers.extend(first_callers.into_iter().chain(second_callers));
    callers.sort_by_key(|c| c.role == Some(Role::TenantDeveloper));
    let set_up = started.elapsed();

    // Every operation of the document has a row, and every row an operation.
    let document = ApiClient::anonymous(&base)
        .get("/api/v1/openapi.json")
        .await;
    expect(&document, 200);
    let operations: BTreeSet<String> = document.body["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    let rows = table();
    let named: BTreeSet<String> = rows.iter().map(Row::name).collect();
    assert_eq!(named.len(), rows.len(), "one row per operation");
    let unlisted: Vec<&String> = operations.difference(&named).collect();
    assert!(
        unlisted.is_empty(),
        "operations without a row in the role table: {unlisted:?}"
    );
    let stale: Vec<String> = rows
        .iter()
        .filter(|row| !operations.contains(&row.name()))
        .map(Row::name)
        .collect();
    assert!(
        stale.is_empty(),
        "rows of operations the API does not serve: {stale:?}"
    );

    // Deletions last, children (longer paths) before their parents.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| match rows[i].method {
        Method::DELETE => (1, usize::MAX - rows[i].path.matches('/').count()),
        _ => (0, 0),
    });
    let mut matrix = Matrix {
        base,
        kaa: kaa_client,
        tenants: vec![first, second],
        callers,
        calls: 0,
        cells: HashMap::new(),
        found: HashMap::new(),
        failures: Vec::new(),
    };
    for &index in &order {
        let row = &rows[index];
        for &scope in row.rule.scopes(&row.path) {
            for who in 0..matrix.callers.len() {
                matrix.check(index, row, who, scope).await;
            }
        }
    }
    let checked = started.elapsed() - set_up;

    let checks: usize = matrix.found.values().sum();
    let mut found: Vec<_> = matrix.found.iter().collect();
    found.sort();
    println!(
        "role matrix: {} operations x {} callers, {checks} checks in {:.1} s (set-up with the node's start {:.1} s); \
         found {found:?}; {} disagreements",
        rows.len(),
        matrix.callers.len(),
        checked.as_secs_f64(),
        set_up.as_secs_f64(),
        matrix.failures.len(),
    );
    println!(
        "cells: one letter per scope (other tenant's ids, own tenant's, itself): + 2xx, \
         ~ 4xx about the body, U 401, F 403, N 404, ! anything else"
    );
    print!("{}", matrix.summary(&rows));
    for tenant in matrix.tenants {
        tenant.endpoint.stop().await;
    }
    assert!(
        matrix.failures.is_empty(),
        "{} calls disagree with the role table:\n{}",
        matrix.failures.len(),
        matrix.failures.join("\n")
    );
}
