/*
 * The log buffer (see kaa_logs.h).
 */
#include "kaa_logs.h"

#include <stdlib.h>
#include <string.h>

#include "kaa/kaa_avro.h"
#include "kaa/kaa_platform.h"

#define LOGS_FILE "logs"
#define FRAME_HEADER 12

static void put_le(uint8_t *out, uint64_t value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *in, size_t len)
{
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        value |= (uint64_t)in[i] << (8 * i);
    }
    return value;
}

static kaa_error_t push(kaa_log_buffer_t *b, uint64_t id, const uint8_t *data, size_t len)
{
    if (b->count == b->capacity) {
        size_t more = b->capacity ? b->capacity : 16;
        if (!kaa_grow((void **)&b->items, sizeof(*b->items), b->capacity, more)) {
            return KAA_ERR_NOMEM;
        }
        b->capacity += more;
    }
    kaa_log_entry_t *e = &b->items[b->count];
    e->data = malloc(len ? len : 1);
    if (!e->data) {
        return KAA_ERR_NOMEM;
    }
    if (len) {
        memcpy(e->data, data, len);
    }
    e->len = len;
    e->id = id;
    b->count++;
    b->bytes += len;
    return KAA_OK;
}

kaa_error_t kaa_logs_open(kaa_log_buffer_t *b, const char *dir, size_t max_records,
                          size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->dir = dir;
    b->max_records = max_records;
    b->max_bytes = max_bytes;
    b->next_id = 1;
    if (!dir) {
        return KAA_OK;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    kaa_error_t rc = kaa_pal_storage_read(dir, LOGS_FILE, &data, &len);
    if (rc == KAA_ERR_NOT_FOUND) {
        return KAA_OK;
    }
    if (rc != KAA_OK) {
        return rc;
    }
    size_t pos = 0;
    while (rc == KAA_OK && len - pos >= FRAME_HEADER) {
        uint64_t id = get_le(data + pos, 8);
        size_t record = (size_t)get_le(data + pos + 8, 4);
        if (len - pos - FRAME_HEADER < record) {
            break; /* torn last frame */
        }
        rc = push(b, id, data + pos + FRAME_HEADER, record);
        if (id >= b->next_id) {
            b->next_id = id + 1;
        }
        pos += FRAME_HEADER + record;
    }
    free(data);
    if (rc == KAA_OK && pos != len) {
        /* Drop the torn frame so that appends start at a frame boundary. */
        rc = kaa_logs_acknowledge(b, 0);
    }
    return rc;
}

void kaa_logs_close(kaa_log_buffer_t *b)
{
    for (size_t i = 0; i < b->count; i++) {
        free(b->items[i].data);
    }
    free(b->items);
    memset(b, 0, sizeof(*b));
}

kaa_error_t kaa_logs_append(kaa_log_buffer_t *b, const uint8_t *data, size_t len, uint64_t *id)
{
    if (b->count >= b->max_records || b->bytes + len > b->max_bytes) {
        return KAA_ERR_BUFFER_FULL;
    }
    if (b->dir) {
        uint8_t *frame = malloc(FRAME_HEADER + len);
        if (!frame) {
            return KAA_ERR_NOMEM;
        }
        put_le(frame, b->next_id, 8);
        put_le(frame + 8, len, 4);
        if (len) {
            memcpy(frame + FRAME_HEADER, data, len);
        }
        kaa_error_t rc = kaa_pal_storage_append(b->dir, LOGS_FILE, frame, FRAME_HEADER + len);
        free(frame);
        if (rc != KAA_OK) {
            return rc;
        }
    }
    kaa_error_t rc = push(b, b->next_id, data, len);
    if (rc != KAA_OK) {
        return rc;
    }
    if (id) {
        *id = b->next_id;
    }
    b->next_id++;
    return KAA_OK;
}

kaa_error_t kaa_logs_acknowledge(kaa_log_buffer_t *b, uint64_t last)
{
    size_t done = 0;
    while (done < b->count && b->items[done].id <= last) {
        b->bytes -= b->items[done].len;
        free(b->items[done].data);
        done++;
    }
    if (done) {
        memmove(b->items, b->items + done, (b->count - done) * sizeof(*b->items));
        b->count -= done;
    }
    if (b->count == 0) {
        /* An empty buffer gives its memory back (an idle device holds no record array). */
        free(b->items);
        b->items = NULL;
        b->capacity = 0;
    }
    if (!b->dir) {
        return KAA_OK;
    }
    kaa_writer_t w;
    kaa_writer_init(&w);
    for (size_t i = 0; i < b->count; i++) {
        uint8_t header[FRAME_HEADER];
        put_le(header, b->items[i].id, 8);
        put_le(header + 8, b->items[i].len, 4);
        kaa_writer_raw(&w, header, sizeof(header));
        kaa_writer_raw(&w, b->items[i].data, b->items[i].len);
    }
    kaa_error_t rc = w.failed ? KAA_ERR_NOMEM
                              : kaa_pal_storage_write(b->dir, LOGS_FILE, w.data, w.size);
    kaa_writer_free(&w);
    return rc;
}
