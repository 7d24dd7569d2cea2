//! kaa-rs storage.
//!
//! Two kinds of data live in two kinds of store:
//! - **metadata** (tenants, applications, schemas, groups…) in SQL: PostgreSQL, MariaDB or SQLite,
//!   see [`sql`] for connections and [`metadata`] for the store itself;
//! - **endpoint data** (profiles, credentials, notifications, logs…) in Cassandra, MongoDB or SQL,
//!   see [`endpoint`].
//!
//! Each store offers a readiness [`Probe`](kaa_model::health::Probe) so the node's `/ready` tells
//! whether its storage answers.

pub mod endpoint;
mod error;
pub mod metadata;
pub mod sql;
mod timeouts;

pub use error::StoreError;
pub use timeouts::Timeouts;
pub use timeouts::bounded;
