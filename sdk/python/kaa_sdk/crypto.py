"""The endpoint's keys and Kaa's session crypto, through the ``cryptography`` package.

- The endpoint's RSA-2048 key pair lives in the state dir as Kaa's Java SDK keeps it:
  ``key.private`` (PKCS#8 DER, mode 0600) and ``key.public`` (X.509 DER). The endpoint is known
  to servers by the SHA-1 of the public key's DER (its key hash).
- A session key is 16 random bytes (AES-128), wrapped with RSA PKCS#1 v1.5 under the server's
  public key (256 bytes); the endpoint signs the wrapped key with SHA1withRSA.
- Payloads are AES/ECB with PKCS#7 padding under the session key, both directions.
"""

import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import KeysError
from .protocol import sha1


def load_public_key(der, what="public key"):
    """An RSA public key from X.509 DER; :class:`KeysError` when the bytes are not one."""
    try:
        key = serialization.load_der_public_key(bytes(der))
    except (ValueError, TypeError) as error:
        raise KeysError(f"{what} is not an X.509 RSA public key: {error}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeysError(f"{what} is not an RSA key")
    if key.key_size != 2048:
        raise KeysError(f"{what} has {key.key_size} bits, not 2048")
    return key


class EndpointKeys:
    """The endpoint's key pair and identity."""

    def __init__(self, private_key):
        self.private_key = private_key
        self.public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_hash = sha1(self.public_der)

    @classmethod
    def load_or_create(cls, state_dir):
        """Loads the pair from ``state_dir``, creating and storing one on first use."""
        private_path = os.path.join(state_dir, "key.private")
        if os.path.exists(private_path):
            with open(private_path, "rb") as file:
                der = file.read()
            try:
                key = serialization.load_der_private_key(der, password=None)
            except (ValueError, TypeError) as error:
                raise KeysError(f"{private_path} is not a PKCS#8 RSA private key: {error}") from None
            return cls(key)
        os.makedirs(state_dir, exist_ok=True)
        keys = cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        der = keys.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(der)
            file.flush()
            os.fsync(file.fileno())
        with open(os.path.join(state_dir, "key.public"), "wb") as file:
            file.write(keys.public_der)
        return keys

    def sign(self, message):
        """SHA1withRSA (PKCS#1 v1.5) signature of ``message``."""
        return self.private_key.sign(message, rsa_padding.PKCS1v15(), hashes.SHA1())


class SessionKey:
    """An AES-128 key for one session's payloads."""

    def __init__(self, key=None):
        self.key = key if key is not None else os.urandom(16)

    def wrap(self, server_key):
        """The key encrypted with RSA PKCS#1 v1.5 under the server's public key: 256 bytes."""
        return server_key.encrypt(self.key, rsa_padding.PKCS1v15())

    def encrypt(self, plain):
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self.key), modes.ECB()).encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    def decrypt(self, cipher_text):
        """The plaintext; ``ValueError`` when the bytes are not a whole padded message."""
        if not cipher_text or len(cipher_text) % 16:
            raise ValueError(f"ciphertext of {len(cipher_text)} bytes is not whole AES blocks")
        decryptor = Cipher(algorithms.AES(self.key), modes.ECB()).decryptor()
        padded = decryptor.update(bytes(cipher_text)) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()


def verify(public_key, message, signature):
    """Whether ``signature`` is the SHA1withRSA signature of ``message`` by ``public_key``."""
    try:
        public_key.verify(signature, message, rsa_padding.PKCS1v15(), hashes.SHA1())
        return True
    except InvalidSignature:
        return False
