//! kaa-rs wire formats, pure and free of I/O: every type here turns into bytes and back, and
//! nothing else.
//!
//! - [`thrift`]: the internode Thrift API, generated from `idl/thrift/*.thrift` (Kaa 0.10's IDL).
//! - [`endpoint`]: the endpoint protocol Kaa 0.10 SDKs speak (sync messages, Kaatcp frames, the
//!   HTTP body, keys and ciphers).
//! - [`zk`]: the records each node publishes in ZooKeeper (Kaa 0.10's `zk.avsc`, Avro binary).

pub mod avro;
pub mod endpoint;
pub mod thrift;
pub mod zk;
