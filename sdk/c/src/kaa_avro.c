/*
 * Avro binary encoding (zig-zag varints, length-prefixed bytes and strings, block-encoded
 * arrays and maps, little-endian floats) and JSON text output.
 */
#include "kaa/kaa_avro.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kaa_writer_init(kaa_writer_t *w)
{
    memset(w, 0, sizeof(*w));
}

void kaa_writer_free(kaa_writer_t *w)
{
    free(w->data);
    memset(w, 0, sizeof(*w));
}

static bool reserve(kaa_writer_t *w, size_t more)
{
    if (w->failed) {
        return false;
    }
    /* One spare byte keeps room for a NUL terminator. */
    if (w->size + more + 1 <= w->capacity) {
        return true;
    }
    size_t capacity = w->capacity ? w->capacity : 64;
    while (capacity < w->size + more + 1) {
        capacity *= 2;
    }
    uint8_t *data = realloc(w->data, capacity);
    if (!data) {
        w->failed = true;
        return false;
    }
    w->data = data;
    w->capacity = capacity;
    return true;
}

void kaa_writer_raw(kaa_writer_t *w, const void *bytes, size_t len)
{
    if (len == 0 || !reserve(w, len)) {
        return;
    }
    memcpy(w->data + w->size, bytes, len);
    w->size += len;
}

uint8_t *kaa_writer_take(kaa_writer_t *w, size_t *len)
{
    if (!reserve(w, 0)) {
        kaa_writer_free(w);
        return NULL;
    }
    uint8_t *data = w->data;
    data[w->size] = 0;
    if (len) {
        *len = w->size;
    }
    memset(w, 0, sizeof(*w));
    return data;
}

void kaa_avro_write_long(kaa_writer_t *w, int64_t value)
{
    uint64_t n = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    uint8_t buf[10];
    size_t len = 0;
    while (n & ~(uint64_t)0x7f) {
        buf[len++] = (uint8_t)((n & 0x7f) | 0x80);
        n >>= 7;
    }
    buf[len++] = (uint8_t)n;
    kaa_writer_raw(w, buf, len);
}

void kaa_avro_write_int(kaa_writer_t *w, int32_t value)
{
    kaa_avro_write_long(w, value);
}

void kaa_avro_write_boolean(kaa_writer_t *w, bool value)
{
    uint8_t b = value ? 1 : 0;
    kaa_writer_raw(w, &b, 1);
}

static void write_le(kaa_writer_t *w, uint64_t bits, size_t len)
{
    uint8_t buf[8];
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(bits >> (8 * i));
    }
    kaa_writer_raw(w, buf, len);
}

void kaa_avro_write_float(kaa_writer_t *w, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, 4);
    write_le(w, bits, 4);
}

void kaa_avro_write_double(kaa_writer_t *w, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, 8);
    write_le(w, bits, 8);
}

void kaa_avro_write_bytes(kaa_writer_t *w, const uint8_t *data, size_t len)
{
    kaa_avro_write_long(w, (int64_t)len);
    kaa_writer_raw(w, data, len);
}

void kaa_avro_write_string(kaa_writer_t *w, const char *value)
{
    const char *s = value ? value : "";
    kaa_avro_write_bytes(w, (const uint8_t *)s, strlen(s));
}

void kaa_avro_write_fixed(kaa_writer_t *w, const uint8_t *data, size_t len)
{
    kaa_writer_raw(w, data, len);
}

void kaa_reader_init(kaa_reader_t *r, const uint8_t *data, size_t size)
{
    r->data = data;
    r->size = size;
    r->pos = 0;
    r->failed = false;
    r->depth = 0;
}

void kaa_reader_fail(kaa_reader_t *r)
{
    r->failed = true;
}

static const uint8_t *take(kaa_reader_t *r, size_t n)
{
    if (r->failed || r->size - r->pos < n) {
        r->failed = true;
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

int64_t kaa_avro_read_long(kaa_reader_t *r)
{
    uint64_t n = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        const uint8_t *b = take(r, 1);
        if (!b) {
            return 0;
        }
        if (shift == 63 && (*b & 0x7e)) {
            break;
        }
        n |= (uint64_t)(*b & 0x7f) << shift;
        if (!(*b & 0x80)) {
            return (int64_t)(n >> 1) ^ -(int64_t)(n & 1);
        }
    }
    r->failed = true;
    return 0;
}

int32_t kaa_avro_read_int(kaa_reader_t *r)
{
    int64_t v = kaa_avro_read_long(r);
    if (v < INT32_MIN || v > INT32_MAX) {
        r->failed = true;
        return 0;
    }
    return (int32_t)v;
}

bool kaa_avro_read_boolean(kaa_reader_t *r)
{
    const uint8_t *b = take(r, 1);
    if (!b) {
        return false;
    }
    if (*b > 1) {
        r->failed = true;
        return false;
    }
    return *b == 1;
}

static uint64_t read_le(kaa_reader_t *r, size_t len)
{
    const uint8_t *b = take(r, len);
    uint64_t bits = 0;
    for (size_t i = 0; b && i < len; i++) {
        bits |= (uint64_t)b[i] << (8 * i);
    }
    return bits;
}

float kaa_avro_read_float(kaa_reader_t *r)
{
    uint32_t bits = (uint32_t)read_le(r, 4);
    float value;
    memcpy(&value, &bits, 4);
    return value;
}

double kaa_avro_read_double(kaa_reader_t *r)
{
    uint64_t bits = read_le(r, 8);
    double value;
    memcpy(&value, &bits, 8);
    return value;
}

const uint8_t *kaa_avro_read_bytes_view(kaa_reader_t *r, size_t *len)
{
    int64_t n = kaa_avro_read_long(r);
    *len = 0;
    if (r->failed || n < 0 || (uint64_t)n > r->size - r->pos) {
        r->failed = true;
        return NULL;
    }
    *len = (size_t)n;
    return take(r, (size_t)n);
}

void kaa_avro_read_bytes(kaa_reader_t *r, kaa_bytes_t *out)
{
    size_t len;
    const uint8_t *p = kaa_avro_read_bytes_view(r, &len);
    out->data = NULL;
    out->size = 0;
    if (!p || len == 0) {
        return;
    }
    out->data = malloc(len);
    if (!out->data) {
        r->failed = true;
        return;
    }
    memcpy(out->data, p, len);
    out->size = len;
}

char *kaa_avro_read_string(kaa_reader_t *r)
{
    size_t len;
    const uint8_t *p = kaa_avro_read_bytes_view(r, &len);
    if (r->failed) {
        return NULL;
    }
    char *s = malloc(len + 1);
    if (!s) {
        r->failed = true;
        return NULL;
    }
    if (len) {
        memcpy(s, p, len);
    }
    s[len] = 0;
    return s;
}

void kaa_avro_read_fixed(kaa_reader_t *r, uint8_t *out, size_t len)
{
    const uint8_t *p = take(r, len);
    if (p) {
        memcpy(out, p, len);
    } else {
        memset(out, 0, len);
    }
}

size_t kaa_avro_read_index(kaa_reader_t *r, size_t count)
{
    int64_t i = kaa_avro_read_long(r);
    if (r->failed || i < 0 || (uint64_t)i >= count) {
        r->failed = true;
        return 0;
    }
    return (size_t)i;
}

size_t kaa_avro_read_block(kaa_reader_t *r)
{
    int64_t n = kaa_avro_read_long(r);
    if (n < 0) {
        if (n == INT64_MIN) {
            r->failed = true;
            return 0;
        }
        n = -n;
        (void)kaa_avro_read_long(r); /* the block's size in bytes */
    }
    /* No item takes less than one byte in the schemas Kaa uses; this bounds allocations. */
    if (r->failed || (uint64_t)n > r->size - r->pos) {
        r->failed = true;
        return 0;
    }
    return (size_t)n;
}

void kaa_avro_skip_bytes(kaa_reader_t *r)
{
    size_t len;
    (void)kaa_avro_read_bytes_view(r, &len);
}

bool kaa_grow(void **items, size_t item_size, size_t count, size_t more)
{
    if (more == 0) {
        return true;
    }
    if (count + more < count || (count + more) > SIZE_MAX / item_size) {
        return false;
    }
    void *grown = realloc(*items, (count + more) * item_size);
    if (!grown) {
        return false;
    }
    memset((uint8_t *)grown + count * item_size, 0, more * item_size);
    *items = grown;
    return true;
}

char *kaa_strdup(const char *s)
{
    size_t len = strlen(s ? s : "");
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s ? s : "", len + 1);
    }
    return copy;
}

void kaa_json_raw(kaa_writer_t *w, const char *text)
{
    kaa_writer_raw(w, text, strlen(text));
}

static void json_text(kaa_writer_t *w, const uint8_t *data, size_t len, bool as_bytes)
{
    kaa_writer_raw(w, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            kaa_writer_raw(w, esc, 2);
        } else if (c < 0x20 || c == 0x7f || (as_bytes && c >= 0x80)) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            kaa_writer_raw(w, esc, 6);
        } else {
            kaa_writer_raw(w, &c, 1);
        }
    }
    kaa_writer_raw(w, "\"", 1);
}

void kaa_json_string(kaa_writer_t *w, const char *value)
{
    const char *s = value ? value : "";
    json_text(w, (const uint8_t *)s, strlen(s), false);
}

void kaa_json_bytes(kaa_writer_t *w, const uint8_t *data, size_t len)
{
    json_text(w, data, len, true);
}

void kaa_json_long(kaa_writer_t *w, int64_t value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)value);
    kaa_json_raw(w, buf);
}

void kaa_json_double(kaa_writer_t *w, double value)
{
    if (!isfinite(value)) {
        kaa_json_raw(w, "null");
        return;
    }
    char buf[40];
    /* The shortest text that reads back as the same double. */
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, sizeof(buf), "%.*g", precision, value);
        if (strtod(buf, NULL) == value) {
            break;
        }
    }
    /* Keep doubles recognisable as such: 1 → 1.0. */
    if (!strpbrk(buf, ".eE")) {
        strncat(buf, ".0", sizeof(buf) - strlen(buf) - 1);
    }
    kaa_json_raw(w, buf);
}

void kaa_json_boolean(kaa_writer_t *w, bool value)
{
    kaa_json_raw(w, value ? "true" : "false");
}
