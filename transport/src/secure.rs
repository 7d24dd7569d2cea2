//! Kaa's session security, the same for Kaatcp and HTTP: the endpoint wraps a fresh AES-128 key
//! under the node's RSA key and signs the wrapped key with its own; payloads in both directions
//! are AES/ECB/PKCS#7 under that key. A session without a wrapped key is plaintext, accepted only
//! when the listener allows it.

use kaa_idl::endpoint::crypto::{PublicKey, SessionKey};
use kaa_idl::endpoint::sync::SyncRequest;

use crate::{EndpointService, NodeKeys, SyncFailure};

/// How one session's payloads are protected.
pub(crate) enum Cipher {
    /// Plaintext (allowed only when unencrypted sessions are).
    Plain,
    /// AES under the session key the endpoint sent.
    Aes(SessionKey),
}

impl Cipher {
    pub(crate) fn is_encrypted(&self) -> bool {
        matches!(self, Cipher::Aes(_))
    }

    pub(crate) fn decrypt(&self, payload: &[u8]) -> Result<Vec<u8>, SyncFailure> {
        match self {
            Cipher::Plain => Ok(payload.to_vec()),
            Cipher::Aes(key) => key
                .decrypt(payload)
                .map_err(|e| SyncFailure::BadRequest(format!("payload: {e}"))),
        }
    }

    pub(crate) fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        match self {
            Cipher::Plain => plain.to_vec(),
            Cipher::Aes(key) => key.encrypt(plain),
        }
    }
}

/// What a session start carries besides its payload.
pub(crate) struct Opening<'a> {
    /// The RSA-wrapped session key, if the session is encrypted.
    pub wrapped_key: Option<&'a [u8]>,
    /// The endpoint's signature of the wrapped key, if it signs.
    pub signature: Option<&'a [u8]>,
    /// The (encrypted) SyncRequest.
    pub payload: &'a [u8],
}

/// Opens a session: unwraps the key, decrypts and decodes the first request and checks the
/// endpoint's signature.
pub(crate) async fn open<S: EndpointService>(
    service: &S,
    keys: &NodeKeys,
    allow_plaintext: bool,
    opening: Opening<'_>,
) -> Result<(Cipher, SyncRequest), SyncFailure> {
    let cipher = match opening.wrapped_key {
        Some(wrapped) => Cipher::Aes(
            keys.pair()
                .unwrap_session_key(wrapped)
                .map_err(|e| SyncFailure::BadRequest(format!("session key: {e}")))?,
        ),
        None if allow_plaintext => Cipher::Plain,
        None => {
            return Err(SyncFailure::BadRequest(
                "this server accepts encrypted sessions only".into(),
            ));
        }
    };
    let request = decode(&cipher, opening.payload)?;
    if let (true, Some(signature), Some(wrapped)) = (
        S::VERIFIES_SIGNATURES,
        opening.signature,
        opening.wrapped_key,
    ) {
        let carried = request
            .profile_sync_request
            .as_ref()
            .and_then(|p| p.endpoint_public_key.clone());
        let public_key = match carried {
            Some(key) => key,
            None => {
                let hash = request
                    .sync_request_meta_data
                    .as_ref()
                    .and_then(|m| m.endpoint_public_key_hash.as_deref())
                    .ok_or_else(|| {
                        SyncFailure::BadRequest("signed request names no endpoint".into())
                    })?;
                service.public_key(hash).await?.ok_or_else(|| {
                    SyncFailure::VerificationFailed("unknown endpoint: send the public key".into())
                })?
            }
        };
        PublicKey::from_der(&public_key)
            .and_then(|key| key.verify(wrapped, signature))
            .map_err(|e| SyncFailure::BadRequest(format!("signature: {e}")))?;
    }
    Ok((cipher, request))
}

/// Decrypts and decodes a request of an open session.
pub(crate) fn decode(cipher: &Cipher, payload: &[u8]) -> Result<SyncRequest, SyncFailure> {
    let plain = cipher.decrypt(payload)?;
    SyncRequest::decode(&plain).map_err(|e| SyncFailure::BadRequest(e.to_string()))
}
