//! Connections to the SQL databases kaa-rs supports: PostgreSQL, MariaDB/MySQL and SQLite, chosen
//! by the URL scheme (`postgres://`, `mysql://`, `sqlite://`).
//!
//! The stores built on these connections write every statement once, with `?` placeholders
//! (`SqlDatabase::statement` adapts them), and every migration once, with `${...}` slots for the
//! column types that differ between dialects (`SqlDatabase::migrate` fills them in).

use std::borrow::Cow;
use std::time::Duration;

use futures::future::BoxFuture;
use kaa_model::health::Probe;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, SqlSafeStr};

use crate::{StoreError, Timeouts};

/// The SQL dialect behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MariaDB or MySQL.
    MySql,
    /// SQLite, the embedded default of standalone nodes.
    Sqlite,
}

impl Dialect {
    /// Recognises the dialect from a connection URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::MySql),
            "sqlite" => Ok(Dialect::Sqlite),
            _ => Err(StoreError::Config(format!(
                "unsupported SQL URL scheme {scheme:?}: expected postgres://, mysql:// or sqlite://"
            ))),
        }
    }
}

/// A pool of connections to one SQL database.
#[derive(Debug, Clone)]
pub struct SqlDatabase {
    pool: AnyPool,
    dialect: Dialect,
    timeouts: Timeouts,
}

impl SqlDatabase {
    /// The URL the driver is given for `url`, and its dialect.
    fn driver_url(url: &str) -> Result<(Dialect, String), StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url)?;
        let url = match dialect {
            // `mariadb://` is our alias; the driver knows only `mysql://`.
            Dialect::MySql => url.replacen("mariadb://", "mysql://", 1),
            Dialect::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_owned(),
        };
        Ok((dialect, url))
    }

    /// Opens one connection to `url` and runs `SELECT 1`, failing with the first error (a pool
    /// retries refused connections until its timeout, which hides why): for checking that a
    /// database answers before a node starts.
    pub async fn check(url: &str) -> Result<(), StoreError> {
        use sqlx::Connection as _;
        let (_, url) = Self::driver_url(url)?;
        let mut connection = sqlx::AnyConnection::connect(&url).await?;
        sqlx::query("SELECT 1").execute(&mut connection).await?;
        connection.close().await?;
        Ok(())
    }

    /// Connects to `url` with the default [`Timeouts`]; see [`SqlDatabase::connect_with`].
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, Timeouts::default()).await
    }

    /// Connects to `url`; for SQLite the database file is created when missing and put in
    /// write-ahead-log mode.
    ///
    /// WAL (a setting of the file, kept once made): readers go on while one writer commits, and
    /// a commit is one append to the log, synced, instead of a rollback journal created, synced
    /// and deleted around every write while every reader waits. `synchronous` stays `FULL`, so
    /// a commit is on disk when it returns, as before. Node start is the one moment nothing
    /// else uses the file (switching needs it to itself).
    ///
    /// Waiting for a pooled connection (connecting included) is bounded by `timeouts.connect`
    /// (on SQLite by `timeouts.request`, if longer: there it is only queueing);
    /// each statement on PostgreSQL and MariaDB by `timeouts.request`, which the server
    /// enforces on every connection of the pool ([`statement_timeout`]).
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        timeouts: Timeouts,
    ) -> Result<Self, StoreError> {
        let (dialect, url) = Self::driver_url(url)?;
        let limit = statement_timeout(dialect, timeouts.request);
        // An embedded database is never unreachable: waiting for one of its connections is only
        // queueing behind other writes (a burst of pushes after a configuration change), which
        // the request timeout bounds as it bounds the call itself.
        let acquire = match dialect {
            Dialect::Sqlite => timeouts.request.max(timeouts.connect),
            Dialect::Postgres | Dialect::MySql => timeouts.connect,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire)
            // An embedded database's connection cannot have dropped: no ping before each use.
            .test_before_acquire(dialect != Dialect::Sqlite)
            .after_connect(move |connection, _| {
                let limit = limit.clone();
                Box::pin(async move {
                    if let Some(statement) = limit {
                        // MySQL names the variable otherwise: its statements run unbounded.
                        if let Err(error) = sqlx::query(AssertSqlSafe(statement))
                            .execute(&mut *connection)
                            .await
                        {
                            tracing::debug!(%error, "statement timeout not set");
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self {
            pool,
            dialect,
            timeouts,
        })
    }

    /// The dialect of this database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The longest one call on this database may take as its caller sees it: the wait for a
    /// pooled connection and one statement's limit. The server enforces the statement limit,
    /// but a server that keeps its connections open and answers nothing (frozen, or cut off
    /// without a reset) does not: callers bound their calls by this.
    pub fn call_limit(&self) -> Duration {
        self.timeouts.connect + self.timeouts.request
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// `text` with its `?` placeholders in the dialect's syntax (`$1`, `$2`… for PostgreSQL).
    /// `text` must be built from literals only: it is asserted to be safe SQL.
    pub(crate) fn statement(
        &self,
        text: impl Into<Cow<'static, str>>,
    ) -> AssertSqlSafe<Cow<'static, str>> {
        let text = text.into();
        if self.dialect != Dialect::Postgres {
            return AssertSqlSafe(text);
        }
        let mut out = String::with_capacity(text.len() + 8);
        let mut n = 0;
        for c in text.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        AssertSqlSafe(Cow::Owned(out))
    }

    /// Brings one set of migrations, `(version, description, script)` in order, up to date; the
    /// applied versions are recorded in `table`, so independent sets can share a database.
    ///
    /// Before a script runs, its type slots become the dialect's types:
    ///
    /// | slot | PostgreSQL | MariaDB | SQLite |
    /// |---|---|---|---|
    /// | `${long_text}` | `TEXT` | `MEDIUMTEXT` | `TEXT` |
    /// | `${bytes}` (large binary) | `BYTEA` | `MEDIUMBLOB` | `BLOB` |
    /// | `${key_bytes}` (short binary, indexable) | `BYTEA` | `VARBINARY(64)` | `BLOB` |
    /// | `${table_options}` (after a table's `)`) | | exact (binary) text comparison | |
    pub(crate) async fn migrate(
        &self,
        table: &'static str,
        migrations: &[(i64, &'static str, &'static str)],
    ) -> Result<(), StoreError> {
        let slots: [(&str, &str); 4] = match self.dialect {
            Dialect::Postgres => [
                ("${long_text}", "TEXT"),
                ("${bytes}", "BYTEA"),
                ("${key_bytes}", "BYTEA"),
                ("${table_options}", ""),
            ],
            Dialect::MySql => [
                ("${long_text}", "MEDIUMTEXT"),
                ("${bytes}", "MEDIUMBLOB"),
                ("${key_bytes}", "VARBINARY(64)"),
                (
                    "${table_options}",
                    " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                ),
            ],
            Dialect::Sqlite => [
                ("${long_text}", "TEXT"),
                ("${bytes}", "BLOB"),
                ("${key_bytes}", "BLOB"),
                ("${table_options}", ""),
            ],
        };
        let migrations = migrations
            .iter()
            .map(|(version, description, script)| {
                let sql = slots
                    .iter()
                    .fold(script.to_string(), |sql, (slot, ty)| sql.replace(slot, ty));
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect();
        let mut migrator = Migrator::with_migrations(migrations);
        migrator.dangerous_set_table_name(table);
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Runs a trivial query: succeeds only if the database answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// A readiness probe named `name` that pings this database.
    pub fn probe(&self, name: &'static str) -> SqlProbe {
        SqlProbe {
            name,
            database: self.clone(),
        }
    }
}

/// The statement that bounds each statement of a connection to `limit` on the server, if the
/// dialect has one (SQLite is embedded: it cannot go silent apart from the node).
fn statement_timeout(dialect: Dialect, limit: Duration) -> Option<String> {
    match dialect {
        Dialect::Postgres => Some(format!("SET statement_timeout = {}", limit.as_millis())),
        Dialect::MySql => Some(format!(
            "SET SESSION max_statement_time = {}",
            limit.as_secs_f64()
        )),
        Dialect::Sqlite => None,
    }
}

/// Readiness of one SQL database.
pub struct SqlProbe {
    name: &'static str,
    database: SqlDatabase,
}

impl Probe for SqlProbe {
    fn name(&self) -> &str {
        self.name
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.database.ping().await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readers must not wait for every write (rollback-journal mode locks them out): a SQLite
    /// database is in WAL mode once a node connected to it, and stays so.
    #[tokio::test]
    async fn a_sqlite_database_is_in_write_ahead_log_mode() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let file = std::env::temp_dir().join(format!("kaa-wal-{}-{nanos}.db", std::process::id()));
        let url = format!("sqlite://{}", file.display());
        let database = SqlDatabase::connect(&url, 2).await.unwrap();
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(database.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        database.pool().close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }

    #[test]
    fn statements_are_bounded_on_the_server_in_each_dialects_terms() {
        let limit = Duration::from_millis(2500);
        assert_eq!(
            statement_timeout(Dialect::Postgres, limit).as_deref(),
            Some("SET statement_timeout = 2500")
        );
        assert_eq!(
            statement_timeout(Dialect::MySql, limit).as_deref(),
            Some("SET SESSION max_statement_time = 2.5")
        );
        assert_eq!(statement_timeout(Dialect::Sqlite, limit), None);
    }

    #[test]
    fn dialect_follows_the_url_scheme() {
        for (url, dialect) in [
            ("postgres://u@h/db", Dialect::Postgres),
            ("postgresql://u@h/db", Dialect::Postgres),
            ("mysql://u@h/db", Dialect::MySql),
            ("mariadb://u@h/db", Dialect::MySql),
            ("sqlite:///tmp/x.db", Dialect::Sqlite),
        ] {
            assert_eq!(Dialect::from_url(url).unwrap(), dialect, "{url}");
        }
        assert!(Dialect::from_url("oracle://h").is_err());
        assert!(Dialect::from_url("no scheme").is_err());
    }
}
