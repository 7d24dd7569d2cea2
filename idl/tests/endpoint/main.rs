//! Integration tests of the endpoint codecs from outside the crate: interoperability with the
//! JDK's crypto, as Kaa's Java SDK and server use it, and hostile input for every decoder that
//! reads network bytes.

mod hostile_input;
mod java_interop;
