//! The keys and ciphers of Kaa's endpoint protocol, plus the identifiers that name transports and
//! payload codecs.
//!
//! How a secure sync flows: the endpoint draws a random 16-byte [`SessionKey`], wraps it under
//! the server's RSA-2048 [`PublicKey`] (PKCS#1 v1.5 encryption, one 256-byte block) and signs
//! the wrapped block with its own [`KeyPair`] (SHA1withRSA); the sync messages themselves are
//! AES-128/ECB/PKCS#7 under the session key, in both directions. The server unwraps the key with
//! its key pair, verifies the signature with the endpoint's public key, and names the endpoint
//! by [`key_hash`], the SHA-1 of its X.509 public key. A bootstrap server also signs its plain
//! responses.
//!
//! Keys are stored the way the Java SDK stores `key.private` and `key.public`: PKCS#8 DER and
//! X.509 SubjectPublicKeyInfo DER. The `connectionInfo` blob a bootstrap answer carries a node's
//! public key in (`i32 keyLen | key | i32 hostLen | host | i32 port`) is
//! [`TransportConnectionInfo`](crate::zk::TransportConnectionInfo), shared with the ZooKeeper
//! records.

use aes::Aes128;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use sha1::{Digest, Sha1};

use crate::zk::crc32;

/// RSA modulus size of Kaa key pairs.
pub const KEY_BITS: usize = 2048;
/// AES-128 session key length.
pub const SESSION_KEY_LEN: usize = 16;
/// AES block length; ciphertexts are whole blocks.
const BLOCK_LEN: usize = 16;

/// Transport id of Kaatcp: CRC32 of `org.kaaproject.kaa.server.transport.tcp`.
pub const TRANSPORT_TCP_ID: i32 = 0x56c8_ff92;
/// Transport id of HTTP: CRC32 of `org.kaaproject.kaa.server.transport.http`.
pub const TRANSPORT_HTTP_ID: i32 = 0xfb9a_3cf0_u32 as i32;
/// The only version of either transport.
pub const TRANSPORT_VERSION: i32 = 1;

/// Payload protocol id of the Avro sync codec.
pub const PROTOCOL_AVRO: u32 = 0xf291_f2d4;
/// Payload protocol id of Avro v2 (same bytes; the Java SDK sends this one).
pub const PROTOCOL_AVRO_V2: u32 = 0xe0c0_c178;

/// Whether a payload protocol id names a codec kaa-rs speaks (Avro or Avro v2).
pub fn is_avro_protocol(id: u32) -> bool {
    id == PROTOCOL_AVRO || id == PROTOCOL_AVRO_V2
}

/// The `accessPointId` of an Operations node: CRC32 of `"host:port"` (its Thrift address) as a
/// signed integer.
pub fn access_point_id(host: &str, port: u16) -> i32 {
    crc32(format!("{host}:{port}").as_bytes()) as i32
}

/// SHA-1, the hash Kaa uses for key hashes, profile hashes and configuration hashes.
pub fn sha1(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// The endpoint key hash: SHA-1 of the X.509 DER public key exactly as sent.
pub fn key_hash(public_key_der: &[u8]) -> [u8; 20] {
    sha1(public_key_der)
}

/// Why a key could not be used or a message could not be decrypted or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The operating system's random source failed.
    #[error("no randomness from the operating system")]
    Random,
    /// A key is not valid PKCS#8 (private) or X.509 SubjectPublicKeyInfo (public) RSA DER.
    #[error("invalid {0} key DER")]
    BadKey(&'static str),
    /// A private and a public key do not belong together.
    #[error("the public key does not match the private key")]
    KeyMismatch,
    /// The RSA operation failed (key too small for the data, or a wrapped key that does not
    /// decrypt).
    #[error("RSA {0} failed")]
    Rsa(&'static str),
    /// An unwrapped session key is shorter than 16 bytes.
    #[error("unwrapped session key has {0} bytes, needs 16")]
    ShortSessionKey(usize),
    /// A signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A ciphertext is empty or not a whole number of AES blocks.
    #[error("ciphertext of {0} bytes is not a whole number of AES blocks")]
    BadCiphertextLength(usize),
    /// Decryption ended in invalid PKCS#7 padding: wrong key or damaged data.
    #[error("bad padding after decryption (wrong session key or damaged data)")]
    BadPadding,
}

/// An RSA public key, kept with the X.509 DER it was read from so its hash is of those bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: RsaPublicKey,
    der: Vec<u8>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_hash", &Hex(&self.key_hash()))
            .finish()
    }
}

/// Lowercase hex in debug output.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl PublicKey {
    /// Reads an X.509 SubjectPublicKeyInfo DER RSA key (Java's `PublicKey.getEncoded()`).
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let key =
            RsaPublicKey::from_public_key_der(der).map_err(|_| CryptoError::BadKey("public"))?;
        Ok(Self {
            key,
            der: der.to_vec(),
        })
    }

    /// The X.509 SubjectPublicKeyInfo DER.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-1 of the DER: the endpoint key hash.
    pub fn key_hash(&self) -> [u8; 20] {
        key_hash(&self.der)
    }

    /// Wraps a session key for the owner of this key: RSA PKCS#1 v1.5 encryption (256 bytes for
    /// a 2048-bit key).
    pub fn wrap_session_key(&self, session_key: &SessionKey) -> Result<Vec<u8>, CryptoError> {
        self.key
            .pkcs1v15_encrypt(&session_key.0)
            .map_err(|_| CryptoError::Rsa("encryption"))
    }

    /// Checks a SHA1withRSA (PKCS#1 v1.5) signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        self.key
            .pkcs1v15_verify::<Sha1>(message, signature)
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// An RSA key pair: a node's or an endpoint's identity.
#[derive(Clone)]
pub struct KeyPair {
    private: RsaPrivateKey,
    public: PublicKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A new RSA-2048 key pair from the operating system's random source.
    pub fn generate() -> Result<Self, CryptoError> {
        let private = RsaPrivateKey::new(&mut getrandom::SysRng, KEY_BITS)
            .map_err(|_| CryptoError::Rsa("key generation"))?;
        Self::from_private(private)
    }

    fn from_private(private: RsaPrivateKey) -> Result<Self, CryptoError> {
        let der = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|_| CryptoError::BadKey("public"))?;
        let public = PublicKey::from_der(der.as_bytes())?;
        Ok(Self { private, public })
    }

    /// Reads a PKCS#8 DER private key (`key.private`); the public key is derived from it.
    pub fn from_pkcs8_der(private_der: &[u8]) -> Result<Self, CryptoError> {
        let private = RsaPrivateKey::from_pkcs8_der(private_der)
            .map_err(|_| CryptoError::BadKey("private"))?;
        Self::from_private(private)
    }

    /// Reads a stored pair (`key.private`, `key.public`), checking that they belong together.
    pub fn from_der(private_der: &[u8], public_der: &[u8]) -> Result<Self, CryptoError> {
        let pair = Self::from_pkcs8_der(private_der)?;
        let public = PublicKey::from_der(public_der)?;
        if public.key != pair.public.key {
            return Err(CryptoError::KeyMismatch);
        }
        // Keep the stored bytes: they are what the key hash has always been computed over.
        Ok(Self {
            private: pair.private,
            public,
        })
    }

    /// The private key as PKCS#8 DER, for `key.private`.
    pub fn private_key_der(&self) -> Result<Vec<u8>, CryptoError> {
        let document = self
            .private
            .to_pkcs8_der()
            .map_err(|_| CryptoError::BadKey("private"))?;
        Ok(document.as_bytes().to_vec())
    }

    /// The public half; its [`PublicKey::to_der`] is `key.public`.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` with SHA1withRSA (PKCS#1 v1.5): 256 bytes for a 2048-bit key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.private
            .pkcs1v15_sign::<Sha1>(message)
            .map_err(|_| CryptoError::Rsa("signing"))
    }

    /// Unwraps a session key sent to this key pair; like Kaa, keeps the first 16 bytes.
    pub fn unwrap_session_key(&self, wrapped: &[u8]) -> Result<SessionKey, CryptoError> {
        let plain = self
            .private
            .pkcs1v15_decrypt(wrapped)
            .map_err(|_| CryptoError::Rsa("decryption"))?;
        let key = plain
            .first_chunk::<SESSION_KEY_LEN>()
            .ok_or(CryptoError::ShortSessionKey(plain.len()))?;
        Ok(SessionKey(*key))
    }
}

/// An AES-128 session key; the payload cipher is AES/ECB/PKCS#7 (Java's `AES/ECB/PKCS5Padding`).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey([u8; SESSION_KEY_LEN]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A random key from the operating system's random source.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = [0; SESSION_KEY_LEN];
        getrandom::fill(&mut key).map_err(|_| CryptoError::Random)?;
        Ok(Self(key))
    }

    /// A key from its bytes.
    pub fn from_bytes(key: [u8; SESSION_KEY_LEN]) -> Self {
        Self(key)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; SESSION_KEY_LEN] {
        &self.0
    }

    /// Encrypts: PKCS#7 padding (1 to 16 bytes), then AES-128 on each block independently.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let cipher = Aes128::new(&self.0.into());
        let pad = BLOCK_LEN - plaintext.len() % BLOCK_LEN;
        let mut data = Vec::with_capacity(plaintext.len() + pad);
        data.extend_from_slice(plaintext);
        data.resize(plaintext.len() + pad, pad as u8);
        for chunk in data.chunks_exact_mut(BLOCK_LEN) {
            let mut block = aes::Block::try_from(&*chunk).expect("16-byte chunk");
            cipher.encrypt_block(&mut block);
            chunk.copy_from_slice(&block);
        }
        data
    }

    /// Decrypts and removes the PKCS#7 padding, which must be valid.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK_LEN) {
            return Err(CryptoError::BadCiphertextLength(ciphertext.len()));
        }
        let cipher = Aes128::new(&self.0.into());
        let mut data = ciphertext.to_vec();
        for chunk in data.chunks_exact_mut(BLOCK_LEN) {
            let mut block = aes::Block::try_from(&*chunk).expect("16-byte chunk");
            cipher.decrypt_block(&mut block);
            chunk.copy_from_slice(&block);
        }
        let pad = usize::from(*data.last().expect("at least one block"));
        if !(1..=BLOCK_LEN).contains(&pad)
            || !data[data.len() - pad..]
                .iter()
                .all(|&b| usize::from(b) == pad)
        {
            return Err(CryptoError::BadPadding);
        }
        data.truncate(data.len() - pad);
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::{TRANSPORT_HTTP, TRANSPORT_TCP, transport_id};
    use proptest::prelude::*;

    const PRIVATE: &[u8] = include_bytes!("../../tests/data/endpoint.key.private");
    const PUBLIC: &[u8] = include_bytes!("../../tests/data/endpoint.key.public");
    const SIGNATURE: &[u8] = include_bytes!("../../tests/data/endpoint.signature");
    const WRAPPED: &[u8] = include_bytes!("../../tests/data/session.wrapped");

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn fixture() -> KeyPair {
        KeyPair::from_der(PRIVATE, PUBLIC).expect("fixture key pair")
    }

    #[test]
    fn ids_are_the_ones_kaa_uses() {
        assert_eq!(TRANSPORT_TCP_ID, transport_id(TRANSPORT_TCP));
        assert_eq!(TRANSPORT_HTTP_ID, transport_id(TRANSPORT_HTTP));
        assert_eq!(TRANSPORT_TCP_ID, 1_456_013_202);
        assert_eq!(TRANSPORT_HTTP_ID, -73_777_936);
        assert!(is_avro_protocol(0xf291_f2d4) && is_avro_protocol(0xe0c0_c178));
        assert!(!is_avro_protocol(0x3553_c66f));
        // zlib.crc32 of the same strings, as signed 32-bit integers.
        assert_eq!(access_point_id("localhost", 9090), -1_835_393_002);
        assert_eq!(access_point_id("10.0.0.7", 9091), 690_709_057);
    }

    #[test]
    fn key_hash_is_sha1_of_the_x509_der() {
        let expected = hex("3422378ab32c905a6ca2259922adcfb73388cc93");
        assert_eq!(key_hash(PUBLIC).to_vec(), expected);
        assert_eq!(fixture().public_key().key_hash().to_vec(), expected);
        // SHA-1 test vector (FIPS 180): "abc".
        assert_eq!(
            key_hash(b"abc").to_vec(),
            hex("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
    }

    #[test]
    fn stored_keys_load_and_store_byte_for_byte() {
        let pair = fixture();
        assert_eq!(pair.public_key().to_der(), PUBLIC);
        assert_eq!(
            KeyPair::from_pkcs8_der(PRIVATE)
                .unwrap()
                .public_key()
                .to_der(),
            PUBLIC
        );
        let again = KeyPair::from_pkcs8_der(&pair.private_key_der().unwrap()).unwrap();
        assert_eq!(again.public_key(), pair.public_key());
        assert_eq!(
            KeyPair::from_der(PRIVATE, b"junk").unwrap_err(),
            CryptoError::BadKey("public")
        );
        assert_eq!(
            KeyPair::from_pkcs8_der(PUBLIC).unwrap_err(),
            CryptoError::BadKey("private")
        );
        assert_eq!(
            PublicKey::from_der(PRIVATE).unwrap_err(),
            CryptoError::BadKey("public")
        );
    }

    #[test]
    fn signatures_match_openssl_and_verify() {
        let pair = fixture();
        let message = b"kaa-rs signs this";
        // PKCS#1 v1.5 signatures are deterministic: the same bytes OpenSSL produced.
        assert_eq!(pair.sign(message).unwrap(), SIGNATURE);
        pair.public_key().verify(message, SIGNATURE).unwrap();
        assert_eq!(
            pair.public_key().verify(b"kaa-rs signs that", SIGNATURE),
            Err(CryptoError::BadSignature)
        );
        let mut tampered = SIGNATURE.to_vec();
        tampered[100] ^= 1;
        assert_eq!(
            pair.public_key().verify(message, &tampered),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            pair.public_key().verify(message, &SIGNATURE[..255]),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn openssl_wrapped_session_key_unwraps() {
        let key = fixture().unwrap_session_key(WRAPPED).unwrap();
        assert_eq!(key.as_bytes(), &std::array::from_fn(|i| i as u8));
    }

    #[test]
    fn wrap_unwrap_round_trip_and_tamper_fails() {
        let pair = fixture();
        let key = SessionKey::generate().unwrap();
        let wrapped = pair.public_key().wrap_session_key(&key).unwrap();
        assert_eq!(wrapped.len(), 256);
        assert_eq!(pair.unwrap_session_key(&wrapped).unwrap(), key);
        // Wrapping is randomized.
        assert_ne!(pair.public_key().wrap_session_key(&key).unwrap(), wrapped);
        let mut tampered = wrapped.clone();
        tampered[0] ^= 0x80;
        // PKCS#1 v1.5 decryption uses implicit rejection (the Marvin-attack defence): bad padding
        // may yield a pseudo-random key instead of an error, never the original key. The
        // payload then fails to decrypt under it.
        assert_ne!(pair.unwrap_session_key(&tampered).ok(), Some(key));
        assert!(pair.unwrap_session_key(&wrapped[..200]).is_err());
        assert!(pair.unwrap_session_key(&[]).is_err());
    }

    #[test]
    fn unwrapped_keys_shorter_than_16_bytes_are_rejected() {
        let pair = fixture();
        let wrapped = pair.public_key().key.pkcs1v15_encrypt(&[7; 15]).unwrap();
        assert_eq!(
            pair.unwrap_session_key(&wrapped),
            Err(CryptoError::ShortSessionKey(15))
        );
        // Longer ones keep their first 16 bytes, as Kaa does.
        let wrapped = pair.public_key().key.pkcs1v15_encrypt(&[9; 24]).unwrap();
        assert_eq!(
            pair.unwrap_session_key(&wrapped).unwrap(),
            SessionKey::from_bytes([9; 16])
        );
    }

    #[test]
    fn generated_pairs_are_2048_bit_and_work() {
        let pair = KeyPair::generate().unwrap();
        let stored =
            KeyPair::from_der(&pair.private_key_der().unwrap(), pair.public_key().to_der())
                .unwrap();
        let signature = stored.sign(b"m").unwrap();
        assert_eq!(signature.len(), KEY_BITS / 8);
        pair.public_key().verify(b"m", &signature).unwrap();
        assert_eq!(
            KeyPair::from_der(PRIVATE, pair.public_key().to_der()).unwrap_err(),
            CryptoError::KeyMismatch
        );
    }

    #[test]
    fn aes_ecb_matches_openssl_and_nist() {
        let key =
            SessionKey::from_bytes(hex("2b7e151628aed2a6abf7158809cf4f3c").try_into().unwrap());
        // NIST SP 800-38A F.1.1 block 1, then the full padding block.
        let block = hex("6bc1bee22e409f96e93d7e117393172a");
        let expected = hex("3ad77bb40d7a3660a89ecaf32466ef97a254be88e037ddd9d79fb6411c3f9df8");
        assert_eq!(key.encrypt(&block), expected);
        assert_eq!(key.decrypt(&expected).unwrap(), block);
        // `openssl enc -aes-128-ecb` of "kaa" and of nothing.
        assert_eq!(key.encrypt(b"kaa"), hex("c490317bac3858329d7c4c82cd0e6b7e"));
        assert_eq!(key.encrypt(b""), hex("a254be88e037ddd9d79fb6411c3f9df8"));
        assert_eq!(
            key.decrypt(&hex("c490317bac3858329d7c4c82cd0e6b7e"))
                .unwrap(),
            b"kaa"
        );
    }

    #[test]
    fn bad_ciphertexts_are_errors() {
        let key = SessionKey::from_bytes([1; 16]);
        let other = SessionKey::from_bytes([2; 16]);
        assert_eq!(key.decrypt(&[]), Err(CryptoError::BadCiphertextLength(0)));
        assert_eq!(
            key.decrypt(&[0; 17]),
            Err(CryptoError::BadCiphertextLength(17))
        );
        // A wrong key almost always leaves invalid padding, as it does with these two.
        let ciphertext = key.encrypt(b"a sync request of some length");
        assert_eq!(other.decrypt(&ciphertext), Err(CryptoError::BadPadding));
        // Padding byte 0 and padding longer than a block.
        for pad in [0_u8, 17] {
            let mut block = [pad; 16];
            block[0] = 1;
            let encrypted = &key.encrypt(&block)[..16];
            assert_eq!(key.decrypt(encrypted), Err(CryptoError::BadPadding));
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        assert_eq!(
            format!("{:?}", SessionKey::from_bytes([1; 16])),
            "SessionKey(..)"
        );
        let debug = format!("{:?}", fixture());
        assert!(
            debug.contains("3422378ab32c905a6ca2259922adcfb73388cc93"),
            "{debug}"
        );
    }

    proptest! {
        #[test]
        fn aes_round_trips(key in any::<[u8; 16]>(), plaintext in proptest::collection::vec(any::<u8>(), 0..100)) {
            let key = SessionKey::from_bytes(key);
            let ciphertext = key.encrypt(&plaintext);
            prop_assert_eq!(ciphertext.len(), (plaintext.len() / 16 + 1) * 16);
            prop_assert_eq!(key.decrypt(&ciphertext), Ok(plaintext));
        }
    }
}
