//! Domain types shared by every kaa-rs service.
//!
//! This crate sits at the bottom of the crate graph: it knows nothing of storage, networking or
//! coordination. Higher crates (`kaa-store`, `kaa-cluster`, the services and the node) speak in
//! these types.
//!
//! - [`schema`]: Avro record schemas (profiles, configurations, notifications, logs): upload
//!   checks, JSON validation, and Avro binary encoding and decoding.
//! - [`filter`]: profile filters, the safe CEL-subset expressions over an endpoint's client and
//!   server profiles that decide its endpoint groups.

pub mod filter;
pub mod health;
mod role;
pub mod schema;
mod service;

pub use role::{Role, UnknownRole};
pub use service::{Service, ServiceSet};
