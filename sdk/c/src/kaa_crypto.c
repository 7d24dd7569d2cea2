/*
 * Kaa's endpoint crypto through mbedTLS 2.28 (see kaa_crypto.h).
 */
#include "kaa_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/error.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>

#include "kaa/kaa_platform.h"

#define PRIVATE_FILE "key.private"
#define PUBLIC_FILE "key.public"

static void explain(char *why, size_t why_len, const char *what, int rc)
{
    if (why && why_len) {
        char text[200];
        mbedtls_strerror(rc, text, sizeof(text));
        snprintf(why, why_len, "%s: %s", what, text);
    }
}

static int entropy(void *unused, unsigned char *out, size_t len)
{
    (void)unused;
    return kaa_pal_random(out, len) == KAA_OK ? 0 : -1;
}

void kaa_sha1(const uint8_t *data, size_t len, uint8_t out[KAA_KEY_HASH])
{
    mbedtls_sha1_ret(data, len, out);
}

static kaa_error_t public_der(kaa_crypto_t *c)
{
    uint8_t buffer[600];
    int len = mbedtls_pk_write_pubkey_der(&c->pair, buffer, sizeof(buffer));
    if (len <= 0) {
        return KAA_ERR_CRYPTO;
    }
    c->public_der = malloc((size_t)len);
    if (!c->public_der) {
        return KAA_ERR_NOMEM;
    }
    memcpy(c->public_der, buffer + sizeof(buffer) - (size_t)len, (size_t)len);
    c->public_der_len = (size_t)len;
    kaa_sha1(c->public_der, c->public_der_len, c->key_hash);
    return KAA_OK;
}

static kaa_error_t generate(kaa_crypto_t *c, const char *state_dir, char *why, size_t why_len)
{
    int rc = mbedtls_pk_setup(&c->pair, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
    if (rc == 0) {
        rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(c->pair), mbedtls_ctr_drbg_random, &c->drbg,
                                 2048, 65537);
    }
    if (rc != 0) {
        explain(why, why_len, "generate the endpoint key", rc);
        return KAA_ERR_CRYPTO;
    }
    uint8_t buffer[2400];
    int len = mbedtls_pk_write_key_der(&c->pair, buffer, sizeof(buffer));
    if (len <= 0) {
        explain(why, why_len, "encode the endpoint key", len);
        return KAA_ERR_CRYPTO;
    }
    kaa_error_t result = public_der(c);
    if (result == KAA_OK) {
        result = kaa_pal_storage_write_secret(state_dir, PRIVATE_FILE,
                                              buffer + sizeof(buffer) - (size_t)len,
                                              (size_t)len);
    }
    if (result == KAA_OK) {
        result = kaa_pal_storage_write(state_dir, PUBLIC_FILE, c->public_der,
                                       c->public_der_len);
    }
    mbedtls_platform_zeroize(buffer, sizeof(buffer));
    if (result != KAA_OK && why && why_len) {
        snprintf(why, why_len, "store the endpoint key in %s: %s", state_dir,
                 kaa_error_name(result));
    }
    return result;
}

kaa_error_t kaa_crypto_init(kaa_crypto_t *c, const char *state_dir, char *why, size_t why_len)
{
    memset(c, 0, sizeof(*c));
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_pk_init(&c->pair);
    static const unsigned char personal[] = "kaa-c-sdk";
    int rc = mbedtls_ctr_drbg_seed(&c->drbg, entropy, NULL, personal, sizeof(personal) - 1);
    if (rc != 0) {
        explain(why, why_len, "seed the random generator", rc);
        return KAA_ERR_CRYPTO;
    }
    uint8_t *der = NULL;
    size_t len = 0;
    kaa_error_t result = kaa_pal_storage_read(state_dir, PRIVATE_FILE, &der, &len);
    if (result == KAA_ERR_NOT_FOUND) {
        return generate(c, state_dir, why, why_len);
    }
    if (result != KAA_OK) {
        if (why && why_len) {
            snprintf(why, why_len, "read %s/%s: %s", state_dir, PRIVATE_FILE,
                     kaa_error_name(result));
        }
        return result;
    }
    rc = mbedtls_pk_parse_key(&c->pair, der, len, NULL, 0);
    mbedtls_platform_zeroize(der, len);
    free(der);
    if (rc != 0 || mbedtls_pk_get_type(&c->pair) != MBEDTLS_PK_RSA) {
        explain(why, why_len, "the stored endpoint key " PRIVATE_FILE, rc);
        return KAA_ERR_CRYPTO;
    }
    return public_der(c);
}

void kaa_crypto_free(kaa_crypto_t *c)
{
    mbedtls_pk_free(&c->pair);
    mbedtls_ctr_drbg_free(&c->drbg);
    free(c->public_der);
    c->public_der = NULL;
}

static kaa_error_t parse_public(mbedtls_pk_context *pk, const uint8_t *der, size_t len,
                                char *why, size_t why_len)
{
    mbedtls_pk_init(pk);
    int rc = mbedtls_pk_parse_public_key(pk, der, len);
    if (rc != 0) {
        explain(why, why_len, "bad public key", rc);
        mbedtls_pk_free(pk);
        return KAA_ERR_BAD_KEY;
    }
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_RSA || mbedtls_pk_get_len(pk) != KAA_RSA_BLOCK) {
        if (why && why_len) {
            snprintf(why, why_len, "bad public key: not an RSA-2048 key");
        }
        mbedtls_pk_free(pk);
        return KAA_ERR_BAD_KEY;
    }
    return KAA_OK;
}

kaa_error_t kaa_crypto_verify(const uint8_t *server_der, size_t server_der_len,
                              const uint8_t *data, size_t len, const uint8_t *signature,
                              size_t signature_len)
{
    mbedtls_pk_context server;
    kaa_error_t rc = parse_public(&server, server_der, server_der_len, NULL, 0);
    if (rc != KAA_OK) {
        return rc;
    }
    uint8_t hash[KAA_KEY_HASH];
    kaa_sha1(data, len, hash);
    int verified = mbedtls_pk_verify(&server, MBEDTLS_MD_SHA1, hash, sizeof(hash), signature,
                                     signature_len);
    mbedtls_pk_free(&server);
    return verified == 0 ? KAA_OK : KAA_ERR_CRYPTO;
}

kaa_error_t kaa_session_key_new(kaa_crypto_t *c, kaa_session_key_t *key,
                                const uint8_t *server_der, size_t server_der_len, char *why,
                                size_t why_len)
{
    memset(key, 0, sizeof(*key));
    mbedtls_aes_init(&key->enc);
    mbedtls_aes_init(&key->dec);
    mbedtls_pk_context server;
    kaa_error_t result = parse_public(&server, server_der, server_der_len, why, why_len);
    if (result != KAA_OK) {
        return result;
    }
    uint8_t secret[KAA_SESSION_KEY];
    size_t wrapped_len = 0;
    size_t signature_len = 0;
    uint8_t hash[KAA_KEY_HASH];
    int rc = mbedtls_ctr_drbg_random(&c->drbg, secret, sizeof(secret));
    if (rc == 0) {
        rc = mbedtls_pk_encrypt(&server, secret, sizeof(secret), key->wrapped, &wrapped_len,
                                sizeof(key->wrapped), mbedtls_ctr_drbg_random, &c->drbg);
    }
    if (rc == 0 && wrapped_len != KAA_RSA_BLOCK) {
        rc = MBEDTLS_ERR_RSA_BAD_INPUT_DATA;
    }
    if (rc == 0) {
        kaa_sha1(key->wrapped, KAA_RSA_BLOCK, hash);
        rc = mbedtls_pk_sign(&c->pair, MBEDTLS_MD_SHA1, hash, sizeof(hash), key->signature,
                             &signature_len, mbedtls_ctr_drbg_random, &c->drbg);
    }
    if (rc == 0 && signature_len != KAA_RSA_BLOCK) {
        rc = MBEDTLS_ERR_RSA_BAD_INPUT_DATA;
    }
    if (rc == 0) {
        rc = mbedtls_aes_setkey_enc(&key->enc, secret, 128);
    }
    if (rc == 0) {
        rc = mbedtls_aes_setkey_dec(&key->dec, secret, 128);
    }
    mbedtls_platform_zeroize(secret, sizeof(secret));
    mbedtls_pk_free(&server);
    if (rc != 0) {
        explain(why, why_len, "session key", rc);
        kaa_session_key_free(key);
        return KAA_ERR_CRYPTO;
    }
    return KAA_OK;
}

void kaa_session_key_free(kaa_session_key_t *key)
{
    mbedtls_aes_free(&key->enc);
    mbedtls_aes_free(&key->dec);
}

kaa_error_t kaa_session_encrypt(kaa_session_key_t *key, const uint8_t *in, size_t len,
                                uint8_t **out, size_t *out_len)
{
    size_t pad = 16 - len % 16;
    size_t total = len + pad;
    uint8_t *buffer = malloc(total);
    if (!buffer) {
        return KAA_ERR_NOMEM;
    }
    if (len) {
        memcpy(buffer, in, len);
    }
    memset(buffer + len, (int)pad, pad);
    for (size_t i = 0; i < total; i += 16) {
        mbedtls_aes_crypt_ecb(&key->enc, MBEDTLS_AES_ENCRYPT, buffer + i, buffer + i);
    }
    *out = buffer;
    *out_len = total;
    return KAA_OK;
}

kaa_error_t kaa_session_decrypt(kaa_session_key_t *key, const uint8_t *in, size_t len,
                                uint8_t **out, size_t *out_len)
{
    if (len == 0 || len % 16 != 0) {
        return KAA_ERR_PROTOCOL;
    }
    uint8_t *buffer = malloc(len);
    if (!buffer) {
        return KAA_ERR_NOMEM;
    }
    for (size_t i = 0; i < len; i += 16) {
        mbedtls_aes_crypt_ecb(&key->dec, MBEDTLS_AES_DECRYPT, in + i, buffer + i);
    }
    uint8_t pad = buffer[len - 1];
    int bad = pad == 0 || pad > 16;
    for (size_t i = 0; !bad && i < pad; i++) {
        bad |= buffer[len - 1 - i] != pad;
    }
    if (bad) {
        free(buffer);
        return KAA_ERR_PROTOCOL;
    }
    *out = buffer;
    *out_len = len - pad;
    return KAA_OK;
}

int kaa_base64_decode(const char *text, uint8_t **out, size_t *out_len)
{
    size_t needed = 0;
    size_t text_len = strlen(text);
    *out = NULL;
    *out_len = 0;
    int rc = mbedtls_base64_decode(NULL, 0, &needed, (const unsigned char *)text, text_len);
    if (rc != 0 && rc != MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) {
        return -1;
    }
    uint8_t *buffer = malloc(needed ? needed : 1);
    if (!buffer) {
        return -1;
    }
    if (mbedtls_base64_decode(buffer, needed, out_len, (const unsigned char *)text, text_len) !=
        0) {
        free(buffer);
        return -1;
    }
    *out = buffer;
    return 0;
}

char *kaa_base64_encode(const uint8_t *data, size_t len)
{
    size_t needed = 0;
    mbedtls_base64_encode(NULL, 0, &needed, data, len);
    char *text = malloc(needed + 1);
    if (!text) {
        return NULL;
    }
    size_t written = 0;
    if (mbedtls_base64_encode((unsigned char *)text, needed + 1, &written, data, len) != 0) {
        free(text);
        return NULL;
    }
    text[written] = 0;
    return text;
}
