//! Connectivity smoke tests: each real server answers through the driver kaa-rs uses for it.

use std::time::Duration;

use kaa_tests::infra;

use crate::unique;

#[tokio::test]
async fn zookeeper_creates_and_deletes_an_ephemeral_znode() {
    let _zk = infra::ZOOKEEPER_LOCK.read().await;
    use zookeeper_client as zk;
    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(4))
        .with_fail_eagerly()
        .connect(&infra::zookeeper())
        .await
        .unwrap_or_else(|e| panic!("{}", infra::unreachable("zookeeper", e)));
    let path = format!("/{}", unique("smoke"));
    let options = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client
        .create(&path, b"hello", &options)
        .await
        .expect("create ephemeral znode");

    let (data, stat) = client.get_data(&path).await.expect("read znode");
    assert_eq!(data, b"hello");
    assert_eq!(
        stat.ephemeral_owner,
        client.session_id().0,
        "znode is owned by our session"
    );

    client.delete(&path, None).await.expect("delete znode");
    assert!(
        client.check_stat(&path).await.expect("stat").is_none(),
        "znode is gone"
    );
}

/// Creates a table, writes a row with a bound parameter and reads it back.
async fn sql_round_trip(url: &str, server: &str, placeholder: &str) {
    use sqlx::{AssertSqlSafe, Row};
    let database = kaa_store::sql::SqlDatabase::connect(url, 2)
        .await
        .unwrap_or_else(|e| panic!("{}", infra::unreachable(server, e)));
    database.ping().await.expect("ping");
    let table = unique("smoke");
    let pool = database.pool();
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL)"
    )))
    .execute(pool)
    .await
    .expect("create table");
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (id, name) VALUES (1, {placeholder})"
    )))
    .bind("kaa")
    .execute(pool)
    .await
    .expect("insert");
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT name FROM {table} WHERE id = 1"
    )))
    .fetch_one(pool)
    .await
    .expect("select");
    assert_eq!(row.get::<String, _>(0), "kaa");
    sqlx::query(AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(pool)
        .await
        .expect("drop table");
}

#[tokio::test]
async fn postgresql_runs_a_query_through_sqlx() {
    sql_round_trip(&infra::postgres(), "postgresql", "$1").await;
}

#[tokio::test]
async fn mariadb_runs_a_query_through_sqlx() {
    sql_round_trip(&infra::mariadb(), "mariadb", "?").await;
}

#[tokio::test]
async fn sqlite_runs_a_query_through_sqlx() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/smoke.db", dir.path().display());
    sql_round_trip(&url, "sqlite", "?").await;
    assert!(
        dir.path().join("smoke.db").exists(),
        "the database file was created"
    );
}

#[tokio::test]
async fn cassandra_creates_a_keyspace_and_round_trips_a_row() {
    use scylla::client::session_builder::SessionBuilder;
    let session = SessionBuilder::new()
        .known_node(infra::cassandra())
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap_or_else(|e| panic!("{}", infra::unreachable("cassandra", e)));
    let keyspace = unique("smoke");
    session
        .query_unpaged(
            format!(
                "CREATE KEYSPACE {keyspace} WITH replication = \
                 {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
            ),
            &[],
        )
        .await
        .expect("create keyspace");
    session
        .query_unpaged(
            format!("CREATE TABLE {keyspace}.endpoints (id text PRIMARY KEY, seq int)"),
            &[],
        )
        .await
        .expect("create table");
    session
        .query_unpaged(
            format!("INSERT INTO {keyspace}.endpoints (id, seq) VALUES (?, ?)"),
            ("ep-1", 42_i32),
        )
        .await
        .expect("insert");
    let rows = session
        .query_unpaged(
            format!("SELECT id, seq FROM {keyspace}.endpoints WHERE id = ?"),
            ("ep-1",),
        )
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows");
    let (id, seq): (String, i32) = rows.single_row().expect("one row");
    assert_eq!((id.as_str(), seq), ("ep-1", 42));
    session
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), &[])
        .await
        .expect("drop keyspace");
}

#[tokio::test]
async fn mongodb_wire_server_inserts_and_finds_a_document() {
    use mongodb::bson::{Document, doc};
    let client = mongodb::Client::with_uri_str(infra::mongodb())
        .await
        .expect("parse mongodb url");
    let database = client.database(&unique("smoke"));
    let collection = database.collection::<Document>("endpoints");
    collection
        .insert_one(doc! { "_id": "ep-1", "seq": 42 })
        .await
        .unwrap_or_else(|e| panic!("{}", infra::unreachable("mongodb", e)));
    let found = collection
        .find_one(doc! { "_id": "ep-1" })
        .await
        .expect("find")
        .expect("document");
    assert_eq!(found.get_i32("seq").expect("seq"), 42);
    database.drop().await.expect("drop database");
}
