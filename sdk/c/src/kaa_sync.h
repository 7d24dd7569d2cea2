/*
 * Kaa's SyncRequest (the sections this SDK sends) and SyncResponse (decoded whole, the
 * sections this SDK uses kept, the others skipped) in Avro binary.
 */
#ifndef KAA_SYNC_H
#define KAA_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaa/kaa_avro.h"
#include "kaa/kaa_error.h"

#define KAA_TRANSPORT_TCP_ID 0x56c8ff92
#define KAA_TRANSPORT_HTTP_ID ((int32_t)0xfb9a3cf0)

/* SyncResponseResultType */
enum { KAA_RESULT_SUCCESS, KAA_RESULT_FAILURE, KAA_RESULT_PROFILE_RESYNC, KAA_RESULT_REDIRECT };
/* SyncResponseStatus */
enum { KAA_STATUS_NO_DELTA, KAA_STATUS_DELTA, KAA_STATUS_RESYNC };

typedef struct {
    int64_t topic_id;
    int32_t seq_number;
} kaa_sync_topic_state_t;

typedef struct {
    const uint8_t *data;
    size_t len;
} kaa_sync_blob_t;

typedef struct {
    int32_t request_id;
    const char *sdk_token;
    const uint8_t *key_hash;     /* 20 bytes or NULL */
    const uint8_t *profile_hash; /* 20 bytes or NULL */
    int64_t timeout_ms;          /* < 0: none */

    bool bootstrap;

    bool profile;
    const uint8_t *public_key; /* NULL: none */
    size_t public_key_len;
    const uint8_t *profile_body;
    size_t profile_len;

    bool configuration;
    const uint8_t *configuration_hash;
    size_t configuration_hash_len;

    bool notification;
    int32_t topic_list_hash;
    const kaa_sync_topic_state_t *topic_states;
    size_t topic_state_count;
    const int64_t *subscribe; /* topics to subscribe to (ADD) */
    size_t subscribe_count;

    bool event_sequence;

    bool logs;
    int32_t log_bucket;
    const kaa_sync_blob_t *log_entries;
    size_t log_count;
} kaa_sync_request_t;

typedef struct {
    int32_t access_point_id;
    int32_t transport_id;
    int32_t version;
    const uint8_t *connection_info;
    size_t connection_info_len;
} kaa_sync_protocol_t;

typedef struct {
    int64_t topic_id;
    bool has_seq_number;
    int32_t seq_number;
    const uint8_t *body;
    size_t body_len;
} kaa_sync_notification_t;

typedef struct {
    int64_t id;
    char *name;
    bool optional;
} kaa_sync_topic_t;

typedef struct {
    int32_t bucket;
    int result;
    int error_code; /* -1: none */
} kaa_sync_delivery_t;

/* Views point into the decoded buffer, which must outlive the response. */
typedef struct {
    int32_t request_id;
    int status;

    bool has_bootstrap;
    kaa_sync_protocol_t *protocols;
    size_t protocol_count;

    bool has_configuration_body;
    int configuration_status;
    const uint8_t *configuration_body;
    size_t configuration_len;

    kaa_sync_notification_t *notifications;
    size_t notification_count;
    bool has_topics;
    kaa_sync_topic_t *topics;
    size_t topic_count;

    bool has_redirect;
    int32_t redirect_access_point;

    kaa_sync_delivery_t *deliveries;
    size_t delivery_count;
} kaa_sync_response_t;

void kaa_sync_request_encode(kaa_writer_t *w, const kaa_sync_request_t *request);
/* KAA_OK or KAA_ERR_PROTOCOL (malformed) / KAA_ERR_NOMEM. */
kaa_error_t kaa_sync_response_decode(const uint8_t *data, size_t len,
                                     kaa_sync_response_t *response);
void kaa_sync_response_free(kaa_sync_response_t *response);

/* Java's hash of the sorted topic id list, as the server computes it. */
int32_t kaa_topic_list_hash(const int64_t *sorted_ids, size_t count);

#endif
