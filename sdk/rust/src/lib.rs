//! The kaa-rs endpoint SDK runtime: what an endpoint application links to talk to a kaa-rs (or
//! Kaa 0.10) cluster, and what generated SDKs package (with typed code on [`avro`]).
//!
//! Flow: [`bootstrap::fetch_servers`] asks a Bootstrap server for the live Operations servers;
//! [`client::KaaClient`] connects to one of them over Kaatcp ([`channel::Channel`]), registers
//! the endpoint with its key pair ([`keys::EndpointKeys`], kept in a state dir like the Java SDK's
//! `key.private`/`key.public`), sends its profile, and hands configuration and notifications to
//! the application as [`client::Event`]s — also those the server pushes later. The last
//! configuration is kept in the state dir ([`configuration`]) for the next start. When the
//! connection fails it reports an [`client::Event::Error`] and reconnects with back-off, moving on
//! to the next server of the bootstrap list. Log
//! records wait in a persistent buffer until the server stored them ([`logs`]); owner requests
//! and events wait in [`owner`] until a response settles them. What the client does next (which
//! server, which request, which event) is decided by a state machine without I/O (`engine`, a
//! private module); the client's task around it only does the I/O (decision 023).

pub mod avro;
pub mod bootstrap;
pub mod channel;
pub mod client;
mod client_config;
pub mod configuration;
mod engine;
mod event;
pub mod http;
pub mod keys;
pub mod logs;
pub mod owner;

/// The endpoint protocol codecs the runtime speaks (types of its events, such as topics and
/// delivery codes, come from here).
pub use kaa_idl as idl;

/// Why an SDK operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// A network operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent bytes that do not decode.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server refused the session (CONNACK code) or ended it (DISCONNECT reason).
    #[error("refused by the server: {0}")]
    Refused(String),
    /// Key material is invalid.
    #[error("keys: {0}")]
    Keys(String),
    /// No server answered.
    #[error("no server reachable: {0}")]
    Unreachable(String),
    /// The server took too long.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The log buffer holds this many unacknowledged records already.
    #[error("the log buffer is full ({0} records wait for the server)")]
    LogBufferFull(usize),
    /// The server redirected the endpoint to the Operations server with this access point id.
    #[error("redirected to access point {0}")]
    Redirected(i32),
}
