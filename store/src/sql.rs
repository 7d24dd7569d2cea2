//! Connections to the SQL databases kaa-rs supports: PostgreSQL, MariaDB/MySQL and SQLite, chosen
//! by the URL scheme (`postgres://`, `mysql://`, `sqlite://`).

use std::time::Duration;

use futures::future::BoxFuture;
use kaa_model::health::Probe;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::StoreError;

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
}

impl SqlDatabase {
    /// Connects to `url`; for SQLite the database file is created when missing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
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
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&url)
            .await?;
        Ok(Self { pool, dialect })
    }

    /// The dialect of this database.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
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

    #[test]
    fn dialect_follows_the_url_scheme() {
        assert_eq!(
            Dialect::from_url("postgres://u@h/db").unwrap(),
            Dialect::Postgres
        );
        assert_eq!(
            Dialect::from_url("postgresql://u@h/db").unwrap(),
            Dialect::Postgres
        );
        assert_eq!(Dialect::from_url("mysql://u@h/db").unwrap(), Dialect::MySql);
        assert_eq!(
            Dialect::from_url("mariadb://u@h/db").unwrap(),
            Dialect::MySql
        );
        assert_eq!(
            Dialect::from_url("sqlite:///tmp/x.db").unwrap(),
            Dialect::Sqlite
        );
        assert!(Dialect::from_url("oracle://h").is_err());
        assert!(Dialect::from_url("no scheme").is_err());
    }
}
