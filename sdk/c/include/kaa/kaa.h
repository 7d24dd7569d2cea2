/*
 * The Kaa C SDK: one client context per endpoint, driven by the application's loop through
 * kaa_client_step(). It bootstraps from the baked-in Bootstrap servers over Kaatcp, keeps an
 * encrypted Kaatcp session with an Operations server, registers with the typed profile,
 * receives configuration (kept in storage) and topic notifications, uploads logs from a
 * bounded buffer with delivery callbacks, and on any failure reports an error, waits (with
 * backoff) and fails over to the next Operations server, bootstrapping again when the list is
 * used up. No global state: everything lives in the context.
 */
#ifndef KAA_H
#define KAA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaa/kaa_avro.h"
#include "kaa/kaa_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A Bootstrap server as the SDK reaches it. */
typedef struct {
    const char *host;
    uint16_t tcp_port;      /* Kaatcp port, 0: none */
    uint16_t http_port;     /* HTTP port, 0: none */
    const char *public_key; /* Base64 of its X.509 DER RSA public key */
} kaa_bootstrap_server_t;

/* What an SDK bakes in (generated/kaa_properties.c defines `kaa_properties`). */
typedef struct {
    const char *sdk_token;
    const kaa_bootstrap_server_t *bootstrap_servers;
    size_t bootstrap_server_count;
    const uint8_t *default_configuration; /* Avro binary, NULL: none */
    size_t default_configuration_len;
} kaa_properties_t;

/* The operations on one generated type, as the client uses them. */
typedef struct {
    size_t size;
    void (*init_default)(void *value);
    int (*serialize)(kaa_writer_t *w, const void *value);
    int (*deserialize)(kaa_reader_t *r, void *value);
    void (*free)(void *value);
    void (*to_json)(kaa_writer_t *w, const void *value);
} kaa_type_t;

/* The application's types (generated/kaa_app.c defines `kaa_types`); NULL: no such schema. */
typedef struct {
    const kaa_type_t *profile;
    const kaa_type_t *configuration;
    const kaa_type_t *notification;
    const kaa_type_t *log;
} kaa_types_t;

typedef struct {
    int64_t id;
    const char *name;
    bool optional; /* false: mandatory (the endpoint is subscribed) */
} kaa_topic_t;

/* Callbacks, all called from kaa_client_step() (or kaa_client_create()); any may be NULL. */
typedef struct {
    void *user;
    void (*on_connected)(void *user, const char *address);
    /* A configuration from the server (a value of the configuration type). */
    void (*on_configuration)(void *user, const void *configuration);
    void (*on_notification)(void *user, int64_t topic_id, const void *notification);
    void (*on_topics)(void *user, const kaa_topic_t *topics, size_t count);
    /* Log records first..last (ids from kaa_client_add_log) were stored by the server. */
    void (*on_logs_delivered)(void *user, uint64_t first, uint64_t last);
    /* They were not (error_code: Kaa's LogDeliveryErrorCode, -1 for a timeout); they are
     * sent again. */
    void (*on_logs_failed)(void *user, uint64_t first, uint64_t last, int error_code);
    /* Something went wrong; the client keeps trying. */
    void (*on_error)(void *user, kaa_error_t error, const char *message);
} kaa_callbacks_t;

/* How the client bootstraps: over Kaatcp, or over HTTP (`POST /BS/Sync`, the answer's
 * signature checked). Operations sessions are Kaatcp either way. */
typedef enum { KAA_TRANSPORT_TCP, KAA_TRANSPORT_HTTP } kaa_transport_t;

typedef struct {
    const kaa_properties_t *properties;
    const kaa_types_t *types;
    kaa_transport_t bootstrap_transport;
    /* Keys, the last configuration and the log buffer live here. */
    const char *state_dir;
    kaa_callbacks_t callbacks;
    /* Logs: kept in memory only instead of storage; bounds; batch size; how long a batch
     * waits for its delivery status. */
    bool memory_log_buffer;
    size_t log_buffer_records;
    size_t log_buffer_bytes;
    size_t log_batch_records;
    uint32_t log_delivery_timeout_ms;
    /* Network timeout; pause after a failure (doubling up to the maximum). */
    uint32_t timeout_ms;
    uint32_t retry_min_ms;
    uint32_t retry_max_ms;
    /* Kaatcp keepalive announced to servers (seconds); pings go at half of it. */
    uint16_t keep_alive_s;
} kaa_client_config_t;

typedef struct kaa_client kaa_client_t;

/* Defaults: the given properties, types and state dir; buffer of 10000 records / 4 MiB,
 * batches of 256, delivery timeout 30 s, timeouts 10 s, retries after 1..30 s, keepalive 200 s. */
void kaa_client_config_init(kaa_client_config_t *config, const kaa_properties_t *properties,
                            const kaa_types_t *types, const char *state_dir);

/* Loads (or creates) the endpoint key, the stored configuration and the log buffer. `profile`
 * is a value of the profile type (NULL: its defaults). `why` explains a failure. */
kaa_error_t kaa_client_create(kaa_client_t **client, const kaa_client_config_t *config,
                              const void *profile, char *why, size_t why_len);
/* Says goodbye to the server (DISCONNECT) and frees everything. */
void kaa_client_destroy(kaa_client_t *client);

/* Does the client's work: connects, reads, sends, retries. Waiting for news takes at most
 * max_wait_ms (less when a signal arrives); a step that opens a connection (bootstrap, a new
 * Operations session) may block up to the network timeout (`timeout_ms`) on each server. */
kaa_error_t kaa_client_step(kaa_client_t *client, uint32_t max_wait_ms);

/* The SHA-1 of the endpoint's public key (20 bytes): its identity on the server. */
const uint8_t *kaa_client_key_hash(const kaa_client_t *client);
/* The key hash in Base64 (heap text the caller frees): the endpoint's id in the admin API. */
char *kaa_client_key_hash_base64(const kaa_client_t *client);
/* The current configuration (a value of the configuration type) or NULL; *stored tells
 * whether it was kept from an earlier run and nothing newer came yet. */
const void *kaa_client_configuration(const kaa_client_t *client, bool *stored);

/* Queues a log record (a value of the log type); *id names it in delivery callbacks. */
kaa_error_t kaa_client_add_log(kaa_client_t *client, const void *record, uint64_t *id);
/* Replaces the profile and sends it. */
kaa_error_t kaa_client_set_profile(kaa_client_t *client, const void *profile);
/* Subscribes to an optional topic. */
kaa_error_t kaa_client_subscribe(kaa_client_t *client, int64_t topic_id);

/* A value of `type` as one-line JSON (heap text the caller frees), NULL without memory. */
char *kaa_to_json(const kaa_type_t *type, const void *value);

#ifdef __cplusplus
}
#endif

#endif
