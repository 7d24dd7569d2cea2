//! Addresses of the servers `deploy/local/infra.sh up` starts, overridable through the
//! environment for other setups.

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// ZooKeeper connect string (`KAA_TEST_ZOOKEEPER`).
pub fn zookeeper() -> String {
    env_or("KAA_TEST_ZOOKEEPER", "127.0.0.1:2181")
}

/// The ZooKeeper digest credentials (`zookeeper.auth`) every cluster-mode test node gets.
pub const ZOOKEEPER_AUTH: &str = "kaa-tests:kaa-tests-zookeeper-secret";

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

/// Makes sure `server` runs, once per test process: `deploy/local/infra.sh up <server>`, which
/// installs it when missing and leaves a server that answers alone. Tests calling this at the same
/// time wait for one run of the script. Fails the test, with the script's output, if the server
/// cannot be started.
pub fn ensure_up(server: &'static str) {
    static UP: std::sync::Mutex<Vec<&str>> = std::sync::Mutex::new(Vec::new());
    let mut up = UP.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if up.contains(&server) {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/infra.sh");
    let output = std::process::Command::new("bash")
        .args([script, "up", server])
        .output()
        .expect("run deploy/local/infra.sh");
    assert!(
        output.status.success(),
        "deploy/local/infra.sh up {server} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    up.push(server);
}

/// A name no other test of any run uses: `kaa_test_<pid>_<time>_<n>`, letters, digits and `_`
/// only, at most 40 characters (fits SQL database, Cassandra keyspace and MongoDB database names).
pub fn unique_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "kaa_test_{}_{}_{n}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

/// A fresh, empty database on the SQL server behind `base_url` (a URL ending in `/<database>`),
/// dropped when the guard is.
pub async fn fresh_database(base_url: &str, server: &str) -> FreshDatabase {
    let admin = kaa_store::sql::SqlDatabase::connect(base_url, 1)
        .await
        .unwrap_or_else(|e| panic!("{}", unreachable(server, e)));
    let name = unique_name();
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

/// A session on the server of [`cassandra`]; panics naming the server if it does not answer.
async fn cassandra_session() -> scylla::client::session::Session {
    scylla::client::session_builder::SessionBuilder::new()
        .known_node(cassandra())
        .connection_timeout(std::time::Duration::from_secs(5))
        .build()
        .await
        .unwrap_or_else(|e| panic!("{}", unreachable("cassandra", e)))
}

/// A Cassandra keyspace name no test uses yet, on the server of [`cassandra`] (which must answer
/// now). The keyspace does not exist: the code under test creates it; [`FreshKeyspace::drop`]
/// removes it.
pub async fn fresh_keyspace() -> FreshKeyspace {
    let session = cassandra_session().await;
    FreshKeyspace {
        name: unique_name(),
        session,
    }
}

/// A keyspace name made for one test; see [`fresh_keyspace`].
pub struct FreshKeyspace {
    /// The keyspace.
    pub name: String,
    session: scylla::client::session::Session,
}

impl FreshKeyspace {
    /// Drops the keyspace if it was created.
    pub async fn drop(self) {
        let statement = format!("DROP KEYSPACE IF EXISTS {}", self.name);
        if let Err(error) = self.session.query_unpaged(statement, &[]).await {
            eprintln!("could not drop test keyspace {}: {error}", self.name);
        }
    }
}

/// The `replication` options of keyspace `name` on the server of [`cassandra`]: `class` (e.g.
/// `org.apache.cassandra.locator.NetworkTopologyStrategy`) and the replicas per datacenter (or
/// `replication_factor`); empty when the keyspace does not exist.
pub async fn keyspace_replication(name: &str) -> std::collections::HashMap<String, String> {
    let session = cassandra_session().await;
    let rows = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (name,),
        )
        .await
        .expect("read system_schema.keyspaces")
        .into_rows_result()
        .expect("rows");
    rows.maybe_first_row::<(std::collections::HashMap<String, String>,)>()
        .expect("replication map")
        .map(|(replication,)| replication)
        .unwrap_or_default()
}

/// A MongoDB database name no test uses yet, on the server of [`mongodb`] (which must answer
/// now). [`FreshMongoDatabase::drop`] removes whatever the test created in it.
pub async fn fresh_mongo_database() -> FreshMongoDatabase {
    let client = mongodb::Client::with_uri_str(mongodb())
        .await
        .unwrap_or_else(|e| panic!("{}", unreachable("mongodb", e)));
    client
        .database("admin")
        .run_command(mongodb::bson::doc! { "ping": 1 })
        .await
        .unwrap_or_else(|e| panic!("{}", unreachable("mongodb", e)));
    FreshMongoDatabase {
        name: unique_name(),
        client,
    }
}

/// A MongoDB database made for one test; see [`fresh_mongo_database`].
pub struct FreshMongoDatabase {
    /// The database.
    pub name: String,
    client: mongodb::Client,
}

impl FreshMongoDatabase {
    /// Drops the database.
    pub async fn drop(self) {
        if let Err(error) = self.client.database(&self.name).drop().await {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// A server of one test's own, run by `deploy/local/infra.sh` with its own run directory (its
/// `KAA_INFRA_DIR`) and its own ports and sizes (`env`), for a test that stops or freezes a
/// server while other tests use the shared one: what [`PrivateCassandra`], [`PrivatePostgres`]
/// and [`PrivateMongo`] share. Only one of each kind exists at a time in a test process (`kind`
/// waits for the one before to be dropped). Dropping it stops the server and removes its files.
struct PrivateServer {
    server: &'static str,
    env: Vec<(&'static str, String)>,
    dir: tempfile::TempDir,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl PrivateServer {
    /// Starts a fresh `server` answering on `port` (waiting while this process holds another of
    /// its kind); fails if something else listens on `port` already (a private server an
    /// interrupted run left behind).
    fn start(
        server: &'static str,
        kind: &'static std::sync::Mutex<()>,
        port: u16,
        env: Vec<(&'static str, String)>,
    ) -> Self {
        let guard = kind.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is taken: a private {server} of an interrupted run?"
        );
        let private = Self {
            server,
            env,
            dir: tempfile::tempdir().expect("a private server's dir"),
            _one_at_a_time: guard,
        };
        private.up();
        private
    }

    /// Starts the server (again), keeping its data; returns once it answers.
    fn up(&self) {
        self.run("up").unwrap_or_else(|error| panic!("{error}"));
    }

    /// Stops the server as an operator would; returns once it has exited.
    fn down(&self) {
        self.run("down").unwrap_or_else(|error| panic!("{error}"));
    }

    /// Runs `deploy/local/infra.sh <action> <server>` on this instance. A failure names the
    /// command and carries the script's output.
    fn run(&self, action: &str) -> Result<(), String> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/infra.sh");
        let output = std::process::Command::new("bash")
            .args([script, action, self.server])
            .env("KAA_INFRA_DIR", self.dir.path())
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .output()
            .map_err(|e| format!("cannot run deploy/local/infra.sh: {e}"))?;
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "deploy/local/infra.sh {action} {} (private instance) failed:\n{}{}",
            self.server,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // Not a panic here: the test may be unwinding already.
        if let Err(error) = self.run("down") {
            eprintln!("{error}");
        }
        // Run files reached through a link (PostgreSQL's live under /var/tmp when the temporary
        // dir is closed to the postgres user: deploy/local/servers/postgresql.sh) go too.
        let link = self.dir.path().join(self.server);
        if let Ok(target) = std::fs::read_link(&link)
            && let Some(parent) = target.parent()
        {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

/// A Cassandra node of one test's own: `deploy/local/infra.sh up cassandra` with its own ports
/// (CQL 19042, storage 17000, JMX 17199) and run directory; see [`PrivateServer`]. Stopped
/// (SIGTERM, as an operator would) by [`PrivateCassandra::down`] and when dropped.
pub struct PrivateCassandra(PrivateServer);

impl PrivateCassandra {
    /// CQL port of the private node.
    pub const CQL_PORT: u16 = 19042;

    /// Starts a fresh node (waiting while another test of this process holds one) and waits
    /// until it answers CQL.
    pub fn start() -> Self {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let env = vec![
            ("CASSANDRA_CQL_PORT", Self::CQL_PORT.to_string()),
            ("CASSANDRA_STORAGE_PORT", "17000".to_owned()),
            ("CASSANDRA_JMX_PORT", "17199".to_owned()),
            ("CASSANDRA_HEAP", "512M".to_owned()),
        ];
        Self(PrivateServer::start(
            "cassandra",
            &ONE_AT_A_TIME,
            Self::CQL_PORT,
            env,
        ))
    }

    /// `host:port` of the node's CQL transport.
    pub fn contact_point(&self) -> String {
        format!("127.0.0.1:{}", Self::CQL_PORT)
    }

    /// Starts the node (again), keeping its data; returns once it answers CQL.
    pub fn up(&self) {
        self.0.up();
    }

    /// Stops the node; returns once the process has exited.
    pub fn down(&self) {
        self.0.down();
    }

    /// The node's process id, from its pid file (to freeze it with SIGSTOP).
    pub fn pid(&self) -> i32 {
        let file = self.0.dir.path().join("cassandra").join("cassandra.pid");
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
            .trim()
            .parse()
            .expect("a process id in the pid file")
    }
}

/// A PostgreSQL server of one test's own, for a test that stops its metadata database:
/// `deploy/local/infra.sh up postgresql` on port [`PrivatePostgres::PORT`] with its own run
/// directory, role and database `kaa` as on the shared one; see [`PrivateServer`].
/// [`PrivatePostgres::down`] stops it as an operator would (`pg_ctl stop -m fast`: sessions are
/// ended, committed work is kept).
pub struct PrivatePostgres(PrivateServer);

impl PrivatePostgres {
    /// The port of the private server.
    pub const PORT: u16 = 15432;

    /// Starts a fresh server (waiting while another test of this process holds one) and returns
    /// once it answers.
    pub fn start() -> Self {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let env = vec![("PG_PORT", Self::PORT.to_string())];
        Self(PrivateServer::start(
            "postgresql",
            &ONE_AT_A_TIME,
            Self::PORT,
            env,
        ))
    }

    /// URL of its `kaa` database.
    pub fn url(&self) -> String {
        format!("postgres://kaa:kaa@127.0.0.1:{}/kaa", Self::PORT)
    }

    /// Starts the server (again), keeping its data; returns once it answers.
    pub fn up(&self) {
        self.0.up();
    }

    /// Stops the server (fast shutdown); returns once it has exited.
    pub fn down(&self) {
        self.0.down();
    }

    /// The server's processes: the postmaster (from its pid file) and every process it started
    /// (a backend per connection, the background workers), to freeze all of them.
    pub fn pids(&self) -> Vec<i32> {
        let file = self.0.dir.path().join("postgresql/data/postmaster.pid");
        let postmaster: i32 = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
            .lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .expect("a process id on the pid file's first line");
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces, so read after its last ')'.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<i32>().ok());
            if parent == Some(postmaster) {
                pids.push(pid);
            }
        }
        pids
    }
}

/// Processes stopped with SIGSTOP: they keep their connections open and answer nothing, as a
/// stalled server or a hung disk does. Continued (SIGCONT) by [`Frozen::thaw`] or when dropped,
/// so a failing test does not leave them frozen.
pub struct Frozen(Vec<nix::unistd::Pid>);

impl Frozen {
    /// Stops every process of `pids`.
    pub fn freeze(pids: &[i32]) -> Self {
        let pids: Vec<_> = pids
            .iter()
            .map(|&pid| nix::unistd::Pid::from_raw(pid))
            .collect();
        for &pid in &pids {
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP)
                .unwrap_or_else(|e| panic!("SIGSTOP {pid}: {e}"));
        }
        Self(pids)
    }

    /// Continues them.
    pub fn thaw(self) {}
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        }
    }
}

/// A MongoDB-wire server (FerretDB) of one test's own, for a test that stops its log storage:
/// `deploy/local/infra.sh up mongodb` on port [`PrivateMongo::PORT`] with its own run directory;
/// see [`PrivateServer`]. Stopped (SIGTERM, as an operator would) by [`PrivateMongo::down`] and
/// when dropped.
pub struct PrivateMongo(PrivateServer);

impl PrivateMongo {
    /// The port of the private server.
    pub const PORT: u16 = 17017;

    /// Starts a fresh server (waiting while another test of this process holds one) and returns
    /// once it answers a ping.
    pub fn start() -> Self {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let env = vec![("MONGODB_PORT", Self::PORT.to_string())];
        Self(PrivateServer::start(
            "mongodb",
            &ONE_AT_A_TIME,
            Self::PORT,
            env,
        ))
    }

    /// Its `mongodb://` URL, with the short server selection of [`mongodb`].
    pub fn url(&self) -> String {
        format!(
            "mongodb://127.0.0.1:{}/?serverSelectionTimeoutMS=5000",
            Self::PORT
        )
    }

    /// Starts the server (again), keeping its data; returns once it answers.
    pub fn up(&self) {
        self.0.up();
    }

    /// Stops the server; returns once the process has exited.
    pub fn down(&self) {
        self.0.down();
    }
}
