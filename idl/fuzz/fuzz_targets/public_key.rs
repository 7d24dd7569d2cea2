//! An endpoint's X.509 public key (sent in its profile sync request) and a signature to check
//! with it: the first byte splits the input. Never panics.
#![no_main]

use kaa_idl::endpoint::crypto::PublicKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (der, signature) = rest.split_at(usize::from(split).min(rest.len()) * 2 % (rest.len() + 1));
    if let Ok(key) = PublicKey::from_der(der) {
        let _ = key.verify(b"wrapped session key", signature);
        assert_eq!(key.to_der(), der);
    }
});
