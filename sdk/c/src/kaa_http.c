/*
 * Kaa's HTTP bootstrap request and a minimal HTTP/1.1 client (see kaa_http.h).
 */
#include "kaa_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaa/kaa_avro.h"
#include "kaa/kaa_platform.h"
#include "kaa_kaatcp.h"

#define BOUNDARY "kaa-c-sdk-4b1d7e20c95a"
#define MAX_RESPONSE (1024u * 1024u)

static void part(kaa_writer_t *w, const char *name, const uint8_t *content, size_t len)
{
    kaa_json_raw(w, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"");
    kaa_json_raw(w, name);
    kaa_json_raw(w, "\"\r\nContent-Type: application/octet-stream\r\n"
                    "Content-Transfer-Encoding: binary\r\n\r\n");
    kaa_writer_raw(w, content, len);
    kaa_json_raw(w, "\r\n");
}

/* The value of header `name` in the header block (case-insensitive), NUL-terminated copy. */
static char *header(const char *headers, const char *name)
{
    size_t name_len = strlen(name);
    for (const char *line = headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > name_len && line[name_len] == ':') {
            size_t i = 0;
            while (i < name_len && tolower((unsigned char)line[i]) == tolower((unsigned char)name[i])) {
                i++;
            }
            if (i == name_len) {
                const char *value = line + name_len + 1;
                while (*value == ' ' || *value == '\t') {
                    value++;
                }
                size_t value_len = len - (size_t)(value - line);
                char *copy = malloc(value_len + 1);
                if (copy) {
                    memcpy(copy, value, value_len);
                    copy[value_len] = 0;
                }
                return copy;
            }
        }
        line = end ? end + 2 : NULL;
    }
    return NULL;
}

/* Decodes a chunked body in place; false when malformed. */
static int unchunk(uint8_t *body, size_t len, size_t *out_len)
{
    size_t in = 0;
    size_t out = 0;
    for (;;) {
        char *end = NULL;
        char size_text[20];
        size_t n = 0;
        while (in + n < len && n < sizeof(size_text) - 1 && body[in + n] != '\r') {
            size_text[n] = (char)body[in + n];
            n++;
        }
        size_text[n] = 0;
        unsigned long size = strtoul(size_text, &end, 16);
        if (end == size_text || in + n + 2 > len) {
            return 0;
        }
        in += n + 2;
        if (size == 0) {
            *out_len = out;
            return 1;
        }
        if (size > len - in || len - in - size < 2) {
            return 0;
        }
        memmove(body + out, body + in, size);
        out += size;
        in += size + 2;
    }
}

kaa_error_t kaa_http_sync(const char *host, uint16_t port, const char *path,
                          const uint8_t *wrapped_key, const uint8_t *data, size_t len,
                          uint32_t timeout_ms, kaa_http_response_t *response, char *why,
                          size_t why_len)
{
    memset(response, 0, sizeof(*response));
    kaa_writer_t body;
    kaa_writer_init(&body);
    uint32_t protocol = KAATCP_PROTOCOL_AVRO_V2;
    uint8_t next_protocol[4] = {(uint8_t)(protocol >> 24), (uint8_t)(protocol >> 16),
                                (uint8_t)(protocol >> 8), (uint8_t)protocol};
    part(&body, "requestKey", wrapped_key, 256);
    part(&body, "requestData", data, len);
    part(&body, "nextProtocol", next_protocol, sizeof(next_protocol));
    kaa_json_raw(&body, "--" BOUNDARY "--\r\n");
    kaa_writer_t request;
    kaa_writer_init(&request);
    char head[512];
    snprintf(head, sizeof(head),
             "POST %s HTTP/1.1\r\nHost: %s:%u\r\n"
             "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\n"
             "Content-Length: %lu\r\nConnection: close\r\n\r\n",
             path, host, (unsigned)port, (unsigned long)body.size);
    kaa_json_raw(&request, head);
    kaa_writer_raw(&request, body.data, body.size);
    kaa_writer_free(&body);
    if (request.failed) {
        kaa_writer_free(&request);
        return KAA_ERR_NOMEM;
    }
    kaa_socket_t *socket = NULL;
    kaa_error_t rc = kaa_pal_tcp_connect(host, port, timeout_ms, &socket, why, why_len);
    if (rc != KAA_OK) {
        kaa_writer_free(&request);
        return rc;
    }
    rc = kaa_pal_tcp_send(socket, request.data, request.size, timeout_ms);
    kaa_writer_free(&request);
    kaa_writer_t answer;
    kaa_writer_init(&answer);
    uint64_t deadline = kaa_pal_now_ms() + timeout_ms;
    while (rc == KAA_OK) {
        uint8_t chunk[4096];
        uint64_t now = kaa_pal_now_ms();
        if (now >= deadline) {
            rc = KAA_ERR_TIMEOUT;
            break;
        }
        long n = kaa_pal_tcp_recv(socket, chunk, sizeof(chunk), (uint32_t)(deadline - now));
        if (n < 0) {
            break; /* the server closed: the answer is complete */
        }
        kaa_writer_raw(&answer, chunk, (size_t)n);
        if (answer.failed || answer.size > MAX_RESPONSE) {
            rc = KAA_ERR_PROTOCOL;
        }
    }
    kaa_pal_tcp_close(socket);
    uint8_t *text = rc == KAA_OK ? kaa_writer_take(&answer, &len) : NULL;
    kaa_writer_free(&answer);
    if (rc != KAA_OK || !text) {
        free(text);
        snprintf(why, why_len, "%s", rc == KAA_ERR_TIMEOUT ? "no answer in time" : "bad answer");
        return rc == KAA_OK ? KAA_ERR_NOMEM : rc;
    }
    char *end_of_head = strstr((char *)text, "\r\n\r\n");
    int status = 0;
    if (!end_of_head || sscanf((char *)text, "HTTP/1.%*d %d", &status) != 1) {
        free(text);
        snprintf(why, why_len, "malformed HTTP answer");
        return KAA_ERR_PROTOCOL;
    }
    *end_of_head = 0;
    const char *headers = strstr((char *)text, "\r\n");
    headers = headers ? headers + 2 : "";
    response->status = status;
    response->signature = header(headers, "X-SIGNATURE");
    char *encoding = header(headers, "Transfer-Encoding");
    char *length = header(headers, "Content-Length");
    uint8_t *body_start = (uint8_t *)end_of_head + 4;
    size_t body_len = len - (size_t)(body_start - text);
    if (length && strtoul(length, NULL, 10) < body_len) {
        body_len = strtoul(length, NULL, 10);
    }
    int ok = 1;
    if (encoding && strstr(encoding, "chunked")) {
        ok = unchunk(body_start, body_len, &body_len);
    }
    free(encoding);
    free(length);
    if (!ok) {
        free(text);
        kaa_http_response_free(response);
        snprintf(why, why_len, "malformed chunked HTTP answer");
        return KAA_ERR_PROTOCOL;
    }
    response->body = malloc(body_len ? body_len : 1);
    if (!response->body) {
        free(text);
        kaa_http_response_free(response);
        return KAA_ERR_NOMEM;
    }
    memcpy(response->body, body_start, body_len);
    response->body_len = body_len;
    free(text);
    return KAA_OK;
}

void kaa_http_response_free(kaa_http_response_t *response)
{
    free(response->signature);
    free(response->body);
    memset(response, 0, sizeof(*response));
}
