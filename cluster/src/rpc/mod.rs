//! Internode Thrift on tokio: the server every node runs on its Thrift port, and the pooled
//! clients it calls its peers with.
//!
//! The types, generated clients and processors come from [`kaa_idl::thrift`] (the Apache
//! compiler's output); this module only moves their bytes. The wire format is standard Thrift:
//! binary protocol, framed transport (a 4-byte big-endian length before each message), and the
//! services multiplexed on one port under the names in [`kaa_idl::thrift::service_names`], so any
//! Thrift client generated from the same IDL can call a node.
//!
//! Server ([`ThriftServer`]): one tokio task accepts, one task per connection reads a whole frame
//! asynchronously, hands it to the multiplexed processor over in-memory buffers ([`frame`], pure),
//! and writes the response frame back. A frame over the size limit closes its connection. The
//! generated handlers run inline on the connection's task, so they must not block: they answer
//! from memory or hand the work to async code through a channel. Stopping cancels the accept loop
//! and idle connections; a call whose request has arrived is answered first.
//!
//! Clients ([`ClientPool`]): the generated clients are blocking, so each call runs on tokio's
//! blocking pool with a `std` socket. A pool per service keeps a few idle connections per peer;
//! a call takes one (or dials, bounded by the connect timeout), bounds every read and write by the
//! call timeout, and puts the connection back only if the call completed. A broken connection is
//! dropped, so the next call dials again. Before an idle connection is reused, a non-blocking
//! peek checks that the peer has not closed it meanwhile (it restarted, say); a call that fails
//! is never repeated, since the peer may have acted on it. [`fan_out`] calls many peers at once.
//!
//! Security ([`Security`]): mutual TLS under the cluster CA ([`certs`] makes the certificates),
//! checked in the handshake before the server reads a frame; plaintext only when the operator
//! asks for it.
//!
//! Every socket on both sides has `TCP_NODELAY`: a request is one small write, and Nagle's
//! algorithm would hold it back waiting for the peer's delayed ACK.

pub mod certs;
mod client;
pub mod frame;
mod server;
mod tls;

pub use client::{
    Bootstrap, Channel, ClientPool, ClientSettings, InputProtocol, KaaNode, Operations,
    OutputProtocol, Service, fan_out, notify_operations,
};
pub use server::{Processors, ServerSettings, ThriftServer};
pub use tls::{MutualTls, Security, TlsError};

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

/// A peer's Thrift address, as it publishes it (`thriftHost`, `thriftPort` in ZooKeeper).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr {
    /// Host name or IP address.
    pub host: String,
    /// Thrift port.
    pub port: u16,
}

impl PeerAddr {
    /// `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Why an internode call or the Thrift server failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The server cannot listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The peer's host name does not resolve, or it refused or did not accept the connection in
    /// time.
    #[error("cannot connect to {peer}: {source}")]
    Connect {
        /// The peer.
        peer: PeerAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TLS handshake failed: the peer's certificate is not the cluster CA's or does not
    /// name the host dialled, or the peer refused ours.
    #[error("TLS handshake with {peer} failed: {source}")]
    Handshake {
        /// The peer.
        peer: PeerAddr,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The call did not complete in time.
    #[error("{peer} did not answer within {after:?}")]
    Timeout {
        /// The peer.
        peer: PeerAddr,
        /// How long the caller waited.
        after: Duration,
    },
    /// The call failed on the wire or on the peer: a broken connection, an undecodable answer, an
    /// exception the peer raised.
    #[error("call to {peer} failed: {source}")]
    Call {
        /// The peer.
        peer: PeerAddr,
        /// The Thrift error.
        source: thrift::Error,
    },
    /// The blocking task running the call panicked.
    #[error("call to {peer} aborted: {reason}")]
    Aborted {
        /// The peer.
        peer: PeerAddr,
        /// The task's failure.
        reason: String,
    },
}
