//! Harness for kaa-rs integration tests: where the real servers started by
//! `deploy/local/infra.sh` listen, a way to run real `kaa-node` processes, and a fleet of SDK
//! devices for tests on real hosts ([`fleet`], the `kaa-fleet` binary), and a load generator of
//! simulated endpoints at scale ([`loadgen`], the `kaa-loadgen` binary).
//!
//! Tests never skip when a server is missing: they fail with a message naming the server and the
//! command that starts it.

pub mod api;
pub mod fleet;
pub mod infra;
pub mod internode_tls;
pub mod loadgen;
pub mod netns;
pub mod node;
pub mod stubs;
