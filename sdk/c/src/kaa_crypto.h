/*
 * Kaa's endpoint crypto through mbedTLS: the endpoint's RSA-2048 key pair (kept in storage),
 * its key hash (SHA-1 of the X.509 DER public key), AES-128 session keys wrapped with RSA
 * PKCS#1 v1.5 under a server key and signed with SHA1withRSA, AES/ECB/PKCS#7 payloads.
 */
#ifndef KAA_CRYPTO_H
#define KAA_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/aes.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>

#include "kaa/kaa_error.h"

#define KAA_RSA_BLOCK 256
#define KAA_KEY_HASH 20
#define KAA_SESSION_KEY 16

typedef struct {
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context pair;
    uint8_t *public_der;
    size_t public_der_len;
    uint8_t key_hash[KAA_KEY_HASH];
} kaa_crypto_t;

/* One session key, both directions. */
typedef struct {
    mbedtls_aes_context enc;
    mbedtls_aes_context dec;
    uint8_t wrapped[KAA_RSA_BLOCK];
    uint8_t signature[KAA_RSA_BLOCK];
} kaa_session_key_t;

/* Seeds the generator and loads the key pair from `state_dir` (key.private, key.public),
 * creating and storing one on first start. `why` explains a failure. */
kaa_error_t kaa_crypto_init(kaa_crypto_t *c, const char *state_dir, char *why, size_t why_len);
void kaa_crypto_free(kaa_crypto_t *c);

void kaa_sha1(const uint8_t *data, size_t len, uint8_t out[KAA_KEY_HASH]);

/* Checks `signature` (SHA1withRSA) over `data` by the key `server_der`. */
kaa_error_t kaa_crypto_verify(const uint8_t *server_der, size_t server_der_len,
                              const uint8_t *data, size_t len, const uint8_t *signature,
                              size_t signature_len);

/* A fresh session key wrapped under `server_der` and signed by the endpoint. */
kaa_error_t kaa_session_key_new(kaa_crypto_t *c, kaa_session_key_t *key,
                                const uint8_t *server_der, size_t server_der_len, char *why,
                                size_t why_len);
void kaa_session_key_free(kaa_session_key_t *key);
/* AES/ECB/PKCS#7; *out is heap memory. */
kaa_error_t kaa_session_encrypt(kaa_session_key_t *key, const uint8_t *in, size_t len,
                                uint8_t **out, size_t *out_len);
kaa_error_t kaa_session_decrypt(kaa_session_key_t *key, const uint8_t *in, size_t len,
                                uint8_t **out, size_t *out_len);

int kaa_base64_decode(const char *text, uint8_t **out, size_t *out_len);
/* NUL-terminated heap text. */
char *kaa_base64_encode(const uint8_t *data, size_t len);

#endif
