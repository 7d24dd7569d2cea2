//! Property-based testing of the admin REST API with schemathesis (PyPI): it reads the OpenAPI
//! document a real standalone node serves at `/api/v1/openapi.json`, generates requests for every
//! operation (valid and invalid: boundary values, wrong types, missing fields, odd strings) and
//! checks every response. Whatever the input, the API must never answer 5xx: a standalone node is
//! always the Control leader, so not even the standby's 503 `not_leader` is expected.
//!
//! Schemathesis runs once per caller, because the roles reach different code: anonymous (the
//! 401 paths and login), KAA_ADMIN (tenants and their administrators), TENANT_ADMIN (users and
//! applications) and TENANT_DEVELOPER (what hangs under an application). Logging out would end the
//! session the other operations run with, so `POST /api/v1/auth/logout` gets a run of its own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kaa_tests::api::{ApiClient, Reply};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::json;

const ADMIN_PASSWORD: &str = "admin-secret-1";
const PASSWORD: &str = "fuzz-password-1";

/// Responses every run checks. `status_code_conformance` and `response_schema_conformance` are
/// left out until the OpenAPI document lists every status and shape the handlers answer.
const CHECKS: &str = "not_a_server_error";

/// Test cases per operation and phase: enough to reach every handler's validation and store
/// paths, few enough for the whole test to take about a minute on two cores.
const MAX_EXAMPLES: u32 = 15;

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

/// One schemathesis run: who, with which token, over which operations.
struct Run {
    caller: &'static str,
    token: Option<String>,
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
    // Schemathesis reads a `schemathesis.toml` from, and may write reports to, its working
    // directory: give it an empty one.
    let workdir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(schemathesis());
    command
        .current_dir(workdir.path())
        .arg("run")
        .arg(node.url("/api/v1/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
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
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Outcome {
        caller: run.caller,
        passed: output.status.success(),
        output: text,
        took: started.elapsed(),
    }
}

#[track_caller]
fn created(reply: &Reply) -> String {
    assert_eq!(reply.status, 201, "{:#}", reply.body);
    reply.body["id"].as_str().expect("id").to_owned()
}

fn token(client: &ApiClient) -> Option<String> {
    Some(client.token().expect("logged in").to_owned())
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_in_the_admin_api() {
    let command = schemathesis();
    let t0 = Instant::now();
    let mut node = NodeBuilder::standalone()
        .env("KAA_ADMIN_USER", "admin")
        .env("KAA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .spawn()
        .unwrap();
    node.wait_for("/ready", 200, Duration::from_secs(30))
        .await
        .unwrap();
    let base = format!("http://{}", node.admin);
    eprintln!("TIMING ready {:?}", t0.elapsed());

    // A tenant with an administrator, a developer and an application with a group, so that the
    // authenticated operations reach the store, not only the role checks.
    let admin = ApiClient::login(&base, "admin", ADMIN_PASSWORD).await;
    let tenant = created(
        &admin
            .post("/api/v1/tenants", json!({ "name": "fuzz" }))
            .await,
    );
    created(
        &admin
            .post(
                "/api/v1/users",
                json!({ "username": "fuzz-admin", "password": PASSWORD, "role": "TENANT_ADMIN", "tenant_id": tenant }),
            )
            .await,
    );
    let tenant_admin = ApiClient::login(&base, "fuzz-admin", PASSWORD).await;
    created(
        &tenant_admin
            .post(
                "/api/v1/users",
                json!({ "username": "fuzz-developer", "password": PASSWORD, "role": "TENANT_DEVELOPER" }),
            )
            .await,
    );
    let developer = ApiClient::login(&base, "fuzz-developer", PASSWORD).await;
    let app = created(
        &tenant_admin
            .post("/api/v1/applications", json!({ "name": "fuzz app" }))
            .await,
    );
    created(
        &developer
            .post(
                &format!("/api/v1/applications/{app}/groups"),
                json!({ "name": "heaters", "weight": 10 }),
            )
            .await,
    );
    let leaving = ApiClient::login(&base, "fuzz-developer", PASSWORD).await;

    eprintln!("TIMING fixture {:?}", t0.elapsed());
    println!("schemathesis: {}", command.display());
    // Least privileged first: a later, more privileged run may delete an earlier caller.
    let runs = [
        Run {
            caller: "anonymous",
            token: None,
            logout: false,
        },
        Run {
            caller: "TENANT_DEVELOPER",
            token: token(&developer),
            logout: false,
        },
        Run {
            caller: "TENANT_ADMIN",
            token: token(&tenant_admin),
            logout: false,
        },
        Run {
            caller: "KAA_ADMIN",
            token: token(&admin),
            logout: false,
        },
        Run {
            caller: "TENANT_DEVELOPER (logout)",
            token: token(&leaving),
            logout: true,
        },
    ];
    let mut failed = Vec::new();
    for spec in runs {
        let outcome = run(&node, spec).await;
        let summary: Vec<&str> = outcome.output.lines().rev().take(12).collect();
        println!(
            "schemathesis as {} ({:.1?}): {}\n{}",
            outcome.caller,
            outcome.took,
            if outcome.passed { "passed" } else { "FAILED" },
            summary.into_iter().rev().collect::<Vec<_>>().join("\n")
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
            "schemathesis found failures as {callers:?} (output above); node log:\n{}",
            node.log()
        );
    }
}
