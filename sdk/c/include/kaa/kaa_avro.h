/*
 * Avro binary encoding and a small JSON writer: the primitives the generated types use to
 * serialize, deserialize and print themselves, and that the runtime uses for Kaa's
 * SyncRequest/SyncResponse.
 */
#ifndef KAA_AVRO_H
#define KAA_AVRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A growable output buffer (Avro bytes or JSON text). `failed` is set when memory ran out. */
typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
    bool failed;
} kaa_writer_t;

/* A cursor over Avro bytes. `failed` is set by the first malformed or truncated datum; every
 * read after that returns a zero value. */
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
    bool failed;
    /* How deep the records being read nest. */
    unsigned depth;
} kaa_reader_t;

/* The deepest nesting of records a reader accepts (a recursive schema lets input nest without
 * end; this keeps the stack bounded). */
#define KAA_AVRO_MAX_DEPTH 512

/* Avro `bytes` (and the storage of `fixed` values the generator sizes statically). */
typedef struct {
    uint8_t *data;
    size_t size;
} kaa_bytes_t;

void kaa_writer_init(kaa_writer_t *w);
void kaa_writer_free(kaa_writer_t *w);
/* Appends raw bytes. */
void kaa_writer_raw(kaa_writer_t *w, const void *bytes, size_t len);
/* Hands the buffer over (NUL-terminated for JSON text); the writer is empty afterwards. */
uint8_t *kaa_writer_take(kaa_writer_t *w, size_t *len);

void kaa_avro_write_long(kaa_writer_t *w, int64_t value);
void kaa_avro_write_int(kaa_writer_t *w, int32_t value);
void kaa_avro_write_boolean(kaa_writer_t *w, bool value);
void kaa_avro_write_float(kaa_writer_t *w, float value);
void kaa_avro_write_double(kaa_writer_t *w, double value);
void kaa_avro_write_bytes(kaa_writer_t *w, const uint8_t *data, size_t len);
/* A NULL string is written as the empty string. */
void kaa_avro_write_string(kaa_writer_t *w, const char *value);
void kaa_avro_write_fixed(kaa_writer_t *w, const uint8_t *data, size_t len);

void kaa_reader_init(kaa_reader_t *r, const uint8_t *data, size_t size);
/* Marks the reader failed (a value out of range, say). */
void kaa_reader_fail(kaa_reader_t *r);
int64_t kaa_avro_read_long(kaa_reader_t *r);
int32_t kaa_avro_read_int(kaa_reader_t *r);
bool kaa_avro_read_boolean(kaa_reader_t *r);
float kaa_avro_read_float(kaa_reader_t *r);
double kaa_avro_read_double(kaa_reader_t *r);
/* A view into the input (no copy); NULL with *len 0 on failure. */
const uint8_t *kaa_avro_read_bytes_view(kaa_reader_t *r, size_t *len);
/* A heap copy of `bytes` (data NULL when empty). */
void kaa_avro_read_bytes(kaa_reader_t *r, kaa_bytes_t *out);
/* A NUL-terminated heap copy of a string (never NULL unless the reader failed). */
char *kaa_avro_read_string(kaa_reader_t *r);
void kaa_avro_read_fixed(kaa_reader_t *r, uint8_t *out, size_t len);
/* An enum symbol or union branch index, checked against `count`. */
size_t kaa_avro_read_index(kaa_reader_t *r, size_t count);
/* The item count of the next array/map block, 0 at the end (negative counts and their byte
 * size handled); a count that cannot fit in the remaining input fails the reader. */
size_t kaa_avro_read_block(kaa_reader_t *r);
void kaa_avro_skip_bytes(kaa_reader_t *r);

/* Grows *items (each `item_size` bytes, *count used) by `more` zeroed items. */
bool kaa_grow(void **items, size_t item_size, size_t count, size_t more);
char *kaa_strdup(const char *s);

/* JSON text into a writer (Avro's JSON form: bytes and fixed as \u00XX strings). */
void kaa_json_raw(kaa_writer_t *w, const char *text);
void kaa_json_string(kaa_writer_t *w, const char *value);
void kaa_json_bytes(kaa_writer_t *w, const uint8_t *data, size_t len);
void kaa_json_long(kaa_writer_t *w, int64_t value);
void kaa_json_double(kaa_writer_t *w, double value);
void kaa_json_boolean(kaa_writer_t *w, bool value);

#ifdef __cplusplus
}
#endif

#endif
