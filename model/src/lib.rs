//! Domain types shared by every kaa-rs service.
//!
//! This crate sits at the bottom of the crate graph, above only `kaa-idl` (whose Avro binary
//! codec [`schema`] encodes and decodes with): it knows nothing of storage, networking or
//! coordination. Higher crates (`kaa-store`, `kaa-cluster`, the services and the node) speak in
//! these types.
//!
//! - [`schema`]: Avro record schemas (profiles, configurations, notifications, logs): upload
//!   checks, JSON validation, and Avro binary encoding and decoding.
//! - [`filter`]: profile filters, the safe CEL-subset expressions over an endpoint's client and
//!   server profiles that decide its endpoint groups.
//! - [`appender`], [`verifier`]: the settings of log appenders and user verifiers, checked by
//!   Control and run by Operations.
//! - [`redact`]: hiding passwords and tokens in what nodes print, log and show.
//! - [`outbound`]: which addresses Operations may call on a tenant's behalf.

pub mod appender;
pub mod filter;
pub mod health;
pub mod outbound;
pub mod redact;
mod role;
pub mod schema;
mod service;
pub mod verifier;

pub use role::{Role, UnknownRole};
pub use service::{Service, ServiceSet};
