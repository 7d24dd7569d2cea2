/*
 * Kaa's HTTP transport, the part this SDK uses: bootstrap (`POST /BS/Sync`) with the
 * multipart/form-data body of Kaa's Java SDK (`requestKey`, `requestData`, `nextProtocol`), and a
 * minimal HTTP/1.1 client over the platform's TCP.
 */
#ifndef KAA_HTTP_H
#define KAA_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "kaa/kaa_error.h"

typedef struct {
    int status;
    char *signature; /* X-SIGNATURE, NULL when absent */
    uint8_t *body;
    size_t body_len;
} kaa_http_response_t;

/* Posts the multipart form {requestKey: wrapped_key (256 bytes), requestData: data, nextProtocol:
 * Avro v2} to http://host:port/path and reads the whole answer. */
kaa_error_t kaa_http_sync(const char *host, uint16_t port, const char *path,
                          const uint8_t *wrapped_key, const uint8_t *data, size_t len,
                          uint32_t timeout_ms, kaa_http_response_t *response, char *why,
                          size_t why_len);
void kaa_http_response_free(kaa_http_response_t *response);

#endif
