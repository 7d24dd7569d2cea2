/*
 * The client context and its state machine (see kaa.h): bootstrap, Operations sessions,
 * registration, configuration, notifications, log upload, failover.
 */
#include "kaa/kaa.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaa/kaa_platform.h"
#include "kaa_crypto.h"
#include "kaa_http.h"
#include "kaa_kaatcp.h"
#include "kaa_logs.h"
#include "kaa_sync.h"

#define CONFIGURATION_FILE "configuration"
#define RECEIVE_CHUNK 4096

typedef struct {
    char *host;
    uint16_t port;
    uint8_t *public_key;
    size_t public_key_len;
    int32_t access_point_id;
} operations_server_t;

struct kaa_client {
    kaa_client_config_t config;
    char *state_dir;
    kaa_crypto_t crypto;

    uint8_t *profile;
    size_t profile_len;

    void *configuration;
    bool configuration_stored;
    uint8_t configuration_hash[KAA_KEY_HASH];
    bool has_configuration_hash;

    int64_t *topic_ids; /* sorted */
    size_t topic_count;
    int32_t topic_list_hash;
    kaa_sync_topic_state_t *topic_states;
    size_t topic_state_count;
    int64_t *subscriptions; /* to send */
    size_t subscription_count;

    kaa_log_buffer_t logs;
    bool in_flight;
    int32_t bucket;
    uint64_t batch_first;
    uint64_t batch_last;
    uint64_t batch_deadline;
    uint64_t logs_retry_at;
    int32_t next_bucket;

    operations_server_t *servers;
    size_t server_count;
    size_t next_server;
    uint64_t wake_at;
    uint32_t backoff_ms;

    /* The session. */
    kaa_socket_t *socket;
    kaa_session_key_t key;
    bool accepted;
    uint64_t connack_deadline;
    uint64_t last_write;
    uint64_t last_read;
    /* A ping went out and nothing came back yet: the answer is due by ping_deadline (a cut
     * network sends no FIN, so silence is the only sign). */
    bool ping_pending;
    uint64_t ping_deadline;
    char address[300];
    uint8_t *input;
    size_t input_len;
    size_t input_capacity;
    int32_t next_request_id;
};

static void report(kaa_client_t *c, kaa_error_t error, const char *format, ...)
{
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    if (c->config.callbacks.on_error) {
        c->config.callbacks.on_error(c->config.callbacks.user, error, message);
    }
}

void kaa_client_config_init(kaa_client_config_t *config, const kaa_properties_t *properties,
                            const kaa_types_t *types, const char *state_dir)
{
    memset(config, 0, sizeof(*config));
    config->properties = properties;
    config->types = types;
    config->state_dir = state_dir;
    config->log_buffer_records = 10000;
    config->log_buffer_bytes = 4u * 1024u * 1024u;
    config->log_batch_records = 256;
    config->log_delivery_timeout_ms = 30000;
    config->timeout_ms = 10000;
    config->retry_min_ms = 1000;
    config->retry_max_ms = 30000;
    config->keep_alive_s = 200;
}

char *kaa_to_json(const kaa_type_t *type, const void *value)
{
    kaa_writer_t w;
    kaa_writer_init(&w);
    if (type && value) {
        type->to_json(&w, value);
    } else {
        kaa_json_raw(&w, "null");
    }
    return (char *)kaa_writer_take(&w, NULL);
}

/* Decodes Avro `data` into a new value of `type`; NULL when malformed. */
static void *decode(const kaa_type_t *type, const uint8_t *data, size_t len)
{
    void *value = calloc(1, type->size);
    if (!value) {
        return NULL;
    }
    kaa_reader_t r;
    kaa_reader_init(&r, data, len);
    if (type->deserialize(&r, value) != 0) {
        free(value);
        return NULL;
    }
    return value;
}

static void drop(const kaa_type_t *type, void *value)
{
    if (value) {
        type->free(value);
        free(value);
    }
}

/* Avro bytes of a value of `type` (or of its defaults when value is NULL). */
static kaa_error_t encode(const kaa_type_t *type, const void *value, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!type) {
        return KAA_OK;
    }
    void *defaults = NULL;
    if (!value) {
        defaults = calloc(1, type->size);
        if (!defaults) {
            return KAA_ERR_NOMEM;
        }
        type->init_default(defaults);
        value = defaults;
    }
    kaa_writer_t w;
    kaa_writer_init(&w);
    int rc = type->serialize(&w, value);
    drop(type, defaults);
    if (rc != 0 || w.failed) {
        kaa_writer_free(&w);
        return w.failed ? KAA_ERR_NOMEM : KAA_ERR_CODEC;
    }
    *out = kaa_writer_take(&w, len);
    return *out ? KAA_OK : KAA_ERR_NOMEM;
}

static void load_configuration(kaa_client_t *c)
{
    const kaa_type_t *type = c->config.types ? c->config.types->configuration : NULL;
    if (!type) {
        return;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    if (kaa_pal_storage_read(c->state_dir, CONFIGURATION_FILE, &data, &len) == KAA_OK) {
        c->configuration = decode(type, data, len);
        if (c->configuration) {
            c->configuration_stored = true;
            c->has_configuration_hash = true;
            kaa_sha1(data, len, c->configuration_hash);
        } else {
            report(c, KAA_ERR_CODEC, "the stored configuration does not match the schema; ignored");
        }
        free(data);
    }
    const kaa_properties_t *p = c->config.properties;
    if (!c->configuration && p->default_configuration) {
        c->configuration = decode(type, p->default_configuration, p->default_configuration_len);
    }
}

kaa_error_t kaa_client_create(kaa_client_t **out, const kaa_client_config_t *config,
                              const void *profile, char *why, size_t why_len)
{
    *out = NULL;
    if (!config || !config->properties || !config->state_dir || !config->properties->sdk_token) {
        if (why && why_len) {
            snprintf(why, why_len, "the configuration needs properties and a state dir");
        }
        return KAA_ERR_BADPARAM;
    }
    kaa_client_t *c = calloc(1, sizeof(*c));
    if (!c) {
        return KAA_ERR_NOMEM;
    }
    c->config = *config;
    c->state_dir = kaa_strdup(config->state_dir);
    c->topic_list_hash = kaa_topic_list_hash(NULL, 0);
    c->backoff_ms = config->retry_min_ms;
    if (!c->state_dir) {
        free(c);
        return KAA_ERR_NOMEM;
    }
    kaa_error_t rc = kaa_crypto_init(&c->crypto, c->state_dir, why, why_len);
    if (rc == KAA_OK) {
        rc = encode(config->types ? config->types->profile : NULL, profile, &c->profile,
                    &c->profile_len);
        if (rc != KAA_OK && why && why_len) {
            snprintf(why, why_len, "encode the profile: %s", kaa_error_name(rc));
        }
    }
    if (rc == KAA_OK) {
        rc = kaa_logs_open(&c->logs, config->memory_log_buffer ? NULL : c->state_dir,
                           config->log_buffer_records, config->log_buffer_bytes);
        if (rc != KAA_OK && why && why_len) {
            snprintf(why, why_len, "open the log buffer in %s: %s", c->state_dir,
                     kaa_error_name(rc));
        }
    }
    if (rc != KAA_OK) {
        kaa_client_destroy(c);
        return rc;
    }
    load_configuration(c);
    *out = c;
    return KAA_OK;
}

static void free_servers(kaa_client_t *c)
{
    for (size_t i = 0; i < c->server_count; i++) {
        free(c->servers[i].host);
        free(c->servers[i].public_key);
    }
    free(c->servers);
    c->servers = NULL;
    c->server_count = 0;
    c->next_server = 0;
}

static kaa_error_t write_frame(kaa_client_t *c, kaa_writer_t *w)
{
    if (w->failed) {
        kaa_writer_free(w);
        return KAA_ERR_NOMEM;
    }
    kaa_error_t rc = kaa_pal_tcp_send(c->socket, w->data, w->size, c->config.timeout_ms);
    kaa_writer_free(w);
    c->last_write = kaa_pal_now_ms();
    return rc;
}

static void close_session(kaa_client_t *c, bool say_goodbye)
{
    if (!c->socket) {
        return;
    }
    if (say_goodbye) {
        kaa_writer_t w;
        kaa_writer_init(&w);
        kaatcp_disconnect(&w, 0);
        (void)write_frame(c, &w);
    }
    kaa_pal_tcp_close(c->socket);
    c->socket = NULL;
    kaa_session_key_free(&c->key);
    c->accepted = false;
    c->in_flight = false;
    c->ping_pending = false;
    c->input_len = 0;
}

void kaa_client_destroy(kaa_client_t *c)
{
    if (!c) {
        return;
    }
    close_session(c, true);
    free_servers(c);
    kaa_logs_close(&c->logs);
    kaa_crypto_free(&c->crypto);
    if (c->config.types && c->config.types->configuration) {
        drop(c->config.types->configuration, c->configuration);
    }
    free(c->topic_ids);
    free(c->topic_states);
    free(c->subscriptions);
    free(c->profile);
    free(c->input);
    free(c->state_dir);
    free(c);
}

const uint8_t *kaa_client_key_hash(const kaa_client_t *c)
{
    return c->crypto.key_hash;
}

char *kaa_client_key_hash_base64(const kaa_client_t *c)
{
    return kaa_base64_encode(c->crypto.key_hash, KAA_KEY_HASH);
}

const void *kaa_client_configuration(const kaa_client_t *c, bool *stored)
{
    if (stored) {
        *stored = c->configuration_stored;
    }
    return c->configuration;
}

/* Waits before the next attempt, doubling the pause up to the maximum. */
static void pause_after_failure(kaa_client_t *c)
{
    c->wake_at = kaa_pal_now_ms() + c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > c->config.retry_max_ms ? c->config.retry_max_ms
                                                                : c->backoff_ms * 2;
}

/* Seals a request (AES with the session key) and frames it: CONNECT when `connect`. */
static kaa_error_t send_request(kaa_client_t *c, const kaa_sync_request_t *request, bool connect)
{
    kaa_writer_t plain;
    kaa_writer_init(&plain);
    kaa_sync_request_encode(&plain, request);
    if (plain.failed) {
        kaa_writer_free(&plain);
        return KAA_ERR_NOMEM;
    }
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    kaa_error_t rc = kaa_session_encrypt(&c->key, plain.data, plain.size, &sealed, &sealed_len);
    kaa_writer_free(&plain);
    if (rc != KAA_OK) {
        return rc;
    }
    kaa_writer_t frame;
    kaa_writer_init(&frame);
    if (connect) {
        kaatcp_connect(&frame, c->key.wrapped, c->key.signature, c->config.keep_alive_s, sealed,
                       sealed_len);
    } else {
        kaatcp_sync(&frame, true, sealed, sealed_len);
    }
    free(sealed);
    return write_frame(c, &frame);
}

/* Reads from the socket until one whole frame is buffered (or the deadline passes). The frame
 * stays at the start of c->input until consume_frame(). */
static kaa_error_t read_frame(kaa_client_t *c, kaatcp_frame_t *frame, uint64_t deadline,
                              char *why, size_t why_len)
{
    for (;;) {
        kaa_error_t rc = kaatcp_parse(c->input, c->input_len, frame, why, why_len);
        if (rc != KAA_ERR_NOT_FOUND) {
            return rc;
        }
        uint64_t now = kaa_pal_now_ms();
        if (now >= deadline) {
            return KAA_ERR_TIMEOUT;
        }
        if (c->input_capacity - c->input_len < RECEIVE_CHUNK) {
            size_t capacity = c->input_capacity ? c->input_capacity * 2 : RECEIVE_CHUNK * 2;
            uint8_t *grown = realloc(c->input, capacity);
            if (!grown) {
                return KAA_ERR_NOMEM;
            }
            c->input = grown;
            c->input_capacity = capacity;
        }
        long n = kaa_pal_tcp_recv(c->socket, c->input + c->input_len,
                                  c->input_capacity - c->input_len, (uint32_t)(deadline - now));
        if (n < 0) {
            snprintf(why, why_len, "the server closed the connection");
            return KAA_ERR_CLOSED;
        }
        if (n == 0) {
            return KAA_ERR_TIMEOUT;
        }
        c->input_len += (size_t)n;
    }
}

static void consume_frame(kaa_client_t *c, const kaatcp_frame_t *frame)
{
    memmove(c->input, c->input + frame->consumed, c->input_len - frame->consumed);
    c->input_len -= frame->consumed;
}

static const char *connack_meaning(uint8_t code)
{
    switch (code) {
    case 2: return "unacceptable protocol";
    case 3: return "identifier rejected";
    case 4: return "server unavailable";
    case 5: return "bad credentials: unknown SDK token or key";
    case 6: return "not authorized";
    case 0x10: return "endpoint verification failed";
    default: return "unknown code";
    }
}

/* Opens a TCP connection and a session key towards a server (the session is not up yet). */
static kaa_error_t open_connection(kaa_client_t *c, const char *host, uint16_t port,
                                   const uint8_t *key, size_t key_len, char *why,
                                   size_t why_len)
{
    kaa_error_t rc = kaa_session_key_new(&c->crypto, &c->key, key, key_len, why, why_len);
    if (rc != KAA_OK) {
        return rc;
    }
    rc = kaa_pal_tcp_connect(host, port, c->config.timeout_ms, &c->socket, why, why_len);
    if (rc != KAA_OK) {
        kaa_session_key_free(&c->key);
        c->socket = NULL;
        return rc;
    }
    snprintf(c->address, sizeof(c->address), "%s:%u", host, (unsigned)port);
    c->last_read = kaa_pal_now_ms();
    c->input_len = 0;
    c->accepted = false;
    return KAA_OK;
}

/* Reads CONNACK and the first KAASYNC of a connection, decrypted; *plain is heap memory. */
static kaa_error_t first_answer(kaa_client_t *c, uint8_t **plain, size_t *plain_len, char *why,
                                size_t why_len)
{
    uint64_t deadline = kaa_pal_now_ms() + c->config.timeout_ms;
    kaatcp_frame_t frame;
    for (;;) {
        kaa_error_t rc = read_frame(c, &frame, deadline, why, why_len);
        if (rc == KAA_ERR_TIMEOUT) {
            snprintf(why, why_len, "no answer in %u ms", (unsigned)c->config.timeout_ms);
        }
        if (rc != KAA_OK) {
            return rc;
        }
        consume_frame(c, &frame);
        if (frame.type == KAATCP_CONNACK) {
            if (frame.code != KAATCP_CONNACK_ACCEPTED) {
                snprintf(why, why_len, "refused the endpoint of SDK token %s: CONNACK %u (%s)",
                         c->config.properties->sdk_token, (unsigned)frame.code,
                         connack_meaning(frame.code));
                return KAA_ERR_REFUSED;
            }
            c->accepted = true;
            continue;
        }
        if (frame.type == KAATCP_DISCONNECT) {
            snprintf(why, why_len, "disconnected the endpoint (reason %u)", (unsigned)frame.code);
            return KAA_ERR_REFUSED;
        }
        if (frame.type != KAATCP_KAASYNC || !c->accepted) {
            snprintf(why, why_len, "unexpected frame %u before CONNACK", (unsigned)frame.type);
            return KAA_ERR_PROTOCOL;
        }
        rc = kaa_session_decrypt(&c->key, frame.payload, frame.payload_len, plain, plain_len);
        if (rc != KAA_OK) {
            snprintf(why, why_len, "cannot decrypt the answer");
        }
        return rc;
    }
}

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* `i32 keyLen | key | i32 hostLen | host | i32 port` into a server entry. */
static bool parse_connection_info(const uint8_t *p, size_t len, operations_server_t *s)
{
    size_t pos = 0;
    uint32_t key_len;
    uint32_t host_len;
    if (len - pos < 4 || (key_len = read_be32(p + pos)) > len - pos - 4) {
        return false;
    }
    pos += 4;
    const uint8_t *key = p + pos;
    pos += key_len;
    if (len - pos < 4 || (host_len = read_be32(p + pos)) > len - pos - 4) {
        return false;
    }
    pos += 4;
    const uint8_t *host = p + pos;
    pos += host_len;
    if (len - pos < 4) {
        return false;
    }
    uint32_t port = read_be32(p + pos);
    if (port == 0 || port > 65535 || key_len == 0) {
        return false;
    }
    s->host = malloc(host_len + 1);
    s->public_key = malloc(key_len);
    if (!s->host || !s->public_key) {
        free(s->host);
        free(s->public_key);
        return false;
    }
    memcpy(s->host, host, host_len);
    s->host[host_len] = 0;
    memcpy(s->public_key, key, key_len);
    s->public_key_len = key_len;
    s->port = (uint16_t)port;
    return true;
}

/* Asks a Bootstrap server over Kaatcp; *plain is its decrypted answer. */
static kaa_error_t bootstrap_tcp(kaa_client_t *c, const kaa_bootstrap_server_t *b,
                                 const uint8_t *key, size_t key_len, const uint8_t *request,
                                 size_t request_len, uint8_t **plain, size_t *plain_len,
                                 char *why, size_t why_len)
{
    kaa_error_t rc = open_connection(c, b->host, b->tcp_port, key, key_len, why, why_len);
    if (rc != KAA_OK) {
        return rc;
    }
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    rc = kaa_session_encrypt(&c->key, request, request_len, &sealed, &sealed_len);
    if (rc == KAA_OK) {
        kaa_writer_t frame;
        kaa_writer_init(&frame);
        kaatcp_connect(&frame, c->key.wrapped, c->key.signature, c->config.keep_alive_s, sealed,
                       sealed_len);
        free(sealed);
        rc = write_frame(c, &frame);
    }
    if (rc != KAA_OK) {
        snprintf(why, why_len, "cannot send: %s", kaa_error_name(rc));
    } else {
        rc = first_answer(c, plain, plain_len, why, why_len);
    }
    close_session(c, rc == KAA_OK);
    return rc;
}

/* Asks a Bootstrap server over HTTP (its answer signed by its key); *plain is the answer. */
static kaa_error_t bootstrap_http(kaa_client_t *c, const kaa_bootstrap_server_t *b,
                                  const uint8_t *key, size_t key_len, const uint8_t *request,
                                  size_t request_len, uint8_t **plain, size_t *plain_len,
                                  char *why, size_t why_len)
{
    kaa_session_key_t session;
    kaa_error_t rc = kaa_session_key_new(&c->crypto, &session, key, key_len, why, why_len);
    if (rc != KAA_OK) {
        return rc;
    }
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    kaa_http_response_t response;
    memset(&response, 0, sizeof(response));
    rc = kaa_session_encrypt(&session, request, request_len, &sealed, &sealed_len);
    if (rc == KAA_OK) {
        rc = kaa_http_sync(b->host, b->http_port, "/BS/Sync", session.wrapped, sealed,
                           sealed_len, c->config.timeout_ms, &response, why, why_len);
        free(sealed);
    }
    if (rc == KAA_OK && response.status != 200) {
        snprintf(why, why_len, "refused the endpoint of SDK token %s: HTTP %d",
                 c->config.properties->sdk_token, response.status);
        rc = KAA_ERR_REFUSED;
    }
    if (rc == KAA_OK) {
        rc = kaa_session_decrypt(&session, response.body, response.body_len, plain, plain_len);
        if (rc != KAA_OK) {
            snprintf(why, why_len, "cannot decrypt the answer");
        }
    }
    if (rc == KAA_OK) {
        uint8_t *signature = NULL;
        size_t signature_len = 0;
        if (!response.signature ||
            kaa_base64_decode(response.signature, &signature, &signature_len) != 0 ||
            kaa_crypto_verify(key, key_len, *plain, *plain_len, signature, signature_len) !=
                KAA_OK) {
            snprintf(why, why_len, "the answer's signature does not match the server key");
            rc = KAA_ERR_BAD_KEY;
            free(*plain);
            *plain = NULL;
        }
        free(signature);
    }
    kaa_http_response_free(&response);
    kaa_session_key_free(&session);
    return rc;
}

/* Asks one Bootstrap server for the Operations servers speaking Kaatcp. */
static kaa_error_t bootstrap_from(kaa_client_t *c, const kaa_bootstrap_server_t *b, bool http,
                                  char *why, size_t why_len)
{
    uint8_t *key = NULL;
    size_t key_len = 0;
    if (!b->public_key || kaa_base64_decode(b->public_key, &key, &key_len) != 0) {
        snprintf(why, why_len, "bad public key: not Base64 (damaged properties?)");
        return KAA_ERR_BAD_KEY;
    }
    kaa_sync_request_t request;
    memset(&request, 0, sizeof(request));
    request.request_id = 1;
    request.sdk_token = c->config.properties->sdk_token;
    request.timeout_ms = -1;
    request.bootstrap = true;
    kaa_writer_t encoded;
    kaa_writer_init(&encoded);
    kaa_sync_request_encode(&encoded, &request);
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    kaa_error_t rc = KAA_ERR_NOMEM;
    if (!encoded.failed) {
        rc = (http ? bootstrap_http : bootstrap_tcp)(c, b, key, key_len, encoded.data,
                                                     encoded.size, &plain, &plain_len, why,
                                                     why_len);
    }
    kaa_writer_free(&encoded);
    free(key);
    if (rc != KAA_OK) {
        return rc;
    }
    kaa_sync_response_t response;
    rc = kaa_sync_response_decode(plain, plain_len, &response);
    if (rc != KAA_OK || !response.has_bootstrap) {
        free(plain);
        if (rc == KAA_OK) {
            kaa_sync_response_free(&response);
        }
        snprintf(why, why_len, "malformed bootstrap answer");
        return KAA_ERR_PROTOCOL;
    }
    free_servers(c);
    for (size_t i = 0; i < response.protocol_count; i++) {
        const kaa_sync_protocol_t *p = &response.protocols[i];
        if (p->transport_id != KAA_TRANSPORT_TCP_ID) {
            continue;
        }
        if (!kaa_grow((void **)&c->servers, sizeof(*c->servers), c->server_count, 1)) {
            break;
        }
        operations_server_t *s = &c->servers[c->server_count];
        if (parse_connection_info(p->connection_info, p->connection_info_len, s)) {
            s->access_point_id = p->access_point_id;
            c->server_count++;
        }
    }
    kaa_sync_response_free(&response);
    free(plain);
    if (c->server_count == 0) {
        snprintf(why, why_len, "listed no Operations server speaking Kaatcp");
        return KAA_ERR_UNREACHABLE;
    }
    return KAA_OK;
}

static void bootstrap(kaa_client_t *c)
{
    const kaa_properties_t *p = c->config.properties;
    if (p->bootstrap_server_count == 0) {
        report(c, KAA_ERR_UNREACHABLE, "no bootstrap server configured");
    }
    for (size_t i = 0; i < p->bootstrap_server_count; i++) {
        const kaa_bootstrap_server_t *b = &p->bootstrap_servers[i];
        bool http = c->config.bootstrap_transport == KAA_TRANSPORT_HTTP;
        uint16_t port = http ? b->http_port : b->tcp_port;
        if (!port) {
            continue;
        }
        char why[300] = "";
        kaa_error_t rc = bootstrap_from(c, b, http, why, sizeof(why));
        if (rc == KAA_OK) {
            return;
        }
        report(c, rc, "bootstrap server %s:%u: %s%s", b->host, (unsigned)port,
               rc == KAA_ERR_UNREACHABLE || rc == KAA_ERR_TIMEOUT ? "unreachable: " : "", why);
    }
    pause_after_failure(c);
}

static void fill_meta(kaa_client_t *c, kaa_sync_request_t *q, uint8_t profile_hash[KAA_KEY_HASH])
{
    memset(q, 0, sizeof(*q));
    q->request_id = ++c->next_request_id;
    q->sdk_token = c->config.properties->sdk_token;
    q->key_hash = c->crypto.key_hash;
    kaa_sha1(c->profile, c->profile_len, profile_hash);
    q->profile_hash = profile_hash;
    q->timeout_ms = c->config.timeout_ms;
}

static void fill_notifications(kaa_client_t *c, kaa_sync_request_t *q)
{
    q->notification = true;
    q->topic_list_hash = c->topic_list_hash;
    q->topic_states = c->topic_states;
    q->topic_state_count = c->topic_state_count;
    q->subscribe = c->subscriptions;
    q->subscribe_count = c->subscription_count;
}

/* Every section, as the first request of a session. */
static kaa_error_t send_full_request(kaa_client_t *c, bool connect)
{
    kaa_sync_request_t q;
    uint8_t profile_hash[KAA_KEY_HASH];
    fill_meta(c, &q, profile_hash);
    q.profile = true;
    q.public_key = c->crypto.public_der;
    q.public_key_len = c->crypto.public_der_len;
    q.profile_body = c->profile;
    q.profile_len = c->profile_len;
    q.configuration = true;
    q.configuration_hash = c->has_configuration_hash ? c->configuration_hash : NULL;
    q.configuration_hash_len = c->has_configuration_hash ? KAA_KEY_HASH : 0;
    fill_notifications(c, &q);
    q.event_sequence = true;
    kaa_error_t rc = send_request(c, &q, connect);
    if (rc == KAA_OK) {
        c->subscription_count = 0;
    }
    return rc;
}

/* Sends the next log batch if one is due. */
static kaa_error_t send_logs(kaa_client_t *c)
{
    uint64_t now = kaa_pal_now_ms();
    if (!c->socket || !c->accepted || c->in_flight || now < c->logs_retry_at || !c->logs.count) {
        return KAA_OK;
    }
    size_t count = c->logs.count < c->config.log_batch_records ? c->logs.count
                                                                 : c->config.log_batch_records;
    kaa_sync_blob_t *entries = malloc(count * sizeof(*entries));
    if (!entries) {
        return KAA_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        entries[i].data = c->logs.items[i].data;
        entries[i].len = c->logs.items[i].len;
    }
    kaa_sync_request_t q;
    uint8_t profile_hash[KAA_KEY_HASH];
    fill_meta(c, &q, profile_hash);
    q.logs = true;
    q.log_bucket = ++c->next_bucket;
    q.log_entries = entries;
    q.log_count = count;
    kaa_error_t rc = send_request(c, &q, false);
    free(entries);
    if (rc == KAA_OK) {
        c->in_flight = true;
        c->bucket = q.log_bucket;
        c->batch_first = c->logs.items[0].id;
        c->batch_last = c->logs.items[count - 1].id;
        c->batch_deadline = now + c->config.log_delivery_timeout_ms;
    }
    return rc;
}

static kaa_error_t send_subscriptions(kaa_client_t *c)
{
    if (!c->socket || !c->accepted || !c->subscription_count) {
        return KAA_OK;
    }
    kaa_sync_request_t q;
    uint8_t profile_hash[KAA_KEY_HASH];
    fill_meta(c, &q, profile_hash);
    fill_notifications(c, &q);
    kaa_error_t rc = send_request(c, &q, false);
    if (rc == KAA_OK) {
        c->subscription_count = 0;
    }
    return rc;
}

static void connect_operations(kaa_client_t *c)
{
    operations_server_t *s = &c->servers[c->next_server];
    char why[300] = "";
    kaa_error_t rc = open_connection(c, s->host, s->port, s->public_key, s->public_key_len, why,
                                     sizeof(why));
    if (rc == KAA_OK) {
        rc = send_full_request(c, true);
        if (rc != KAA_OK) {
            snprintf(why, sizeof(why), "cannot send: %s", kaa_error_name(rc));
            close_session(c, false);
        }
    }
    if (rc != KAA_OK) {
        report(c, rc, "operations server %s:%u: %s%s", s->host, (unsigned)s->port,
               rc == KAA_ERR_UNREACHABLE || rc == KAA_ERR_TIMEOUT ? "unreachable: " : "", why);
        c->next_server++;
        pause_after_failure(c);
        return;
    }
    c->connack_deadline = kaa_pal_now_ms() + c->config.timeout_ms;
}

/* Ends the session after a failure and moves on to the next server. */
static void session_failed(kaa_client_t *c, kaa_error_t error, const char *why)
{
    report(c, error, "operations server %s: %s", c->address, why);
    close_session(c, false);
    c->next_server++;
    pause_after_failure(c);
}

static int compare_ids(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void absorb_topics(kaa_client_t *c, const kaa_sync_response_t *s)
{
    int64_t *ids = malloc((s->topic_count ? s->topic_count : 1) * sizeof(*ids));
    kaa_topic_t *topics = malloc((s->topic_count ? s->topic_count : 1) * sizeof(*topics));
    if (!ids || !topics) {
        free(ids);
        free(topics);
        return;
    }
    for (size_t i = 0; i < s->topic_count; i++) {
        ids[i] = s->topics[i].id;
        topics[i].id = s->topics[i].id;
        topics[i].name = s->topics[i].name ? s->topics[i].name : "";
        topics[i].optional = s->topics[i].optional;
    }
    qsort(ids, s->topic_count, sizeof(*ids), compare_ids);
    free(c->topic_ids);
    c->topic_ids = ids;
    c->topic_count = s->topic_count;
    c->topic_list_hash = kaa_topic_list_hash(ids, s->topic_count);
    if (c->config.callbacks.on_topics) {
        c->config.callbacks.on_topics(c->config.callbacks.user, topics, s->topic_count);
    }
    free(topics);
}

static void absorb_notification(kaa_client_t *c, const kaa_sync_notification_t *n)
{
    if (n->has_seq_number) {
        size_t i = 0;
        while (i < c->topic_state_count && c->topic_states[i].topic_id != n->topic_id) {
            i++;
        }
        if (i == c->topic_state_count) {
            if (!kaa_grow((void **)&c->topic_states, sizeof(*c->topic_states),
                          c->topic_state_count, 1)) {
                return;
            }
            c->topic_states[i].topic_id = n->topic_id;
            c->topic_states[i].seq_number = n->seq_number;
            c->topic_state_count++;
        } else if (n->seq_number > c->topic_states[i].seq_number) {
            c->topic_states[i].seq_number = n->seq_number;
        }
    }
    const kaa_type_t *type = c->config.types ? c->config.types->notification : NULL;
    if (!type) {
        return;
    }
    void *value = decode(type, n->body, n->body_len);
    if (!value) {
        report(c, KAA_ERR_CODEC, "a notification on topic %lld does not match the schema",
               (long long)n->topic_id);
        return;
    }
    if (c->config.callbacks.on_notification) {
        c->config.callbacks.on_notification(c->config.callbacks.user, n->topic_id, value);
    }
    drop(type, value);
}

static void absorb_configuration(kaa_client_t *c, const uint8_t *body, size_t len)
{
    const kaa_type_t *type = c->config.types ? c->config.types->configuration : NULL;
    if (!type) {
        return;
    }
    void *value = decode(type, body, len);
    if (!value) {
        report(c, KAA_ERR_CODEC, "the configuration from the server does not match the schema");
        return;
    }
    kaa_error_t rc = kaa_pal_storage_write(c->state_dir, CONFIGURATION_FILE, body, len);
    if (rc != KAA_OK) {
        report(c, rc, "cannot keep the configuration in %s", c->state_dir);
    }
    drop(type, c->configuration);
    c->configuration = value;
    c->configuration_stored = false;
    kaa_sha1(body, len, c->configuration_hash);
    c->has_configuration_hash = true;
    if (c->config.callbacks.on_configuration) {
        c->config.callbacks.on_configuration(c->config.callbacks.user, value);
    }
}

static void absorb_deliveries(kaa_client_t *c, const kaa_sync_response_t *s)
{
    for (size_t i = 0; i < s->delivery_count; i++) {
        const kaa_sync_delivery_t *d = &s->deliveries[i];
        if (!c->in_flight || d->bucket != c->bucket) {
            continue; /* a batch already sent again */
        }
        c->in_flight = false;
        if (d->result == KAA_RESULT_SUCCESS) {
            kaa_error_t rc = kaa_logs_acknowledge(&c->logs, c->batch_last);
            if (rc != KAA_OK) {
                report(c, rc, "cannot update the log buffer");
            }
            if (c->config.callbacks.on_logs_delivered) {
                c->config.callbacks.on_logs_delivered(c->config.callbacks.user, c->batch_first,
                                                      c->batch_last);
            }
        } else {
            c->logs_retry_at = kaa_pal_now_ms() + c->config.retry_min_ms;
            if (c->config.callbacks.on_logs_failed) {
                c->config.callbacks.on_logs_failed(c->config.callbacks.user, c->batch_first,
                                                   c->batch_last, d->error_code);
            }
        }
    }
}

/* Takes in one decrypted SyncResponse of the session. */
static void absorb(kaa_client_t *c, const uint8_t *plain, size_t len)
{
    kaa_sync_response_t s;
    kaa_error_t rc = kaa_sync_response_decode(plain, len, &s);
    if (rc != KAA_OK) {
        session_failed(c, rc, "malformed SyncResponse");
        return;
    }
    if (s.status == KAA_RESULT_PROFILE_RESYNC) {
        kaa_sync_response_free(&s);
        rc = send_full_request(c, false);
        if (rc != KAA_OK) {
            session_failed(c, rc, "cannot send the profile");
        }
        return;
    }
    if (s.status == KAA_RESULT_FAILURE) {
        kaa_sync_response_free(&s);
        session_failed(c, KAA_ERR_REFUSED, "the sync failed");
        return;
    }
    if (s.status == KAA_RESULT_REDIRECT && s.has_redirect) {
        int32_t target = s.redirect_access_point;
        kaa_sync_response_free(&s);
        close_session(c, true);
        for (size_t i = 0; i < c->server_count; i++) {
            if (c->servers[i].access_point_id == target) {
                c->next_server = i;
                return;
            }
        }
        c->next_server++;
        return;
    }
    absorb_deliveries(c, &s);
    if (s.has_configuration_body && s.configuration_status != KAA_STATUS_NO_DELTA) {
        absorb_configuration(c, s.configuration_body, s.configuration_len);
    }
    if (s.has_topics) {
        absorb_topics(c, &s);
    }
    for (size_t i = 0; i < s.notification_count; i++) {
        absorb_notification(c, &s.notifications[i]);
    }
    kaa_sync_response_free(&s);
}

/* Handles the frames buffered or arriving within `wait_ms`. */
static void session_receive(kaa_client_t *c, uint32_t wait_ms)
{
    char why[300] = "";
    kaatcp_frame_t frame;
    uint64_t deadline = kaa_pal_now_ms() + wait_ms;
    while (c->socket) {
        kaa_error_t rc = read_frame(c, &frame, deadline, why, sizeof(why));
        if (rc == KAA_ERR_TIMEOUT) {
            return;
        }
        if (rc != KAA_OK) {
            session_failed(c, rc, why);
            return;
        }
        consume_frame(c, &frame);
        c->ping_pending = false;
        c->last_read = kaa_pal_now_ms();
        switch (frame.type) {
        case KAATCP_CONNACK:
            if (frame.code != KAATCP_CONNACK_ACCEPTED) {
                snprintf(why, sizeof(why), "refused the endpoint of SDK token %s: CONNACK %u (%s)",
                         c->config.properties->sdk_token, (unsigned)frame.code,
                         connack_meaning(frame.code));
                session_failed(c, KAA_ERR_REFUSED, why);
                return;
            }
            c->accepted = true;
            c->backoff_ms = c->config.retry_min_ms;
            if (c->config.callbacks.on_connected) {
                c->config.callbacks.on_connected(c->config.callbacks.user, c->address);
            }
            break;
        case KAATCP_DISCONNECT:
            snprintf(why, sizeof(why), "disconnected the endpoint (reason %u)",
                     (unsigned)frame.code);
            session_failed(c, frame.code == 0 ? KAA_ERR_CLOSED : KAA_ERR_REFUSED, why);
            return;
        case KAATCP_PINGRESP:
            break;
        case KAATCP_KAASYNC: {
            if (!c->accepted) {
                session_failed(c, KAA_ERR_PROTOCOL, "KAASYNC before CONNACK");
                return;
            }
            uint8_t *plain = NULL;
            size_t plain_len = 0;
            if (!frame.encrypted) {
                session_failed(c, KAA_ERR_PROTOCOL, "unencrypted answer");
                return;
            }
            rc = kaa_session_decrypt(&c->key, frame.payload, frame.payload_len, &plain,
                                     &plain_len);
            if (rc != KAA_OK) {
                session_failed(c, rc, "cannot decrypt an answer");
                return;
            }
            absorb(c, plain, plain_len);
            free(plain);
            if (c->socket && send_logs(c) != KAA_OK) {
                session_failed(c, KAA_ERR_CLOSED, "cannot send logs");
            }
            break;
        }
        default:
            session_failed(c, KAA_ERR_PROTOCOL, "unexpected frame");
            return;
        }
    }
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void session_step(kaa_client_t *c, uint32_t max_wait_ms)
{
    uint64_t now = kaa_pal_now_ms();
    if (!c->accepted && now >= c->connack_deadline) {
        session_failed(c, KAA_ERR_TIMEOUT, "no CONNACK in time");
        return;
    }
    if (c->in_flight && now >= c->batch_deadline) {
        c->in_flight = false;
        if (c->config.callbacks.on_logs_failed) {
            c->config.callbacks.on_logs_failed(c->config.callbacks.user, c->batch_first,
                                               c->batch_last, -1);
        }
    }
    if (c->ping_pending && now >= c->ping_deadline) {
        char why[80];
        snprintf(why, sizeof(why), "no answer to a ping in %u ms", (unsigned)c->config.timeout_ms);
        session_failed(c, KAA_ERR_TIMEOUT, why);
        return;
    }
    /* Ping when either direction was quiet for half the keepalive: the server's channel
     * expires without writes, and a dead network shows only as silence. */
    uint64_t half = (uint64_t)c->config.keep_alive_s * 500u;
    uint64_t ping_at = earliest(c->last_write, c->last_read) + half;
    if (c->accepted && !c->ping_pending && now >= ping_at) {
        kaa_writer_t w;
        kaa_writer_init(&w);
        kaatcp_ping(&w);
        if (write_frame(c, &w) != KAA_OK) {
            session_failed(c, KAA_ERR_CLOSED, "cannot send a ping");
            return;
        }
        c->ping_pending = true;
        c->ping_deadline = now + c->config.timeout_ms;
    }
    if (send_subscriptions(c) != KAA_OK || send_logs(c) != KAA_OK) {
        session_failed(c, KAA_ERR_CLOSED, "cannot send");
        return;
    }
    uint64_t until = now + max_wait_ms;
    if (c->accepted) {
        until = earliest(until, c->ping_pending ? c->ping_deadline : ping_at);
    }
    if (c->in_flight) {
        until = earliest(until, c->batch_deadline);
    } else if (c->logs.count && c->logs_retry_at > now) {
        until = earliest(until, c->logs_retry_at);
    }
    if (!c->accepted) {
        until = earliest(until, c->connack_deadline);
    }
    session_receive(c, until > now ? (uint32_t)(until - now) : 0);
}

kaa_error_t kaa_client_step(kaa_client_t *c, uint32_t max_wait_ms)
{
    if (!c) {
        return KAA_ERR_BADPARAM;
    }
    if (c->socket) {
        session_step(c, max_wait_ms);
        return KAA_OK;
    }
    uint64_t now = kaa_pal_now_ms();
    if (now < c->wake_at) {
        uint64_t left = c->wake_at - now;
        kaa_pal_sleep_ms(left < max_wait_ms ? (uint32_t)left : max_wait_ms);
        return KAA_OK;
    }
    if (c->next_server >= c->server_count) {
        bootstrap(c);
        return KAA_OK;
    }
    connect_operations(c);
    return KAA_OK;
}

kaa_error_t kaa_client_add_log(kaa_client_t *c, const void *record, uint64_t *id)
{
    const kaa_type_t *type = c->config.types ? c->config.types->log : NULL;
    if (!type || !record) {
        return KAA_ERR_BADPARAM;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    kaa_error_t rc = encode(type, record, &data, &len);
    if (rc == KAA_OK) {
        rc = kaa_logs_append(&c->logs, data, len, id);
    }
    free(data);
    return rc;
}

kaa_error_t kaa_client_set_profile(kaa_client_t *c, const void *profile)
{
    uint8_t *data = NULL;
    size_t len = 0;
    kaa_error_t rc = encode(c->config.types ? c->config.types->profile : NULL, profile, &data,
                            &len);
    if (rc != KAA_OK) {
        return rc;
    }
    free(c->profile);
    c->profile = data;
    c->profile_len = len;
    if (c->socket && c->accepted && send_full_request(c, false) != KAA_OK) {
        session_failed(c, KAA_ERR_CLOSED, "cannot send the profile");
    }
    return KAA_OK;
}

kaa_error_t kaa_client_subscribe(kaa_client_t *c, int64_t topic_id)
{
    if (!kaa_grow((void **)&c->subscriptions, sizeof(*c->subscriptions), c->subscription_count,
                  1)) {
        return KAA_ERR_NOMEM;
    }
    c->subscriptions[c->subscription_count++] = topic_id;
    return KAA_OK;
}
