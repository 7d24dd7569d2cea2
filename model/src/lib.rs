//! Domain types shared by every kaa-rs service.
//!
//! This crate sits at the bottom of the crate graph: it knows nothing of storage, networking or
//! coordination. Higher crates (`kaa-store`, `kaa-cluster`, the services and the node) speak in
//! these types.

pub mod health;
mod role;
mod service;

pub use role::{Role, UnknownRole};
pub use service::{Service, ServiceSet};
