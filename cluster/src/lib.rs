//! kaa-rs cluster coordination.
//!
//! A clustered node keeps one ZooKeeper session ([`zookeeper::ZkSession`]) for as long as it runs,
//! opening a new one after an expiry. On each session it registers itself and watches the others
//! ([`membership`]), and Control nodes run the leader election ([`election`]). The live Operations
//! nodes form the consistent-hash [`ring`] that assigns endpoints and owners to nodes. A
//! standalone node has the same [`Cluster`] handle, filled in-process. The znodes the cluster
//! creates can be changed only with its ZooKeeper credentials ([`acl`]). Rare critical sections
//! that must run on one node at a time (schema changes) take a cluster-wide [`lock`].
//!
//! Nodes call each other over internode Thrift ([`rpc`]): a server for this node's services and
//! pooled clients for its peers'. Messages for one endpoint travel through its owner on the ring
//! to the node serving its session ([`routing`]).

pub mod acl;
mod coordination;
pub mod election;
pub mod lock;
pub mod membership;
pub mod ring;
pub mod routing;
pub mod rpc;
pub mod zookeeper;

pub use coordination::Cluster;
