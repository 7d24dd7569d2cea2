//! A Kaatcp byte stream, as a socket delivers it: the first byte picks the read size, the rest is
//! fed to a `FrameDecoder` in reads of that size. Never panics; every decoded frame encodes to
//! bytes that decode to the same frame.
#![no_main]

use bytes::BytesMut;
use kaa_idl::endpoint::kaatcp::{Frame, FrameDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new(64 * 1024);
    let mut buf = BytesMut::new();
    for read in stream.chunks(usize::from(chunk).max(1)) {
        buf.extend_from_slice(read);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let mut again = BytesMut::from(&frame.encode()[..]);
                    let decoded: Option<Frame> = FrameDecoder::new(usize::MAX)
                        .decode(&mut again)
                        .expect("re-encoded frame decodes");
                    assert_eq!(decoded, Some(frame));
                    assert!(again.is_empty());
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
