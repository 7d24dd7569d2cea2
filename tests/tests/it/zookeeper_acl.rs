//! ZooKeeper authentication and ACLs with a real cluster node and a real ZooKeeper.
//!
//! A node authenticates with the cluster's digest credentials (`zookeeper.auth`), and every znode
//! it creates can be changed only with them. A ZooKeeper client without them, or with wrong ones,
//! can read the public Operations and Bootstrap records but can create, change and delete nothing
//! under the chroot, so it cannot register an Operations node that Bootstrap would hand to devices.
//! An open chroot left by an older cluster is restricted when a node starts; a node with other
//! credentials stops; a node without any refuses to start unless open ACLs are asked for.

use std::time::Duration;

use kaa_sdk::bootstrap::fetch_servers;
use kaa_sdk::channel::Security;
use kaa_tests::api::new_application;
use kaa_tests::infra::{self, ZOOKEEPER_AUTH, ZOOKEEPER_LOCK};
use kaa_tests::node::{Node, NodeBuilder};
use serde_json::json;
use zookeeper_client as zk;

use crate::unique;

const PASSWORD: &str = "guard-the-tree-1";

/// A cluster node with every service, on SQLite, whose first admin is `admin`.
fn node(chroot: &str, id: &str) -> NodeBuilder {
    NodeBuilder::cluster_member(chroot, id, PASSWORD)
        .set("sql.url", "sqlite://{data_dir}/metadata.db")
        .set("endpoint_store.backend", "sql")
        .set("endpoint_store.url", "sqlite://{data_dir}/endpoints.db")
}

/// A ZooKeeper client under `chroot`, authenticated with `digest` if given.
async fn client(chroot: &str, digest: Option<&str>) -> zk::Client {
    let mut connector = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(4))
        .with_fail_eagerly();
    if let Some(credentials) = digest {
        connector = connector.with_auth("digest", credentials.as_bytes());
    }
    let root = connector
        .connect(&infra::zookeeper())
        .await
        .unwrap_or_else(|e| panic!("{}", infra::unreachable("zookeeper", e)));
    if chroot == "/" {
        return root;
    }
    root.chroot(chroot.to_owned())
        .unwrap_or_else(|_| panic!("chroot {chroot}"))
}

/// Waits until the node's own view lists `id` among Operations nodes and has a leader.
async fn wait_registered(node: &Node, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(view) = node.get_json("/cluster").await {
            let operations = view["operations"].as_array().cloned().unwrap_or_default();
            if operations.iter().any(|o| o["id"] == id) && !view["leader"].is_null() {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never registered:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything an outsider tries under the chroot of a running node `id`; each write must be
/// refused with NoAuth. Reads of the public records work, the private ones are refused.
async fn assert_outsider_cannot_write(outsider: &zk::Client, id: &str, who: &str) {
    let operations = format!("/operationsServerNodes/{id}");
    // The Operations records are public (Bootstrap hands them to devices anyway).
    let children = outsider
        .list_children("/operationsServerNodes")
        .await
        .unwrap_or_else(|e| panic!("{who}: list the public Operations records: {e}"));
    assert_eq!(children, [id.to_owned()], "{who}");
    let (record, _) = outsider
        .get_data(&operations)
        .await
        .unwrap_or_else(|e| panic!("{who}: read the public Operations record: {e}"));
    // Node descriptors and the leader's internode address are not.
    for private in [format!("/nodes/{id}"), "/controlServerNode".to_owned()] {
        assert_eq!(
            outsider.get_data(&private).await.unwrap_err(),
            zk::Error::NoAuth,
            "{who}: read {private}"
        );
    }

    let open = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    // A fake Operations node: the real record republished under another id.
    let refused = [
        (
            "register a fake Operations node",
            outsider
                .create("/operationsServerNodes/fake", &record, &open)
                .await
                .map(drop),
        ),
        (
            "register a fake Bootstrap node",
            outsider
                .create("/bootstrapServerNodes/fake", &record, &open)
                .await
                .map(drop),
        ),
        (
            "add a node descriptor",
            outsider.create("/nodes/fake", b"{}", &open).await.map(drop),
        ),
        (
            "create a znode in the chroot",
            outsider
                .create("/intruder", b"", &persistent)
                .await
                .map(drop),
        ),
        (
            "overwrite the real Operations record",
            outsider
                .set_data(&operations, b"forged", None)
                .await
                .map(drop),
        ),
        (
            "delete the real Operations record",
            outsider.delete(&operations, None).await,
        ),
        (
            "delete the leader lock",
            outsider.delete("/controlServerNode", None).await,
        ),
        (
            "open the Operations parent",
            outsider
                .set_acl("/operationsServerNodes", &zk::Acls::anyone_all(), None)
                .await
                .map(drop),
        ),
        (
            "open the chroot",
            outsider
                .set_acl("/", &zk::Acls::anyone_all(), None)
                .await
                .map(drop),
        ),
    ];
    for (what, outcome) in refused {
        assert_eq!(outcome, Err(zk::Error::NoAuth), "{who} must not {what}");
    }
    assert_eq!(
        outsider
            .list_children("/operationsServerNodes")
            .await
            .unwrap(),
        [id.to_owned()],
        "{who}: the Operations list is unchanged"
    );
}

#[tokio::test]
async fn a_client_without_the_cluster_credentials_cannot_write_under_the_chroot_nor_register_an_operations_node()
 {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("acl"));
    let mut real = node(&chroot, "real").spawn().unwrap();
    real.wait_for("/ready", 200, Duration::from_secs(60))
        .await
        .unwrap();
    wait_registered(&real, "real").await;

    let anonymous = client(&chroot, None).await;
    assert_outsider_cannot_write(&anonymous, "real", "a client without credentials").await;
    let wrong = client(&chroot, Some("kaa-tests:not-the-password")).await;
    assert_outsider_cannot_write(&wrong, "real", "a client with a wrong password").await;

    // The refusals are about the credentials: with the cluster's, the same writes go through.
    let insider = client(&chroot, Some(ZOOKEEPER_AUTH)).await;
    let options = zk::CreateMode::Ephemeral.with_acls(zk::Acls::creator_all());
    insider
        .create("/insider-probe", b"", &options)
        .await
        .expect("the cluster's credentials may write under the chroot");
    insider.delete("/insider-probe", None).await.unwrap();

    // Bootstrap still hands devices the real Operations node only.
    let base = format!("http://{}", real.admin);
    let (developer, app) = new_application(&base, PASSWORD, "acme", "meters").await;
    let sdk = developer
        .post(&format!("{app}/sdk-profiles"), json!({ "name": "v1" }))
        .await;
    assert_eq!(sdk.status, 201, "{:#}", sdk.body);
    let servers = fetch_servers(
        &format!("127.0.0.1:{}", real.port("bootstrap.tcp_port")),
        Security::Plain,
        sdk.body["sdk_token"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let mut ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    ports.sort();
    let mut real_ports = vec![
        real.port("operations.tcp_port"),
        real.port("operations.http_port"),
    ];
    real_ports.sort();
    assert_eq!(
        ports, real_ports,
        "bootstrap lists only the real node: {servers:?}"
    );
    assert!(real.is_running(), "{}", real.log());
}

#[tokio::test]
async fn an_open_chroot_left_by_an_older_cluster_is_restricted_when_a_node_starts() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("acl_upgrade"));
    // What an older kaa-rs (or Kaa) left behind: the layout, open to anyone.
    let root = client("/", None).await;
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    for parent in ["/nodes", "/operationsServerNodes", "/bootstrapServerNodes"] {
        root.mkdir(&format!("{chroot}{parent}"), &open)
            .await
            .unwrap();
    }

    let mut upgraded = node(&chroot, "upgraded").spawn().unwrap();
    upgraded
        .wait_for("/ready", 200, Duration::from_secs(60))
        .await
        .unwrap();
    wait_registered(&upgraded, "upgraded").await;

    let anyone = |acl: &[zk::Acl]| {
        acl.iter()
            .filter(|entry| *entry.auth_id() == zk::AuthId::anyone())
            .map(|entry| entry.permission())
            .collect::<Vec<_>>()
    };
    let public = [zk::Permission::READ];
    for (path, expected) in [
        (chroot.clone(), &public[..]),
        (format!("{chroot}/operationsServerNodes"), &public[..]),
        (format!("{chroot}/bootstrapServerNodes"), &public[..]),
        (format!("{chroot}/nodes"), &[][..]),
    ] {
        let (acl, _) = client("/", Some(ZOOKEEPER_AUTH))
            .await
            .get_acl(&path)
            .await
            .unwrap();
        assert_eq!(anyone(&acl), expected, "{path}: {acl:?}");
        assert!(
            acl.iter().any(
                |entry| entry.scheme() == "digest" && entry.permission() == zk::Permission::ALL
            ),
            "{path} belongs to the cluster's credentials: {acl:?}"
        );
    }
    assert!(
        upgraded
            .log()
            .contains("restricted it to the cluster's credentials"),
        "the node says it closed the open znodes:\n{}",
        upgraded.log()
    );
    let anonymous = client(&chroot, None).await;
    assert_outsider_cannot_write(&anonymous, "upgraded", "a client without credentials").await;
}

#[tokio::test]
async fn a_node_with_other_credentials_stops_instead_of_joining() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("acl_other"));
    let mut first = node(&chroot, "first").spawn().unwrap();
    first
        .wait_for("/ready", 200, Duration::from_secs(60))
        .await
        .unwrap();
    wait_registered(&first, "first").await;

    let mut stranger = node(&chroot, "stranger")
        .set("zookeeper.auth", "kaa-tests:another-password")
        .spawn()
        .unwrap();
    let status = stranger.wait_exit(Duration::from_secs(60)).await.unwrap();
    assert!(!status.success(), "a node with other credentials must stop");
    let log = stranger.log();
    assert!(
        log.contains("NoAuth") && log.contains("zookeeper.auth"),
        "the refusal names the cause:\n{log}"
    );
    let view = first.get_json("/cluster").await.unwrap();
    let nodes: Vec<&str> = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(nodes, ["first"], "the stranger never joined");
}

#[tokio::test]
async fn a_cluster_node_without_credentials_refuses_to_start_unless_open_acls_are_asked_for() {
    let _zk = ZOOKEEPER_LOCK.read().await;
    let chroot = format!("/{}", unique("acl_open"));
    let mut refused = node(&chroot, "bare")
        .set("zookeeper.auth", "")
        .spawn()
        .unwrap();
    let status = refused.wait_exit(Duration::from_secs(30)).await.unwrap();
    assert!(
        !status.success(),
        "a cluster node without credentials must not start"
    );
    let log = refused.log();
    assert!(
        log.contains("zookeeper.auth") && log.contains("insecure_open_acl"),
        "the refusal names the keys:\n{log}"
    );
    assert_eq!(
        client("/", None).await.check_stat(&chroot).await.unwrap(),
        None,
        "it never touched ZooKeeper"
    );

    let mut open = node(&chroot, "open")
        .set("zookeeper.auth", "")
        .set("zookeeper.insecure_open_acl", true)
        .spawn()
        .unwrap();
    open.wait_for("/ready", 200, Duration::from_secs(60))
        .await
        .unwrap();
    wait_registered(&open, "open").await;
    assert!(
        open.log().contains("insecure_open_acl is set"),
        "open ACLs are warned about at start:\n{}",
        open.log()
    );
    // What the flag means: anyone may add an Operations node.
    let anonymous = client(&chroot, None).await;
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    anonymous
        .create("/operationsServerNodes/anyone", b"", &ephemeral)
        .await
        .expect("open ACLs let anyone register");
}
