/*
 * The words for each error code (kaa_error.h), shared by every part of the runtime.
 */
#include "kaa/kaa_error.h"

const char *kaa_error_name(kaa_error_t error)
{
    switch (error) {
    case KAA_OK: return "ok";
    case KAA_ERR_NOMEM: return "out of memory";
    case KAA_ERR_BADPARAM: return "bad parameter";
    case KAA_ERR_NOT_FOUND: return "not found";
    case KAA_ERR_STORAGE: return "storage failure";
    case KAA_ERR_CRYPTO: return "crypto failure";
    case KAA_ERR_BAD_KEY: return "bad server public key";
    case KAA_ERR_UNREACHABLE: return "server unreachable";
    case KAA_ERR_TIMEOUT: return "timeout";
    case KAA_ERR_REFUSED: return "refused by the server";
    case KAA_ERR_PROTOCOL: return "protocol error";
    case KAA_ERR_CLOSED: return "connection closed";
    case KAA_ERR_BUFFER_FULL: return "log buffer full";
    case KAA_ERR_CODEC: return "encoding error";
    }
    return "unknown error";
}
