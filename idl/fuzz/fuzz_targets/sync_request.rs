//! `SyncRequest::decode` on arbitrary bytes: never panics, and whatever decodes re-encodes to a
//! datum that decodes to the same value.
#![no_main]

use kaa_idl::endpoint::sync::SyncRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = SyncRequest::decode(data) {
        assert_eq!(SyncRequest::decode(&request.encode()), Ok(request));
    }
});
