//! A transport's connectionInfo blob (bootstrap answers, ZooKeeper node records): never panics,
//! and whatever decodes encodes back to the same bytes.
#![no_main]

use kaa_idl::zk::TransportConnectionInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = TransportConnectionInfo::decode(data) {
        assert_eq!(info.encode(), data);
    }
});
