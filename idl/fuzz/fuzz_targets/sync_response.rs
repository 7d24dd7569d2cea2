//! `SyncResponse::decode` on arbitrary bytes: never panics, and whatever decodes re-encodes to a
//! datum that decodes to the same value.
#![no_main]

use kaa_idl::endpoint::sync::SyncResponse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = SyncResponse::decode(data) {
        assert_eq!(SyncResponse::decode(&response.encode()), Ok(response));
    }
});
