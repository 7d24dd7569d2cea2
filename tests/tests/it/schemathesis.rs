//! Property-based testing of the admin REST API with schemathesis (PyPI): it reads the OpenAPI
//! document a real standalone node serves at `/api/v1/openapi.json`, generates requests for every
//! operation (valid and invalid: boundary values, wrong types, missing fields, odd strings, no
//! credentials) and checks every response. Whatever the input, the API must never answer 5xx (a
//! standalone node is always the Control leader, so not even the standby's 503 `not_leader` is
//! expected), and every response must be one the document declares for the operation, with a body
//! of the declared schema ([`CHECKS`]).
//!
//! Schemathesis runs once per caller, because the roles reach different code: anonymous (the 401
//! paths and login), TENANT_DEVELOPER (what hangs under an application), TENANT_ADMIN (users and
//! applications) and KAA_ADMIN (tenants and their administrators). A fixture of one of each
//! record is created first, and a `schemathesis.toml` hands their ids to the path parameters, so
//! generated requests get past the 404 of an unknown id into validation and the store: always in
//! the developer's run (schemathesis applies fixed values in every phase), most of the time in the
//! others (dictionaries, which only its fuzzing phase draws from; the rest are generated ids).
//! Logging out would end the session the other operations run with, so `POST
//! /api/v1/auth/logout` gets a run of its own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kaa_tests::api::{ApiClient, Reply};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "admin-secret-1";
const PASSWORD: &str = "fuzz-password-1";

/// Responses every run checks: every built-in check that reads the OpenAPI document, so each
/// response must carry a status the operation declares, with a body of its declared schema, and
/// a method the document does not list on a path must answer 405 with `Allow`. Left out:
/// `positive_data_acceptance`, because many rules are not the document's to state (a schema
/// upload must be a valid Avro record schema, a configuration must match its schema, ids must name
/// existing records), so valid-looking data is rightly refused with 422, and an integer written
/// with a zero fraction (`10.0`), an integer to JSON Schema, is refused as a wrong type (400);
/// and the checks that need more than one identity or a time budget
/// (`object_level_authorization`, `max_response_time`).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,\
                      negative_data_rejection,missing_required_header,ignored_auth,\
                      use_after_free,ensure_resource_availability,unsupported_method,\
                      allow_header_conformance";

/// Test cases per operation and phase: enough to reach every handler's validation and store
/// paths, few enough for the whole test to take about a minute and a half on two cores.
const MAX_EXAMPLES: u32 = 15;

/// How often a path parameter takes a fixture id rather than a generated value, where the ids are
/// offered as dictionaries.
const KNOWN_ID_PROBABILITY: f64 = 0.8;

const LOGOUT: &str = "/api/v1/auth/logout";

/// The `schemathesis` command `deploy/local/python-deps.sh` installs into the test venv.
fn schemathesis() -> PathBuf {
    let cache = std::env::var_os("KAA_INFRA_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/kaa-rs")))
        .expect("KAA_INFRA_CACHE or HOME is set");
    let command = cache.join("venv/bin/schemathesis");
    assert!(
        command.exists(),
        "{} does not exist: schemathesis is not installed; run deploy/local/python-deps.sh \
         (`make test` does)",
        command.display()
    );
    command
}

/// The fixture's callers, and the ids of what it created.
struct Fixture {
    admin: ApiClient,
    tenant_admin: ApiClient,
    developer: ApiClient,
    ids: Vec<KnownIds>,
}

/// Ids to offer the path parameters of the operations whose path matches a regex.
struct KnownIds {
    path_regex: &'static str,
    /// `(path parameter, its ids)`.
    parameters: Vec<(&'static str, Vec<Value>)>,
}

#[track_caller]
fn created(reply: &Reply) -> Value {
    assert_eq!(reply.status, 201, "fixture: {:#}", reply.body);
    reply.body.clone()
}

fn id(record: &Value) -> Value {
    record["id"].clone()
}

/// A tenant with an administrator, a developer and an event family with a version, and an
/// application with a second group, the schemas a configuration and a filter need, a configuration
/// draft, a profile filter, a topic, a log appender, a user verifier, an SDK profile and an event
/// map.
async fn fixture(base: &str) -> Fixture {
    let admin = ApiClient::login(base, "admin", ADMIN_PASSWORD).await;
    let tenant = created(
        &admin
            .post("/api/v1/tenants", json!({ "name": "fuzz" }))
            .await,
    );
    let tenant_admin_user = created(&admin.post("/api/v1/users", json!({ "username": "fuzz-admin", "password": PASSWORD, "role": "TENANT_ADMIN", "tenant_id": tenant["id"] })).await);
    let tenant_admin = ApiClient::login(base, "fuzz-admin", PASSWORD).await;
    let developer_user = created(&tenant_admin.post("/api/v1/users", json!({ "username": "fuzz-developer", "password": PASSWORD, "role": "TENANT_DEVELOPER" })).await);
    let developer = ApiClient::login(base, "fuzz-developer", PASSWORD).await;
    let app = created(
        &tenant_admin
            .post("/api/v1/applications", json!({ "name": "fuzz app" }))
            .await,
    );
    let app_path = format!("/api/v1/applications/{}", app["id"].as_str().unwrap());
    let post = |path: &str, body: Value| {
        let developer = developer.clone();
        let url = format!("{app_path}{path}");
        async move { created(&developer.post(&url, body).await) }
    };

    let heaters = post("/groups", json!({ "name": "heaters", "weight": 10 })).await;
    let all = developer.get(&format!("{app_path}/groups")).await.body["items"][0].clone();
    assert_eq!(all["name"], "all", "fixture: the first group is all");
    let record = |name: &str, field: &str| json!({ "type": "record", "name": name, "fields": [{ "name": field, "type": "string" }] });
    post(
        "/schemas/configuration",
        json!({ "name": "config", "schema": record("Config", "mode") }),
    )
    .await;
    post(
        "/schemas/client_profile",
        json!({ "name": "profile", "schema": record("Profile", "model") }),
    )
    .await;
    let configuration = post(
        &format!("/groups/{}/configurations", all["id"].as_str().unwrap()),
        json!({ "schema_version": 1, "body": { "mode": "eco" } }),
    )
    .await;
    let filter = post(
        &format!(
            "/groups/{}/profile-filters",
            heaters["id"].as_str().unwrap()
        ),
        json!({ "client_profile_version": 1, "body": "cp.model == \"HT-1\"" }),
    )
    .await;
    let topic = post("/topics", json!({ "name": "alerts", "kind": "mandatory" })).await;
    let appender = post(
        "/log-appenders",
        json!({ "name": "files", "type": "file", "settings": { "path": "fuzz.log" } }),
    )
    .await;
    let verifier = post(
        "/user-verifiers",
        json!({ "name": "trustful", "type": "trustful" }),
    )
    .await;
    let profile = post("/sdk-profiles", json!({ "name": "v1", "configuration_version": 1, "client_profile_version": 1, "default_verifier": verifier["verifier_token"] })).await;
    let family = created(
        &developer
            .post(
                "/api/v1/event-families",
                json!({ "name": "fuzz", "namespace": "org.fuzz", "class_name": "FuzzFamily" }),
            )
            .await,
    );
    let ping = json!({ "type": "record", "name": "Ping", "namespace": "org.fuzz",
        "fields": [{ "name": "value", "type": "int" }] });
    created(
        &developer
            .post(
                &format!(
                    "/api/v1/event-families/{}/versions",
                    family["id"].as_str().unwrap()
                ),
                json!({ "classes": [{ "schema": ping, "kind": "event" }] }),
            )
            .await,
    );
    let map = post(
        "/event-maps",
        json!({ "family_id": family["id"], "version": 1, "actions": { "org.fuzz.Ping": "both" } }),
    )
    .await;

    // Where ids are fixed, each parameter takes its first: the group all, its configuration.
    let kinds = [
        "configuration",
        "client_profile",
        "server_profile",
        "notification",
        "log",
    ];
    Fixture {
        ids: vec![
            KnownIds {
                path_regex: "^/api/v1/applications/",
                parameters: vec![
                    ("id", vec![id(&app)]),
                    ("group", vec![id(&all), id(&heaters)]),
                    ("document", vec![id(&configuration), id(&filter)]),
                    ("topic", vec![id(&topic)]),
                    ("appender", vec![id(&appender)]),
                    ("verifier", vec![id(&verifier)]),
                    ("profile", vec![id(&profile)]),
                    ("map", vec![id(&map)]),
                    ("kind", kinds.iter().map(|k| json!(k)).collect()),
                    ("version", vec![json!(1)]),
                ],
            },
            KnownIds {
                path_regex: "^/api/v1/event-families/",
                parameters: vec![("id", vec![id(&family)]), ("version", vec![json!(1)])],
            },
            KnownIds {
                path_regex: "^/api/v1/tenants/",
                parameters: vec![("id", vec![id(&tenant)])],
            },
            KnownIds {
                path_regex: "^/api/v1/users/",
                parameters: vec![("id", vec![id(&tenant_admin_user), id(&developer_user)])],
            },
        ],
        admin,
        tenant_admin,
        developer,
    }
}

impl Fixture {
    /// The `schemathesis.toml` that hands the fixture's ids to the path parameters: `fixed`, each
    /// parameter always takes its first id; otherwise a dictionary of its ids, drawn from with
    /// [`KNOWN_ID_PROBABILITY`].
    fn config(&self, fixed: bool) -> String {
        let mut dictionaries = String::new();
        let mut operations = String::new();
        for (n, known) in self.ids.iter().enumerate() {
            let mut bindings = Vec::new();
            for (parameter, values) in &known.parameters {
                if fixed {
                    // A JSON string or integer is a TOML one too.
                    bindings.push(format!("\"path.{parameter}\" = {}", values[0]));
                    continue;
                }
                let name = format!("ids{n}_{parameter}");
                // A JSON array of strings and integers is a TOML array too.
                dictionaries += &format!(
                    "[dictionaries.{name}]\nvalues = {}\n",
                    Value::from(values.clone())
                );
                bindings.push(format!(
                    "\"path.{parameter}\" = {{ dictionary = \"{name}\", probability = \
                     {KNOWN_ID_PROBABILITY} }}"
                ));
            }
            operations += &format!(
                "\n[[operations]]\ninclude-path-regex = \"{}\"\nparameters = {{ {} }}\n",
                known.path_regex,
                bindings.join(", ")
            );
        }
        // Without a token schemathesis would try to sign up through `POST /api/v1/users`: the
        // anonymous run stays anonymous.
        format!("[auth]\nauto-signup = false\n\n{dictionaries}{operations}")
    }
}

/// One schemathesis run: who, with which token and `schemathesis.toml`, over which operations.
struct Run {
    caller: &'static str,
    token: Option<String>,
    config: String,
    /// `true`: only logout; `false`: everything but logout.
    logout: bool,
}

/// What a run printed, and whether it passed.
struct Outcome {
    caller: &'static str,
    passed: bool,
    output: String,
    took: Duration,
}

async fn run(node: &Node, run: Run) -> Outcome {
    let started = Instant::now();
    // An empty working directory, so no `schemathesis.toml` or report lands anywhere else.
    let workdir = tempfile::tempdir().unwrap();
    let config_file = workdir.path().join("schemathesis.toml");
    std::fs::write(&config_file, &run.config).unwrap();
    let mut command = tokio::process::Command::new(schemathesis());
    command
        .current_dir(workdir.path())
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(node.url("/api/v1/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        // One worker: Python 3.11.7's `ast.parse`, which hypothesis calls while generating, fails
        // now and then with "AST constructor recursion depth mismatch" when two threads run it
        // (CPython gh-106905).
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .args(["--suppress-health-check", "all"])
        .args(["--no-color", "--output-truncate", "false"])
        .arg(if run.logout {
            "--include-path"
        } else {
            "--exclude-path"
        })
        .arg(LOGOUT);
    if let Ok(seed) = std::env::var("KAA_SCHEMATHESIS_SEED") {
        command.args(["--seed", &seed]);
    }
    if let Some(token) = &run.token {
        command
            .arg("--header")
            .arg(format!("Authorization: Bearer {token}"));
    }
    let output = command.output().await.unwrap_or_else(|error| {
        panic!("cannot run schemathesis ({error}); run deploy/local/python-deps.sh")
    });
    Outcome {
        caller: run.caller,
        passed: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        took: started.elapsed(),
    }
}

/// The lines of schemathesis' summary worth a glance when it passes.
fn summary(output: &str) -> String {
    output
        .lines()
        .map(str::trim)
        .filter(|line| {
            ["Operations:", "⚠️ Missing test data", "Seed:", "❌", "🚫"]
                .iter()
                .any(|start| line.starts_with(start))
                || line.contains(" generated, ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn token(client: &ApiClient) -> Option<String> {
    Some(client.token().expect("logged in").to_owned())
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_in_the_admin_api() {
    let command = schemathesis();
    let mut node = NodeBuilder::standalone()
        .env("KAA_ADMIN_USER", "admin")
        .env("KAA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .spawn()
        .unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(30))
        .await
        .unwrap();
    let base = format!("http://{}", node.admin);
    let fixture = fixture(&base).await;
    let (fixed, drawn) = (fixture.config(true), fixture.config(false));
    let leaving = ApiClient::login(&base, "fuzz-developer", PASSWORD).await;

    println!("schemathesis: {}", command.display());
    // Least privileged first: a more privileged run may delete or demote an earlier caller.
    let runs = [
        Run {
            caller: "anonymous",
            token: None,
            config: drawn.clone(),
            logout: false,
        },
        Run {
            caller: "TENANT_DEVELOPER",
            token: token(&fixture.developer),
            config: fixed.clone(),
            logout: false,
        },
        Run {
            caller: "TENANT_ADMIN",
            token: token(&fixture.tenant_admin),
            config: drawn.clone(),
            logout: false,
        },
        Run {
            caller: "KAA_ADMIN",
            token: token(&fixture.admin),
            config: drawn.clone(),
            logout: false,
        },
        Run {
            caller: "TENANT_DEVELOPER (logout)",
            token: token(&leaving),
            config: drawn.clone(),
            logout: true,
        },
    ];
    let mut failed = Vec::new();
    for spec in runs {
        let outcome = run(&node, spec).await;
        println!(
            "schemathesis as {} ({:.1?}): {}: {}",
            outcome.caller,
            outcome.took,
            if outcome.passed { "passed" } else { "FAILED" },
            summary(&outcome.output)
        );
        if !outcome.passed {
            failed.push(outcome);
        }
    }
    assert!(
        node.is_running(),
        "kaa-node died under schemathesis; log:\n{}",
        node.log()
    );
    if !failed.is_empty() {
        for outcome in &failed {
            eprintln!(
                "==== schemathesis as {} failed:\n{}",
                outcome.caller, outcome.output
            );
        }
        let callers: Vec<&str> = failed.iter().map(|o| o.caller).collect();
        panic!(
            "schemathesis found failures as {callers:?} (its output above; replay a case with \
             KAA_SCHEMATHESIS_SEED=<seed>); node log:\n{}",
            node.log()
        );
    }
}
