//! Kaa's session security, the same for Kaatcp and HTTP: the endpoint wraps a fresh AES-128 key
//! under the node's RSA key and signs the wrapped key with its own (SHA1withRSA over the 256
//! wrapped bytes); payloads in both directions are AES/ECB/PKCS#7 under that key.
//!
//! A session start proves the endpoint's identity when its service verifies signatures
//! (Operations): it must be encrypted and signed, and the signature must verify under the key
//! stored for the endpoint's key hash, or, for an endpoint not yet registered, under the public
//! key it sends, whose SHA-1 must be that key hash. Every refusal is the same
//! [`SyncFailure::Unauthenticated`] to the endpoint. A wrapped key that does not unwrap is not
//! refused at once: the start goes on with a random key and fails at decryption, as any wrong
//! key does, so the answer tells nothing about the RSA padding (no padding oracle).

use kaa_idl::endpoint::crypto::{PublicKey, SessionKey, sha1};
use kaa_idl::endpoint::sync::SyncRequest;

use crate::{AuthFailure, EndpointService, NodeKeys, SyncFailure};

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

/// An opened session: its cipher, its first request and what the identity check read.
pub(crate) struct Opened<I> {
    /// How the session's payloads are protected.
    pub cipher: Cipher,
    /// The first request.
    pub request: SyncRequest,
    /// What the service read to check the signature, for [`EndpointService::open`].
    pub identity: Option<I>,
}

/// Opens a session: unwraps the key, decrypts and decodes the first request and, for a service
/// that verifies signatures, proves the endpoint's identity. Plaintext is accepted only when
/// `allow_plaintext`.
pub(crate) async fn open<S: EndpointService>(
    service: &S,
    keys: &NodeKeys,
    allow_plaintext: bool,
    opening: Opening<'_>,
) -> Result<Opened<S::Identity>, SyncFailure> {
    let opened = authenticate(service, keys, allow_plaintext, opening).await;
    if let Err(SyncFailure::Unauthenticated(reason)) = &opened {
        tracing::debug!(reason = reason.label(), "session start refused");
        service.refused(*reason);
    }
    opened
}

async fn authenticate<S: EndpointService>(
    service: &S,
    keys: &NodeKeys,
    allow_plaintext: bool,
    opening: Opening<'_>,
) -> Result<Opened<S::Identity>, SyncFailure> {
    let refuse = |reason| Err(SyncFailure::Unauthenticated(reason));
    let (cipher, unwrapped) = match opening.wrapped_key {
        Some(wrapped) => {
            if S::VERIFIES_SIGNATURES && opening.signature.is_none() {
                return refuse(AuthFailure::NoSignature);
            }
            match keys.unwrap_session_key(wrapped).await? {
                Ok(key) => (Cipher::Aes(key), true),
                // Go on as if it had unwrapped: decryption fails below, as with a wrong key.
                Err(_) => (Cipher::Aes(random_key()?), false),
            }
        }
        None if allow_plaintext => (Cipher::Plain, true),
        None => return refuse(AuthFailure::Plaintext),
    };
    let request = match decode(&cipher, opening.payload) {
        Ok(request) => request,
        Err(failure) if !cipher.is_encrypted() => return Err(failure),
        Err(_) if unwrapped => return refuse(AuthFailure::Undecryptable),
        Err(_) => return refuse(AuthFailure::KeyUnwrap),
    };
    let (true, Some(wrapped), Some(signature)) = (
        S::VERIFIES_SIGNATURES,
        opening.wrapped_key,
        opening.signature,
    ) else {
        return Ok(Opened {
            cipher,
            request,
            identity: None,
        });
    };
    let carried = request
        .profile_sync_request
        .as_ref()
        .and_then(|p| p.endpoint_public_key.as_deref());
    let named = request
        .sync_request_meta_data
        .as_ref()
        .and_then(|m| m.endpoint_public_key_hash.as_deref());
    let key_hash = match (named, carried) {
        (Some(hash), _) => hash.to_vec(),
        (None, Some(key)) => sha1(key).to_vec(),
        (None, None) => return refuse(AuthFailure::NoEndpoint),
    };
    let identified = service.identify(&key_hash).await?;
    let key = verification_key(&key_hash, carried, identified.public_key.as_deref())
        .map_err(SyncFailure::Unauthenticated)?;
    PublicKey::from_der(key)
        .and_then(|key| key.verify(wrapped, signature))
        .map_err(|_| SyncFailure::Unauthenticated(AuthFailure::BadSignature))?;
    Ok(Opened {
        cipher,
        request,
        identity: Some(identified.identity),
    })
}

/// The key a session start's signature must verify under: the one stored for `key_hash`, which a
/// key sent along must equal; for an endpoint not registered, the key it sends, whose SHA-1 must
/// be `key_hash`.
pub(crate) fn verification_key<'a>(
    key_hash: &[u8],
    carried: Option<&'a [u8]>,
    stored: Option<&'a [u8]>,
) -> Result<&'a [u8], AuthFailure> {
    if let Some(carried) = carried
        && sha1(carried) != key_hash
    {
        return Err(AuthFailure::KeyMismatch);
    }
    match (stored, carried) {
        (Some(stored), Some(carried)) if stored != carried => Err(AuthFailure::KeyMismatch),
        (Some(stored), _) => Ok(stored),
        (None, Some(carried)) => Ok(carried),
        (None, None) => Err(AuthFailure::UnknownEndpoint),
    }
}

fn random_key() -> Result<SessionKey, SyncFailure> {
    SessionKey::generate().map_err(|e| SyncFailure::Internal(format!("random session key: {e}")))
}

/// Decrypts and decodes a request of an open session.
pub(crate) fn decode(cipher: &Cipher, payload: &[u8]) -> Result<SyncRequest, SyncFailure> {
    let plain = cipher.decrypt(payload)?;
    SyncRequest::decode(&plain).map_err(|e| SyncFailure::BadRequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use kaa_idl::endpoint::crypto::KeyPair;
    use kaa_idl::endpoint::sync::{ProfileSyncRequest, SyncRequestMetaData, SyncResponse};

    use super::*;
    use crate::Identified;

    /// The node's keys (RSA key generation is slow: made once).
    fn node() -> NodeKeys {
        static NODE: OnceLock<NodeKeys> = OnceLock::new();
        NODE.get_or_init(|| NodeKeys::from_pair(KeyPair::generate().unwrap()))
            .clone()
    }

    /// The endpoint's key pair and a stranger's.
    fn pairs() -> &'static [KeyPair; 2] {
        static PAIRS: OnceLock<[KeyPair; 2]> = OnceLock::new();
        PAIRS.get_or_init(|| std::array::from_fn(|_| KeyPair::generate().unwrap()))
    }

    fn endpoint() -> &'static KeyPair {
        &pairs()[0]
    }

    fn stranger() -> &'static KeyPair {
        &pairs()[1]
    }

    /// A verifying service whose store holds `stored` (a public key) for the endpoint's hash.
    struct Store {
        stored: Option<Vec<u8>>,
        refused: std::sync::Mutex<Vec<AuthFailure>>,
    }

    impl EndpointService for Store {
        type Session = ();
        type Push = ();
        type Identity = &'static str;
        const KEEPS_SESSIONS: bool = true;
        const SIGNS_RESPONSES: bool = false;
        const VERIFIES_SIGNATURES: bool = true;

        fn open(&self, _: crate::PushSender<()>, _: Option<&'static str>, _: crate::Channel) {}

        async fn identify(&self, _: &[u8]) -> Result<Identified<&'static str>, SyncFailure> {
            Ok(Identified {
                public_key: self.stored.clone(),
                identity: "stored profile",
            })
        }

        fn refused(&self, reason: AuthFailure) {
            self.refused.lock().unwrap().push(reason);
        }

        async fn sync(&self, _: &mut (), _: SyncRequest) -> Result<SyncResponse, SyncFailure> {
            unreachable!("only session starts are tested")
        }

        async fn push(&self, _: &mut (), _: ()) -> Result<Option<SyncResponse>, SyncFailure> {
            Ok(None)
        }

        fn close(&self, _: ()) {}
    }

    fn store(stored: Option<&KeyPair>) -> Store {
        Store {
            stored: stored.map(|pair| pair.public_key().to_der().to_vec()),
            refused: Default::default(),
        }
    }

    /// A first request naming the endpoint by hash, with `carried` as its public key if given.
    fn request(carried: Option<&KeyPair>) -> SyncRequest {
        SyncRequest {
            request_id: 1,
            sync_request_meta_data: Some(SyncRequestMetaData {
                sdk_token: "sdk".into(),
                endpoint_public_key_hash: Some(endpoint().public_key().key_hash().to_vec()),
                profile_hash: None,
                timeout: None,
            }),
            profile_sync_request: carried.map(|pair| ProfileSyncRequest {
                endpoint_public_key: Some(pair.public_key().to_der().to_vec()),
                profile_body: Vec::new(),
                endpoint_access_token: None,
            }),
            ..SyncRequest::default()
        }
    }

    /// A session start: `request` under a fresh key wrapped for the node, signed by `signer`.
    struct Start {
        wrapped: Vec<u8>,
        signature: Option<Vec<u8>>,
        payload: Vec<u8>,
    }

    fn start(request: &SyncRequest, signer: Option<&KeyPair>) -> Start {
        let key = SessionKey::generate().unwrap();
        let wrapped = node().pair().public_key().wrap_session_key(&key).unwrap();
        Start {
            signature: signer.map(|pair| pair.sign(&wrapped).unwrap()),
            payload: key.encrypt(&request.encode()),
            wrapped,
        }
    }

    async fn open_with(
        service: &Store,
        start: &Start,
    ) -> Result<Opened<&'static str>, SyncFailure> {
        let node = node();
        open(
            service,
            &node,
            false,
            Opening {
                wrapped_key: Some(&start.wrapped),
                signature: start.signature.as_deref(),
                payload: &start.payload,
            },
        )
        .await
    }

    fn reason(opened: Result<Opened<&'static str>, SyncFailure>) -> AuthFailure {
        match opened {
            Err(SyncFailure::Unauthenticated(reason)) => reason,
            Err(other) => panic!("refused for another cause: {other:?}"),
            Ok(_) => panic!("the session start was accepted"),
        }
    }

    #[tokio::test]
    async fn a_registered_endpoint_is_checked_against_its_stored_key() {
        let service = store(Some(endpoint()));
        let opened = open_with(&service, &start(&request(None), Some(endpoint())))
            .await
            .unwrap();
        assert_eq!(opened.identity, Some("stored profile"));
        assert!(opened.cipher.is_encrypted());
        let same_key_sent = start(&request(Some(endpoint())), Some(endpoint()));
        assert!(open_with(&service, &same_key_sent).await.is_ok());

        let unsigned = open_with(&service, &start(&request(None), None)).await;
        assert_eq!(reason(unsigned), AuthFailure::NoSignature);
        let forged = open_with(&service, &start(&request(None), Some(stranger()))).await;
        assert_eq!(reason(forged), AuthFailure::BadSignature);
        assert_eq!(
            *service.refused.lock().unwrap(),
            [AuthFailure::NoSignature, AuthFailure::BadSignature]
        );
    }

    #[tokio::test]
    async fn another_key_for_a_registered_hash_is_refused_even_when_it_signs() {
        let service = store(Some(endpoint()));
        let mut claim = request(Some(stranger()));
        let opened = open_with(&service, &start(&claim, Some(stranger()))).await;
        assert_eq!(reason(opened), AuthFailure::KeyMismatch);
        // Naming no hash, the stranger's key names its own endpoint, which is not this one.
        claim
            .sync_request_meta_data
            .as_mut()
            .unwrap()
            .endpoint_public_key_hash = None;
        let unregistered = store(None);
        assert!(
            open_with(&unregistered, &start(&claim, Some(stranger())))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn an_unregistered_endpoint_must_send_the_key_its_hash_names() {
        let service = store(None);
        let without_key = open_with(&service, &start(&request(None), Some(endpoint()))).await;
        assert_eq!(reason(without_key), AuthFailure::UnknownEndpoint);
        let other_key = start(&request(Some(stranger())), Some(stranger()));
        assert_eq!(
            reason(open_with(&service, &other_key).await),
            AuthFailure::KeyMismatch
        );
        let registering = start(&request(Some(endpoint())), Some(endpoint()));
        assert!(open_with(&service, &registering).await.is_ok());
    }

    #[tokio::test]
    async fn plaintext_is_refused_unless_allowed() {
        let service = store(Some(endpoint()));
        let payload = request(None).encode();
        let node = node();
        let plain = |allow| {
            open(
                &service,
                &node,
                allow,
                Opening {
                    wrapped_key: None,
                    signature: None,
                    payload: &payload,
                },
            )
        };
        assert_eq!(reason(plain(false).await), AuthFailure::Plaintext);
        let lab = plain(true).await.unwrap();
        assert!(!lab.cipher.is_encrypted());
        assert_eq!(lab.identity, None);
    }

    #[tokio::test]
    async fn a_key_that_does_not_unwrap_fails_as_any_wrong_key() {
        let service = store(Some(endpoint()));
        let probe = |corrupt: fn(&mut Vec<u8>)| {
            let mut probe = start(&request(None), None);
            corrupt(&mut probe.wrapped);
            probe.signature = Some(endpoint().sign(&probe.wrapped).unwrap());
            probe
        };
        // Out of the RSA key's range: the unwrap fails.
        let out_of_range = probe(|wrapped| wrapped.fill(0xff));
        let unwrap_failed = open_with(&service, &out_of_range).await.err().unwrap();
        // Bad padding: the RSA layer yields a pseudo-random key (implicit rejection).
        let bad_padding = probe(|wrapped| wrapped[100] ^= 0x55);
        let padding_failed = open_with(&service, &bad_padding).await.err().unwrap();
        // A key that unwraps but is not the one the payload was encrypted under.
        let mut wrong = start(&request(None), Some(endpoint()));
        wrong.payload = start(&request(None), None).payload;
        let wrong_key = open_with(&service, &wrong).await.err().unwrap();
        let forged = open_with(&service, &start(&request(None), Some(stranger())))
            .await
            .err()
            .unwrap();
        assert_eq!(
            unwrap_failed,
            SyncFailure::Unauthenticated(AuthFailure::KeyUnwrap)
        );
        assert_eq!(
            wrong_key,
            SyncFailure::Unauthenticated(AuthFailure::Undecryptable)
        );
        assert!(
            matches!(
                padding_failed,
                SyncFailure::Unauthenticated(AuthFailure::KeyUnwrap | AuthFailure::Undecryptable)
            ),
            "{padding_failed:?}"
        );
        for failure in [&unwrap_failed, &padding_failed, &wrong_key] {
            assert_eq!(failure.to_string(), forged.to_string());
            assert_eq!(failure.connack(), forged.connack());
            assert_eq!(failure.http_status(), forged.http_status());
            assert_eq!(failure.http_body(), forged.http_body());
        }
    }

    #[test]
    fn the_verification_key_follows_the_stored_one() {
        let mine = endpoint().public_key().to_der();
        let theirs = stranger().public_key().to_der();
        let hash = sha1(mine);
        assert_eq!(verification_key(&hash, None, Some(mine)), Ok(mine));
        assert_eq!(verification_key(&hash, Some(mine), Some(mine)), Ok(mine));
        assert_eq!(verification_key(&hash, Some(mine), None), Ok(mine));
        assert_eq!(
            verification_key(&hash, Some(theirs), Some(mine)),
            Err(AuthFailure::KeyMismatch)
        );
        assert_eq!(
            verification_key(&hash, Some(theirs), None),
            Err(AuthFailure::KeyMismatch)
        );
        // A stored key that is not the hash's own (a corrupted row) still wins over one sent.
        assert_eq!(
            verification_key(&sha1(theirs), Some(theirs), Some(mine)),
            Err(AuthFailure::KeyMismatch)
        );
        assert_eq!(
            verification_key(&hash, None, None),
            Err(AuthFailure::UnknownEndpoint)
        );
    }
}
