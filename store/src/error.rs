//! The error type of every store operation.

/// What can go wrong talking to a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL or settings cannot be used.
    #[error("invalid store settings: {0}")]
    Config(String),
    /// A SQL database refused or failed a request.
    #[error("sql: {0}")]
    Sql(#[from] sqlx::Error),
    /// Cassandra could not be reached.
    #[error("cassandra connection: {0}")]
    CassandraConnect(Box<scylla::errors::NewSessionError>),
    /// Cassandra failed a request.
    #[error("cassandra: {0}")]
    Cassandra(Box<scylla::errors::ExecutionError>),
    /// Cassandra refused to prepare a statement (e.g. its table does not exist yet).
    #[error("cassandra prepare: {0}")]
    CassandraPrepare(Box<scylla::errors::PrepareError>),
    /// A Cassandra result does not have the expected shape.
    #[error("cassandra result: {0}")]
    CassandraResult(String),
    /// The record does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness or reference rule refused the write, or (endpoint profiles) the record changed
    /// since it was read.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The request breaks a rule of the model.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// A schema migration failed.
    #[error("migration: {0}")]
    Migration(String),
    /// Stored data cannot be read back.
    #[error("corrupt data: {0}")]
    Corrupt(&'static str),
    /// MongoDB could not be reached or failed a request.
    #[error("mongodb: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// The store did not answer within the call's limit ([`crate::Timeouts`]).
    #[error("no answer from the store within {0:?}")]
    Timeout(std::time::Duration),
    /// The store failed to answer moments ago and is not asked again until it answers a probe.
    #[error("the store did not answer moments ago; not asked again until it answers a probe")]
    Unanswered,
}

impl StoreError {
    /// Whether a SQL store failed to answer at all (unreachable, silent, its connection lost) or
    /// a call outlived its limit, as opposed to answering with a refusal or a result the caller
    /// did not want.
    pub fn is_unanswered(&self) -> bool {
        match self {
            Self::Sql(error) => matches!(
                error,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            ),
            Self::Timeout(_) | Self::Unanswered => true,
            _ => false,
        }
    }
}

impl From<scylla::errors::NewSessionError> for StoreError {
    fn from(error: scylla::errors::NewSessionError) -> Self {
        Self::CassandraConnect(Box::new(error))
    }
}

impl From<scylla::errors::ExecutionError> for StoreError {
    fn from(error: scylla::errors::ExecutionError) -> Self {
        Self::Cassandra(Box::new(error))
    }
}

impl From<scylla::errors::PrepareError> for StoreError {
    fn from(error: scylla::errors::PrepareError) -> Self {
        Self::CassandraPrepare(Box::new(error))
    }
}
