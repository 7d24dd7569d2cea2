//! Checks `endpoint::crypto` against the JDK's own implementations, which Kaa 0.10 endpoints and
//! servers use: a Rust endpoint's key wrap, signature, payload and key hash must pass a Java
//! server's checks, and a Java endpoint's must pass ours. The Java half is
//! `tests/java/KaaCryptoInterop.java`, run as a single-file program, so a JDK (11 or newer) must be
//! installed: `java` on `PATH`, or the `JAVA` environment variable naming it.

use std::path::Path;
use std::process::Command;

use kaa_idl::endpoint::crypto::{KeyPair, PublicKey, SessionKey, key_hash};

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

#[test]
fn rust_and_java_agree_on_wrap_sign_encrypt_and_hash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).expect(name);

    let server = KeyPair::generate().expect("server key pair");
    write(
        "server.key.private",
        &server.private_key_der().expect("PKCS#8"),
    );
    write("server.key.public", server.public_key().to_der());
    let plaintext = b"\x02\x02\x02 a SyncRequest, or anything at all \xff".repeat(3);
    write("plaintext", &plaintext);

    // A Rust endpoint.
    let endpoint = KeyPair::generate().expect("endpoint key pair");
    let session = SessionKey::generate().expect("session key");
    let wrapped = server
        .public_key()
        .wrap_session_key(&session)
        .expect("wrap");
    write("rust.key.public", endpoint.public_key().to_der());
    write("rust.keyhash", &endpoint.public_key().key_hash());
    write("rust.signature", &endpoint.sign(&wrapped).expect("sign"));
    write("rust.wrapped", &wrapped);
    write("rust.payload", &session.encrypt(&plaintext));

    let java = std::env::var("JAVA").unwrap_or_else(|_| "java".into());
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/KaaCryptoInterop.java");
    let output = Command::new(&java)
        .arg(&source)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{java}` ({e}): this test needs a JDK 11+ \
                 (e.g. `apt-get install default-jdk-headless`), or JAVA=/path/to/java"
            )
        });
    assert!(
        output.status.success(),
        "the Java side rejected what Rust produced:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // A Java endpoint, checked as our server checks it.
    let java_private = read(dir, "java.key.private");
    let java_public = read(dir, "java.key.public");
    let java_endpoint = KeyPair::from_der(&java_private, &java_public).expect("Java key files");
    assert_eq!(java_endpoint.public_key().to_der(), java_public);
    assert_eq!(key_hash(&java_public).to_vec(), read(dir, "java.keyhash"));
    let java_wrapped = read(dir, "java.wrapped");
    assert_eq!(java_wrapped.len(), 256);
    let java_key = PublicKey::from_der(&java_public).expect("Java public key");
    java_key
        .verify(&java_wrapped, &read(dir, "java.signature"))
        .expect("Java endpoint signature");
    let unwrapped = server.unwrap_session_key(&java_wrapped).expect("unwrap");
    assert_eq!(unwrapped.as_bytes().to_vec(), read(dir, "java.session"));
    assert_eq!(
        unwrapped
            .decrypt(&read(dir, "java.payload"))
            .expect("decrypt"),
        plaintext
    );
    // PKCS#1 v1.5 signatures are deterministic: Java's equals ours byte for byte.
    assert_eq!(
        read(dir, "java.server.signature"),
        server.sign(&plaintext).expect("sign")
    );
    // And AES/ECB/PKCS5Padding is deterministic too.
    assert_eq!(unwrapped.encrypt(&plaintext), read(dir, "java.payload"));
}
