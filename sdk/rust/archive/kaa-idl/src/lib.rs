//! The Kaa endpoint protocol codecs the SDK runtime uses, pure and free of I/O: every type here
//! turns into bytes and back, and nothing else.
//!
//! - [`endpoint`]: the endpoint protocol (sync messages, Kaatcp frames, the HTTP body, keys and
//!   ciphers).
//! - [`avro`]: Avro binary, which the sync messages and the SDK's typed values are encoded in.
//! - [`zk`]: the server records a bootstrap answer carries.

pub mod avro;
pub mod endpoint;
pub mod zk;
