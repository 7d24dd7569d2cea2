//! The endpoint protocol of Kaa 0.10, byte for byte, so devices running Kaa 0.10 SDKs talk to
//! kaa-rs unchanged. Each codec takes bytes and returns typed values or a typed error; sockets,
//! sessions and keys on disk live in the servers.
//!
//! - [`sync`]: the Avro `SyncRequest`/`SyncResponse` every transport carries.
//! - [`kaatcp`]: the TCP framing (CONNECT, CONNACK, KAASYNC, pings, DISCONNECT).
//! - [`http`]: the multipart form of an HTTP sync.
//! - [`crypto`]: RSA key pairs, session keys and the AES payload cipher, signatures, key hashes
//!   and the protocol identifiers.

pub mod crypto;
pub mod http;
pub mod kaatcp;
pub mod sync;
