//! Addresses of the servers `deploy/local/infra.sh up` starts, overridable through the
//! environment for other setups.

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// ZooKeeper connect string (`KAA_TEST_ZOOKEEPER`).
pub fn zookeeper() -> String {
    env_or("KAA_TEST_ZOOKEEPER", "127.0.0.1:2181")
}

/// PostgreSQL URL of the `kaa` database (`KAA_TEST_POSTGRES`).
pub fn postgres() -> String {
    env_or("KAA_TEST_POSTGRES", "postgres://kaa:kaa@127.0.0.1:5432/kaa")
}

/// MariaDB URL of the `kaa` database (`KAA_TEST_MARIADB`).
pub fn mariadb() -> String {
    env_or("KAA_TEST_MARIADB", "mysql://kaa:kaa@127.0.0.1:3306/kaa")
}

/// Cassandra contact point (`KAA_TEST_CASSANDRA`).
pub fn cassandra() -> String {
    env_or("KAA_TEST_CASSANDRA", "127.0.0.1:9042")
}

/// MongoDB-wire server URL (`KAA_TEST_MONGODB`); short server selection so a missing server
/// fails in seconds.
pub fn mongodb() -> String {
    env_or(
        "KAA_TEST_MONGODB",
        "mongodb://127.0.0.1:27017/?serverSelectionTimeoutMS=5000",
    )
}

/// The message a test fails with when `server` does not answer.
pub fn unreachable(server: &str, error: impl std::fmt::Display) -> String {
    format!(
        "{server} is not reachable ({error}); start it with `deploy/local/infra.sh up {server}` \
         (the README's test command does this)"
    )
}

/// Tests that stop or restart ZooKeeper take this lock exclusively; every other test that needs
/// ZooKeeper holds it shared, so an outage test never pulls the server from under them.
pub static ZOOKEEPER_LOCK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Runs `deploy/local/infra.sh <action> <server>` and fails the test if it fails.
pub fn infra(action: &str, server: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/infra.sh");
    let status = std::process::Command::new("bash")
        .args([script, action, server])
        .status()
        .expect("run deploy/local/infra.sh");
    assert!(
        status.success(),
        "deploy/local/infra.sh {action} {server} failed"
    );
}

/// A fresh, empty database on the SQL server behind `base_url` (a URL ending in `/<database>`),
/// dropped when the guard is.
pub async fn fresh_database(base_url: &str, server: &str) -> FreshDatabase {
    let admin = kaa_store::sql::SqlDatabase::connect(base_url, 1)
        .await
        .unwrap_or_else(|e| panic!("{}", unreachable(server, e)));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("kaa_test_{}_{}", std::process::id(), nanos % 1_000_000_000);
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .expect("create database");
    let (prefix, _) = base_url.rsplit_once('/').expect("url ends in a database");
    FreshDatabase {
        url: format!("{prefix}/{name}"),
        name,
        admin,
    }
}

/// A database made for one test; see [`fresh_database`].
pub struct FreshDatabase {
    /// Its URL.
    pub url: String,
    name: String,
    admin: kaa_store::sql::SqlDatabase,
}

impl FreshDatabase {
    /// Drops the database (after its users disconnected).
    pub async fn drop(self) {
        let force = match self.admin.dialect() {
            kaa_store::sql::Dialect::Postgres => " WITH (FORCE)",
            _ => "",
        };
        let statement = format!("DROP DATABASE {}{force}", self.name);
        if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(self.admin.pool())
            .await
        {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}
