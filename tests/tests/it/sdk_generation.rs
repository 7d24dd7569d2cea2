//! SDK generation over REST against a live node: who may download, what a bad request gets, what
//! an archive holds (the token, the bootstrap list with the node's key), the cache (an
//! unchanged profile is served from memory; a new `all` configuration gives a new archive), SDK
//! profiles created with a Kaa 0.10 token, `/api/v1/cluster`, which lists what SDKs embed, and a
//! Kaa 0.10 server's key pair imported with `kaa-node keys import`.

use std::io::Read as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kaa_idl::endpoint::crypto::KeyPair;
use kaa_sdk::client::{Event, KaaClient};
use kaa_tests::api::{ApiClient, expect, expect_field, new_application};
use kaa_tests::node::NodeBuilder;
use serde_json::json;

use crate::sdk_support::{PASSWORD, SdkFixture};
use crate::support::{endpoint_config, wait_event};

/// Every entry of a `tar.gz` with its contents.
fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    tar.entries()
        .expect("a tar.gz")
        .map(|entry| {
            let mut entry = entry.expect("an entry");
            let path = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

#[tokio::test]
async fn sdk_archives_are_generated_cached_and_refused_to_the_wrong_callers() {
    let fixture = SdkFixture::start().await;
    let token = &fixture.sdk_token;
    let base = format!("http://{}", fixture.nodes[0].admin);

    // The cluster as SDKs see it: this node's Bootstrap transports and its public key.
    let anonymous = ApiClient::anonymous(&base);
    assert_eq!(anonymous.get("/api/v1/cluster").await.status, 401);
    let cluster = fixture.developer.get("/api/v1/cluster").await;
    expect(&cluster, 200);
    let node = &cluster.body["nodes"][0];
    let bootstrap = node["bootstrap"]["transports"].as_array().unwrap();
    let protocols: Vec<&str> = bootstrap
        .iter()
        .map(|t| t["protocol"].as_str().unwrap())
        .collect();
    assert!(
        protocols.contains(&"tcp") && protocols.contains(&"http"),
        "{cluster:?}"
    );
    let public_key = bootstrap[0]["public_key"].as_str().unwrap().to_owned();
    assert!(
        public_key.len() > 300,
        "an RSA-2048 X.509 key in base64: {public_key}"
    );

    for target in ["rust", "c", "python"] {
        let started = std::time::Instant::now();
        let response = fixture.download(target).await;
        let elapsed = started.elapsed();
        assert_eq!(response.status(), 200, "{target}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/gzip");
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"kaa-{target}-sdk-{token}.tar.gz\"").as_str()
        );
        assert_eq!(headers["x-kaa-sdk-cache"], "miss");
        let bytes = response.bytes().await.unwrap();
        let files = entries(&bytes);
        let top = format!("kaa-{target}-sdk-{token}/");
        assert!(
            files.iter().all(|(path, _)| path.starts_with(&top)),
            "{target}: one top folder"
        );
        let text: String = files
            .iter()
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
            .collect();
        assert!(
            text.contains(token.as_str()),
            "{target}: the SDK token is baked in"
        );
        assert!(
            files.iter().any(|(p, _)| p.ends_with("README.md")),
            "{target}: a README"
        );
        println!(
            "{target} SDK: {} files, {} bytes, generated in {} ms",
            files.len(),
            bytes.len(),
            elapsed.as_millis()
        );
        // Unchanged: the same bytes from the cache.
        let again = fixture.download(target).await;
        assert_eq!(again.headers()["x-kaa-sdk-cache"], "hit");
        assert_eq!(again.bytes().await.unwrap(), bytes);
    }

    // A new default configuration is a new archive.
    fixture.set_greeting("hello-cache").await;
    assert_eq!(
        fixture.download("c").await.headers()["x-kaa-sdk-cache"],
        "miss"
    );

    // Bad requests name the field; roles.
    let path = format!("{}/sdk-profiles/{}/sdk", fixture.app, fixture.profile_id);
    expect_field(
        &fixture.developer.get(&format!("{path}?target=java")).await,
        422,
        "target",
    );
    expect_field(&fixture.developer.get(&path).await, 422, "target");
    expect(
        &fixture
            .developer
            .get(&format!(
                "{}/sdk-profiles/nope/sdk?target=rust",
                fixture.app
            ))
            .await,
        404,
    );
    let boss = ApiClient::login(&base, "boss", PASSWORD).await;
    let reply = boss
        .raw(
            reqwest::Method::GET,
            &format!("{path}?target=rust"),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 200, "a TENANT_ADMIN downloads");
    expect(
        &boss
            .post(
                "/api/v1/users",
                json!({"username": "viewer", "password": PASSWORD, "role": "TENANT_USER"}),
            )
            .await,
        201,
    );
    let viewer = ApiClient::login(&base, "viewer", PASSWORD).await;
    expect(&viewer.get(&format!("{path}?target=rust")).await, 403);
    let admin = ApiClient::login(&base, "admin", PASSWORD).await;
    expect(&admin.get(&format!("{path}?target=rust")).await, 403);
    expect(&anonymous.get(&format!("{path}?target=rust")).await, 401);
}

#[tokio::test]
async fn sdk_profiles_keep_a_kaa_token_given_to_them() {
    let fixture = SdkFixture::start().await;
    let profiles = format!("{}/sdk-profiles", fixture.app);
    let kaa_token = "sfmPWHLtbCzEP-xD9RF-RACdmmE";
    let created = fixture
        .developer
        .post(
            &profiles,
            json!({"name": "migrated", "sdk_token": kaa_token}),
        )
        .await;
    expect(&created, 201);
    assert_eq!(created.body["sdk_token"], kaa_token);
    let taken = fixture
        .developer
        .post(&profiles, json!({"name": "again", "sdk_token": kaa_token}))
        .await;
    expect_field(&taken, 409, "sdk_token");
    for bad in ["", "has space", "../x", &"x".repeat(65)] {
        expect_field(
            &fixture
                .developer
                .post(&profiles, json!({"name": "bad", "sdk_token": bad}))
                .await,
            422,
            "sdk_token",
        );
    }
}

/// PEM text of `der` under `label`.
fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn a_kaa_fleet_keeps_working_with_its_servers_key_and_token_imported() {
    // The old server's key pair, as Kaa kept it, and the token its SDKs carry.
    let scratch = tempfile::tempdir().unwrap();
    let kaa_keys = KeyPair::generate().unwrap();
    let public_der = kaa_keys.public_key().to_der().to_vec();
    let private_file = scratch.path().join("server.private.pem");
    let public_file = scratch.path().join("server.public.pem");
    std::fs::write(
        &private_file,
        pem("PRIVATE KEY", &kaa_keys.private_key_der().unwrap()),
    )
    .unwrap();
    std::fs::write(&public_file, pem("PUBLIC KEY", &public_der)).unwrap();
    let data_dir = scratch.path().join("data");
    let output = std::process::Command::new(kaa_tests::node::binary())
        .args(["keys", "import", "--private"])
        .arg(&private_file)
        .arg("--public")
        .arg(&public_file)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(&STANDARD.encode(&public_der)), "{report}");
    // A second, different key is refused without --replace.
    let other = scratch.path().join("other.der");
    std::fs::write(
        &other,
        KeyPair::generate().unwrap().private_key_der().unwrap(),
    )
    .unwrap();
    let refused = std::process::Command::new(kaa_tests::node::binary())
        .args(["keys", "import", "--private"])
        .arg(&other)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--replace"));

    let node = NodeBuilder::standalone_with_admin(PASSWORD)
        .set("node.data_dir", data_dir.display())
        .start()
        .await;
    let base = format!("http://{}", node.admin);
    let (developer, app) = new_application(&base, PASSWORD, "movers", "fleet").await;
    let kaa_token = "kX3m7Qp2ZtR8vY1nB4cD6fG9hJw";
    expect(
        &developer
            .post(
                &format!("{app}/sdk-profiles"),
                json!({"name": "fleet", "sdk_token": kaa_token}),
            )
            .await,
        201,
    );
    let cluster = developer.get("/api/v1/cluster").await;
    for service in ["bootstrap", "operations"] {
        for transport in cluster.body["nodes"][0][service]["transports"]
            .as_array()
            .unwrap()
        {
            assert_eq!(
                transport["public_key"],
                STANDARD.encode(&public_der),
                "{service}"
            );
        }
    }

    // A device of the old fleet: the old server's key and token, nothing else.
    let state = scratch.path().join("device");
    let mut config = endpoint_config(&[&node], kaa_token, "", &state);
    config.bootstrap[0].public_key = Some(public_der.clone());
    let mut device = KaaClient::start(config).unwrap();
    wait_event(&mut device, Duration::from_secs(60), "a session", |e| {
        matches!(e, Event::Connected(_)).then_some(())
    })
    .await;
    let key = URL_SAFE_NO_PAD.encode(device.key_hash());
    let endpoint = developer.get(&format!("{app}/endpoints/{key}")).await;
    expect(&endpoint, 200);
    assert_eq!(endpoint.body["sdk_token"], kaa_token);
    device.stop().await;
}
