//! kaa-rs cluster coordination.
//!
//! A clustered node keeps one ZooKeeper session ([`zookeeper::ZkSession`]) for as long as it runs:
//! it reconnects by itself after the session expires, and reports through a readiness probe
//! whether ZooKeeper is reachable right now. A standalone node coordinates in-process instead and
//! opens no session at all ([`Coordination::InProcess`]).

pub mod zookeeper;

/// How a node coordinates with its peers.
pub enum Coordination {
    /// A standalone node: every service is in this process, nothing to coordinate over a network.
    InProcess,
    /// A clustered node: membership, election and load go through ZooKeeper.
    ZooKeeper(zookeeper::ZkSession),
}
