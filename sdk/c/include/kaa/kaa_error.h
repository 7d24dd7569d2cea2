/*
 * Error codes of the Kaa C SDK.
 */
#ifndef KAA_ERROR_H
#define KAA_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    KAA_OK = 0,
    KAA_ERR_NOMEM,       /* out of memory */
    KAA_ERR_BADPARAM,    /* a bad argument */
    KAA_ERR_NOT_FOUND,   /* storage: no such entry */
    KAA_ERR_STORAGE,     /* storage read or write failed */
    KAA_ERR_CRYPTO,      /* a crypto operation failed */
    KAA_ERR_BAD_KEY,     /* a server public key cannot be used (damaged properties?) */
    KAA_ERR_UNREACHABLE, /* a server cannot be reached */
    KAA_ERR_TIMEOUT,     /* a server did not answer in time */
    KAA_ERR_REFUSED,     /* a server refused the endpoint (unknown SDK token, say) */
    KAA_ERR_PROTOCOL,    /* a server sent something malformed or unexpected */
    KAA_ERR_CLOSED,      /* the connection closed */
    KAA_ERR_BUFFER_FULL, /* the log buffer holds as many records as allowed */
    KAA_ERR_CODEC        /* a value could not be encoded or decoded */
} kaa_error_t;

/* A short English name of the code. */
const char *kaa_error_name(kaa_error_t error);

#ifdef __cplusplus
}
#endif

#endif
