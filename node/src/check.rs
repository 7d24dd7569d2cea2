//! `kaa-node check-deps`: whether the servers a configuration depends on answer, before the node
//! is started (the per-host setup runs it; operators run it when a node will not become ready).
//!
//! The dependencies are those [`crate::node`] opens for the enabled services: ZooKeeper in cluster
//! mode, and for Control or Operations the SQL metadata database and the endpoint store. Each is
//! reached with the node's own connection code and asked a real question (the cluster root's
//! children, `SELECT 1`, the endpoint store's ping), all at once, each within the timeout. One line
//! per dependency, secrets hidden:
//!
//! ```text
//! ok zookeeper 10.0.0.11:2181,10.0.0.12:2181 (12 ms)
//! FAILED sql postgres://kaa:***@10.0.0.11/kaa: connection refused
//! ```
//!
//! The SQL database is reached with one connection, not a pool, so a refused connection is
//! reported as such at once. As the node does, the ZooKeeper check creates the cluster's chroot
//! when it is missing (which also proves the credentials may). Embedded SQLite is only read, so a
//! check run as another user never creates a database file the node then cannot write.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::LocalBoxFuture;
use kaa_cluster::zookeeper::{ZkSettings, connect_once};
use kaa_model::redact;
use kaa_store::StoreError;
use kaa_store::endpoint::{EndpointBackend, EndpointStore};
use kaa_store::sql::{Dialect, SqlDatabase};

use crate::config::{Config, Mode};

/// What became of one dependency's check.
#[derive(Debug)]
pub struct Checked {
    /// `zookeeper`, `sql` or `endpoint-store`.
    pub name: &'static str,
    /// Where it was reached, secrets hidden.
    pub target: String,
    /// How long it took and what to add, or why it failed.
    pub outcome: Result<(Duration, Option<&'static str>), String>,
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            name,
            target,
            outcome,
        } = self;
        match outcome {
            Ok((elapsed, note)) => {
                write!(f, "ok {name} {target} ({} ms", elapsed.as_millis())?;
                match note {
                    Some(note) => write!(f, "; {note})"),
                    None => write!(f, ")"),
                }
            }
            Err(error) => write!(f, "FAILED {name} {target}: {}", redact::text(error)),
        }
    }
}

/// Checks every dependency of `config`'s services at once, each bounded by `timeout`, in the
/// order ZooKeeper, SQL, endpoint store.
pub async fn check_deps(config: &Config, timeout: Duration) -> Vec<Checked> {
    let mut checks: Vec<LocalBoxFuture<Checked>> = Vec::new();
    if config.node.mode == Mode::Cluster {
        let settings = ZkSettings {
            connect: config.zookeeper.connect.clone(),
            chroot: config.zookeeper.chroot.clone(),
            session_timeout: config.zookeeper.session_timeout,
            access: config.zookeeper.access(),
        };
        let target = config.zookeeper.connect.clone();
        checks.push(run("zookeeper", target, timeout, zookeeper(settings)).boxed_local());
    }
    // As `node::start_services`: Control and Operations both open the metadata database and the
    // endpoint store; Bootstrap needs neither.
    if config.control.enabled || config.operations.enabled {
        let url = config.expand(&config.sql.url);
        let target = redact::text(&url).into_owned();
        checks.push(run("sql", target, timeout, sql(url)).boxed_local());
        let backend = config.endpoint_backend();
        checks.push(
            run(
                "endpoint-store",
                describe(&backend),
                timeout,
                endpoint_store(backend),
            )
            .boxed_local(),
        );
    }
    futures::future::join_all(checks).await
}

type Outcome = Result<Option<&'static str>, String>;

/// Runs one check within `timeout`, timing it.
async fn run(
    name: &'static str,
    target: String,
    timeout: Duration,
    check: impl Future<Output = Outcome>,
) -> Checked {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, check).await {
        Ok(Ok(note)) => Ok((started.elapsed(), note)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(format!(
            "no answer within {}",
            humantime_serde::re::humantime::format_duration(timeout)
        )),
    };
    Checked {
        name,
        target,
        outcome,
    }
}

/// Opens a session as the node does (with its digest credentials) and lists the cluster root.
async fn zookeeper(settings: ZkSettings) -> Outcome {
    let client = connect_once(&settings).await.map_err(|e| e.to_string())?;
    client
        .get_children("/")
        .await
        .map_err(|e| format!("cannot read {}: {e}", settings.chroot))?;
    Ok(None)
}

/// Connects once to a SQL database and runs `SELECT 1`.
async fn sql(url: String) -> Outcome {
    let url = match embedded(&url)? {
        Embedded::Absent => return Ok(Some(ABSENT)),
        Embedded::ReadOnly(url) => url,
        Embedded::Server => url,
    };
    SqlDatabase::check(&url).await.map_err(message)?;
    Ok(None)
}

/// Connects to the endpoint store and pings it (Cassandra: the datacenter must be in the ring).
async fn endpoint_store(backend: EndpointBackend) -> Outcome {
    if let EndpointBackend::Sql { url } = backend {
        return sql(url).await;
    }
    let store = EndpointStore::connect(&backend).await.map_err(message)?;
    let answered = store.ping().await.map_err(message);
    store.close().await;
    answered.map(|()| None)
}

/// What an absent SQLite file is reported with.
const ABSENT: &str = "embedded, created on first start";

/// How a SQL URL is checked.
#[derive(Debug)]
enum Embedded {
    /// A database server: connect as the node does.
    Server,
    /// A SQLite file that exists: open it read-only (this URL).
    ReadOnly(String),
    /// A SQLite file not made yet, in a folder that exists.
    Absent,
}

fn embedded(url: &str) -> Result<Embedded, String> {
    if Dialect::from_url(url).map_err(message)? != Dialect::Sqlite {
        return Ok(Embedded::Server);
    }
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = Path::new(path);
    if path.exists() {
        let separator = if query.is_empty() { '?' } else { '&' };
        return Ok(Embedded::ReadOnly(if query.contains("mode=") {
            url.to_owned()
        } else {
            format!("{url}{separator}mode=ro")
        }));
    }
    match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() || dir.is_dir() => Ok(Embedded::Absent),
        Some(dir) => Err(format!("folder {} does not exist", dir.display())),
        None => Err("no database file in the URL".into()),
    }
}

/// Where an endpoint store lives, secrets hidden.
fn describe(backend: &EndpointBackend) -> String {
    match backend {
        EndpointBackend::Sql { url } => format!("sql {}", redact::text(url)),
        EndpointBackend::Cassandra {
            contact_points,
            keyspace,
            ..
        } => format!("cassandra {} keyspace {keyspace}", contact_points.join(",")),
        EndpointBackend::MongoDb { url, database } => {
            format!("mongodb {} database {database}", redact::text(url))
        }
    }
}

fn message(error: StoreError) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_ok_or_failed_with_secrets_hidden() {
        let ok = Checked {
            name: "zookeeper",
            target: "10.0.0.11:2181,10.0.0.12:2181".into(),
            outcome: Ok((Duration::from_millis(12), None)),
        };
        assert_eq!(
            ok.to_string(),
            "ok zookeeper 10.0.0.11:2181,10.0.0.12:2181 (12 ms)"
        );
        let failed = Checked {
            name: "sql",
            target: redact::text("postgres://kaa:secret@10.0.0.11/kaa").into_owned(),
            outcome: Err("cannot reach postgres://kaa:secret@10.0.0.11/kaa".into()),
        };
        let line = failed.to_string();
        assert!(
            line.starts_with("FAILED sql postgres://kaa:***@10.0.0.11/kaa: "),
            "{line}"
        );
        assert!(!line.contains("secret"), "{line}");
    }

    #[test]
    fn sqlite_files_are_read_only_and_absent_ones_are_not_created() {
        let dir = std::env::temp_dir().join(format!("kaa-check-deps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("metadata.db");
        let url = format!("sqlite://{}", file.display());
        assert!(matches!(embedded(&url), Ok(Embedded::Absent)));
        std::fs::write(&file, b"").unwrap();
        let Ok(Embedded::ReadOnly(read_only)) = embedded(&url) else {
            panic!("an existing file is opened read-only");
        };
        assert_eq!(read_only, format!("{url}?mode=ro"));
        let missing = format!("sqlite://{}/none/metadata.db", dir.display());
        assert!(embedded(&missing).unwrap_err().contains("does not exist"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            embedded("postgres://kaa@db/kaa"),
            Ok(Embedded::Server)
        ));
    }
}
