/*
 * SyncRequest encoding and SyncResponse decoding (see kaa_sync.h). Every optional part is a
 * union ["T", "null"]: branch 0 present, branch 1 null.
 */
#include "kaa_sync.h"

#include <stdlib.h>
#include <string.h>

static void present(kaa_writer_t *w, bool is_present)
{
    kaa_avro_write_long(w, is_present ? 0 : 1);
}

static void optional_bytes(kaa_writer_t *w, const uint8_t *data, size_t len)
{
    present(w, data != NULL);
    if (data) {
        kaa_avro_write_bytes(w, data, len);
    }
}

void kaa_sync_request_encode(kaa_writer_t *w, const kaa_sync_request_t *q)
{
    kaa_avro_write_int(w, q->request_id);
    /* syncRequestMetaData */
    present(w, true);
    kaa_avro_write_string(w, q->sdk_token);
    optional_bytes(w, q->key_hash, 20);
    optional_bytes(w, q->profile_hash, 20);
    present(w, q->timeout_ms >= 0);
    if (q->timeout_ms >= 0) {
        kaa_avro_write_long(w, q->timeout_ms);
    }
    /* bootstrapSyncRequest: HTTP v1 and TCP v1, as the Java SDK asks */
    present(w, q->bootstrap);
    if (q->bootstrap) {
        kaa_avro_write_int(w, q->request_id);
        kaa_avro_write_long(w, 2);
        kaa_avro_write_int(w, KAA_TRANSPORT_HTTP_ID);
        kaa_avro_write_int(w, 1);
        kaa_avro_write_int(w, KAA_TRANSPORT_TCP_ID);
        kaa_avro_write_int(w, 1);
        kaa_avro_write_long(w, 0);
    }
    /* profileSyncRequest */
    present(w, q->profile);
    if (q->profile) {
        optional_bytes(w, q->public_key, q->public_key_len);
        kaa_avro_write_bytes(w, q->profile_body, q->profile_len);
        present(w, false);
    }
    /* configurationSyncRequest */
    present(w, q->configuration);
    if (q->configuration) {
        kaa_avro_write_bytes(w, q->configuration_hash, q->configuration_hash_len);
        present(w, true);
        kaa_avro_write_boolean(w, true);
    }
    /* notificationSyncRequest */
    present(w, q->notification);
    if (q->notification) {
        kaa_avro_write_int(w, q->topic_list_hash);
        present(w, true);
        if (q->topic_state_count) {
            kaa_avro_write_long(w, (int64_t)q->topic_state_count);
            for (size_t i = 0; i < q->topic_state_count; i++) {
                kaa_avro_write_long(w, q->topic_states[i].topic_id);
                kaa_avro_write_int(w, q->topic_states[i].seq_number);
            }
        }
        kaa_avro_write_long(w, 0);
        present(w, true); /* acceptedUnicastNotifications: [] */
        kaa_avro_write_long(w, 0);
        present(w, true);
        if (q->subscribe_count) {
            kaa_avro_write_long(w, (int64_t)q->subscribe_count);
            for (size_t i = 0; i < q->subscribe_count; i++) {
                kaa_avro_write_long(w, q->subscribe[i]);
                kaa_avro_write_long(w, 0); /* ADD */
            }
        }
        kaa_avro_write_long(w, 0);
    }
    /* userSyncRequest */
    present(w, false);
    /* eventSyncRequest */
    present(w, q->event_sequence);
    if (q->event_sequence) {
        present(w, true); /* eventSequenceNumberRequest {} */
        present(w, false);
        present(w, false);
    }
    /* logSyncRequest */
    present(w, q->logs);
    if (q->logs) {
        kaa_avro_write_int(w, q->log_bucket);
        present(w, true);
        if (q->log_count) {
            kaa_avro_write_long(w, (int64_t)q->log_count);
            for (size_t i = 0; i < q->log_count; i++) {
                kaa_avro_write_bytes(w, q->log_entries[i].data, q->log_entries[i].len);
            }
        }
        kaa_avro_write_long(w, 0);
    }
    /* extensionSyncRequests */
    present(w, false);
}

/* Reads a union ["T", "null"] branch: true when T follows. */
static bool is_present(kaa_reader_t *r)
{
    return kaa_avro_read_index(r, 2) == 0 && !r->failed;
}

static void skip_optional_string(kaa_reader_t *r)
{
    if (is_present(r)) {
        kaa_avro_skip_bytes(r);
    }
}

static void skip_optional_enum(kaa_reader_t *r, size_t symbols)
{
    if (is_present(r)) {
        (void)kaa_avro_read_index(r, symbols);
    }
}

/* Skips an optional array, reading each item with `item`. */
static void skip_optional_array(kaa_reader_t *r, void (*item)(kaa_reader_t *))
{
    if (!is_present(r)) {
        return;
    }
    size_t n;
    while ((n = kaa_avro_read_block(r)) > 0) {
        for (size_t i = 0; i < n && !r->failed; i++) {
            item(r);
        }
    }
}

static void skip_string_item(kaa_reader_t *r)
{
    kaa_avro_skip_bytes(r);
}

static void skip_endpoint_attach(kaa_reader_t *r)
{
    (void)kaa_avro_read_int(r);
    skip_optional_string(r);
    (void)kaa_avro_read_index(r, 4);
}

static void skip_endpoint_detach(kaa_reader_t *r)
{
    (void)kaa_avro_read_int(r);
    (void)kaa_avro_read_index(r, 4);
}

static void skip_listeners(kaa_reader_t *r)
{
    (void)kaa_avro_read_int(r);
    skip_optional_array(r, skip_string_item);
    (void)kaa_avro_read_index(r, 4);
}

static void skip_event(kaa_reader_t *r)
{
    (void)kaa_avro_read_int(r);
    kaa_avro_skip_bytes(r);
    kaa_avro_skip_bytes(r);
    skip_optional_string(r);
    skip_optional_string(r);
}

static void skip_extension(kaa_reader_t *r)
{
    (void)kaa_avro_read_int(r);
    kaa_avro_skip_bytes(r);
}

static void skip_user_section(kaa_reader_t *r)
{
    if (is_present(r)) { /* userAttachResponse */
        (void)kaa_avro_read_index(r, 4);
        skip_optional_enum(r, 7);
        skip_optional_string(r);
    }
    if (is_present(r)) { /* userAttachNotification */
        kaa_avro_skip_bytes(r);
        kaa_avro_skip_bytes(r);
    }
    if (is_present(r)) { /* userDetachNotification */
        kaa_avro_skip_bytes(r);
    }
    skip_optional_array(r, skip_endpoint_attach);
    skip_optional_array(r, skip_endpoint_detach);
}

static void skip_event_section(kaa_reader_t *r)
{
    if (is_present(r)) {
        (void)kaa_avro_read_int(r);
    }
    skip_optional_array(r, skip_listeners);
    skip_optional_array(r, skip_event);
}

/* Appends one zeroed item to a growing array; NULL when out of memory (reader failed). */
static void *push(kaa_reader_t *r, void **items, size_t *count, size_t item_size)
{
    if (!kaa_grow(items, item_size, *count, 1)) {
        kaa_reader_fail(r);
        return NULL;
    }
    return (uint8_t *)*items + item_size * (*count)++;
}

kaa_error_t kaa_sync_response_decode(const uint8_t *data, size_t len, kaa_sync_response_t *s)
{
    memset(s, 0, sizeof(*s));
    kaa_reader_t reader;
    kaa_reader_t *r = &reader;
    kaa_reader_init(r, data, len);
    size_t n;
    s->request_id = kaa_avro_read_int(r);
    s->status = (int)kaa_avro_read_index(r, 4);
    if (is_present(r)) { /* bootstrapSyncResponse */
        s->has_bootstrap = true;
        (void)kaa_avro_read_int(r);
        while ((n = kaa_avro_read_block(r)) > 0) {
            for (size_t i = 0; i < n && !r->failed; i++) {
                kaa_sync_protocol_t *p = push(r, (void **)&s->protocols, &s->protocol_count,
                                              sizeof(*p));
                if (!p) {
                    break;
                }
                p->access_point_id = kaa_avro_read_int(r);
                p->transport_id = kaa_avro_read_int(r);
                p->version = kaa_avro_read_int(r);
                p->connection_info = kaa_avro_read_bytes_view(r, &p->connection_info_len);
            }
        }
    }
    if (is_present(r)) { /* profileSyncResponse */
        (void)kaa_avro_read_index(r, 3);
    }
    if (is_present(r)) { /* configurationSyncResponse */
        s->configuration_status = (int)kaa_avro_read_index(r, 3);
        if (is_present(r)) { /* confSchemaBody */
            kaa_avro_skip_bytes(r);
        }
        if (is_present(r)) {
            s->has_configuration_body = true;
            s->configuration_body = kaa_avro_read_bytes_view(r, &s->configuration_len);
        }
    }
    if (is_present(r)) { /* notificationSyncResponse */
        (void)kaa_avro_read_index(r, 3);
        if (is_present(r)) {
            while ((n = kaa_avro_read_block(r)) > 0) {
                for (size_t i = 0; i < n && !r->failed; i++) {
                    kaa_sync_notification_t *m = push(
                        r, (void **)&s->notifications, &s->notification_count, sizeof(*m));
                    if (!m) {
                        break;
                    }
                    m->topic_id = kaa_avro_read_long(r);
                    (void)kaa_avro_read_index(r, 2);
                    skip_optional_string(r); /* uid */
                    if (is_present(r)) {
                        m->has_seq_number = true;
                        m->seq_number = kaa_avro_read_int(r);
                    }
                    m->body = kaa_avro_read_bytes_view(r, &m->body_len);
                }
            }
        }
        if (is_present(r)) {
            s->has_topics = true;
            while ((n = kaa_avro_read_block(r)) > 0) {
                for (size_t i = 0; i < n && !r->failed; i++) {
                    kaa_sync_topic_t *t = push(r, (void **)&s->topics, &s->topic_count,
                                               sizeof(*t));
                    if (!t) {
                        break;
                    }
                    t->id = kaa_avro_read_long(r);
                    t->name = kaa_avro_read_string(r);
                    t->optional = kaa_avro_read_index(r, 2) == 1;
                }
            }
        }
    }
    if (is_present(r)) {
        skip_user_section(r);
    }
    if (is_present(r)) {
        skip_event_section(r);
    }
    if (is_present(r)) { /* redirectSyncResponse */
        s->has_redirect = true;
        s->redirect_access_point = kaa_avro_read_int(r);
    }
    if (is_present(r)) { /* logSyncResponse */
        if (is_present(r)) {
            while ((n = kaa_avro_read_block(r)) > 0) {
                for (size_t i = 0; i < n && !r->failed; i++) {
                    kaa_sync_delivery_t *d = push(r, (void **)&s->deliveries,
                                                  &s->delivery_count, sizeof(*d));
                    if (!d) {
                        break;
                    }
                    d->bucket = kaa_avro_read_int(r);
                    d->result = (int)kaa_avro_read_index(r, 4);
                    d->error_code = -1;
                    if (is_present(r)) {
                        d->error_code = (int)kaa_avro_read_index(r, 4);
                    }
                }
            }
        }
    }
    skip_optional_array(r, skip_extension);
    if (r->failed) {
        kaa_sync_response_free(s);
        return KAA_ERR_PROTOCOL;
    }
    return KAA_OK;
}

void kaa_sync_response_free(kaa_sync_response_t *s)
{
    for (size_t i = 0; i < s->topic_count; i++) {
        free(s->topics[i].name);
    }
    free(s->topics);
    free(s->protocols);
    free(s->notifications);
    free(s->deliveries);
    memset(s, 0, sizeof(*s));
}

int32_t kaa_topic_list_hash(const int64_t *sorted_ids, size_t count)
{
    uint32_t hash = 1;
    for (size_t i = 0; i < count; i++) {
        uint64_t id = (uint64_t)sorted_ids[i];
        uint32_t element = (uint32_t)(id ^ (id >> 32));
        hash = hash * 31u + element;
    }
    return (int32_t)hash;
}
