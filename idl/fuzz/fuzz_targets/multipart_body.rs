//! An HTTP sync: the first line is the Content-Type header, the rest the body. Never panics;
//! whatever parses rebuilds (httpmime shape, same boundary) into a body that parses the same.
#![no_main]

use kaa_idl::endpoint::http::{SyncBody, boundary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let body = body.get(1..).unwrap_or_default();
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    for boundary in [boundary(header).ok(), Some("b0undary")]
        .into_iter()
        .flatten()
    {
        if let Ok(parsed) = SyncBody::parse(body, boundary) {
            assert_eq!(
                SyncBody::parse(&parsed.encode(boundary), boundary),
                Ok(parsed)
            );
        }
    }
});
