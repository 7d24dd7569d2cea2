/*
 * The log buffer: records the application logs, kept (in storage, or in memory only) until the
 * server acknowledges them with SUCCESS. Bounded by a record count and a byte size.
 *
 * Storage format (`logs` in the state dir): frames `u64 id | u32 length | record`,
 * little-endian, appended as records come; rewritten with only the pending records after an
 * acknowledgement. A torn last frame (the device died mid-write) is dropped on open.
 */
#ifndef KAA_LOGS_H
#define KAA_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaa/kaa_error.h"

typedef struct {
    uint64_t id;
    uint8_t *data;
    size_t len;
} kaa_log_entry_t;

typedef struct {
    const char *dir; /* NULL: memory only */
    kaa_log_entry_t *items;
    size_t count;
    size_t capacity;
    size_t bytes;
    size_t max_records;
    size_t max_bytes;
    uint64_t next_id;
} kaa_log_buffer_t;

kaa_error_t kaa_logs_open(kaa_log_buffer_t *b, const char *dir, size_t max_records,
                          size_t max_bytes);
void kaa_logs_close(kaa_log_buffer_t *b);
/* Stores a copy of the record; KAA_ERR_BUFFER_FULL when the bounds are reached. */
kaa_error_t kaa_logs_append(kaa_log_buffer_t *b, const uint8_t *data, size_t len, uint64_t *id);
/* Drops every record up to id `last` (they were delivered). */
kaa_error_t kaa_logs_acknowledge(kaa_log_buffer_t *b, uint64_t last);

#endif
