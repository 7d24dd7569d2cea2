/*
 * Kaatcp framing (see kaa_kaatcp.h and KAA_WIRE_FORMAT.md section 3).
 */
#include "kaa_kaatcp.h"

#include <stdio.h>
#include <string.h>

static const uint8_t MAGIC[] = {0x00, 0x06, 'K', 'a', 'a', 't', 'c', 'p', 0x01};

static void header(kaa_writer_t *w, uint8_t type, size_t remaining)
{
    uint8_t buf[5];
    size_t len = 0;
    buf[len++] = (uint8_t)(type << 4);
    do {
        uint8_t b = remaining & 0x7f;
        remaining >>= 7;
        buf[len++] = remaining ? (uint8_t)(b | 0x80) : b;
    } while (remaining && len < sizeof(buf));
    kaa_writer_raw(w, buf, len);
}

void kaatcp_connect(kaa_writer_t *w, const uint8_t *wrapped_key, const uint8_t *signature,
                    uint16_t keep_alive, const uint8_t *payload, size_t len)
{
    size_t remaining = 18 + (wrapped_key ? 256 : 0) + (signature ? 256 : 0) + len;
    header(w, KAATCP_CONNECT, remaining);
    uint8_t variable[18];
    memcpy(variable, MAGIC, sizeof(MAGIC));
    variable[9] = 0x02;
    uint32_t protocol = KAATCP_PROTOCOL_AVRO_V2;
    variable[10] = (uint8_t)(protocol >> 24);
    variable[11] = (uint8_t)(protocol >> 16);
    variable[12] = (uint8_t)(protocol >> 8);
    variable[13] = (uint8_t)protocol;
    variable[14] = wrapped_key ? 0x11 : 0x00;
    variable[15] = signature ? 0x01 : 0x00;
    variable[16] = (uint8_t)(keep_alive >> 8);
    variable[17] = (uint8_t)keep_alive;
    kaa_writer_raw(w, variable, sizeof(variable));
    if (wrapped_key) {
        kaa_writer_raw(w, wrapped_key, 256);
    }
    if (signature) {
        kaa_writer_raw(w, signature, 256);
    }
    kaa_writer_raw(w, payload, len);
}

void kaatcp_sync(kaa_writer_t *w, bool encrypted, const uint8_t *payload, size_t len)
{
    header(w, KAATCP_KAASYNC, 12 + len);
    uint8_t variable[12];
    memcpy(variable, MAGIC, sizeof(MAGIC));
    variable[9] = 0; /* message id, always 0 */
    variable[10] = 0;
    variable[11] = (uint8_t)(0x10 | 0x01 | (encrypted ? 0x04 : 0x00));
    kaa_writer_raw(w, variable, sizeof(variable));
    kaa_writer_raw(w, payload, len);
}

void kaatcp_ping(kaa_writer_t *w)
{
    header(w, KAATCP_PINGREQ, 0);
}

void kaatcp_disconnect(kaa_writer_t *w, uint8_t reason)
{
    header(w, KAATCP_DISCONNECT, 2);
    uint8_t body[2] = {0, reason};
    kaa_writer_raw(w, body, 2);
}

static kaa_error_t malformed(char *why, size_t why_len, const char *what)
{
    if (why && why_len) {
        snprintf(why, why_len, "malformed Kaatcp frame: %s", what);
    }
    return KAA_ERR_PROTOCOL;
}

kaa_error_t kaatcp_parse(const uint8_t *data, size_t len, kaatcp_frame_t *frame, char *why,
                         size_t why_len)
{
    memset(frame, 0, sizeof(*frame));
    if (len < 2) {
        return KAA_ERR_NOT_FOUND;
    }
    size_t remaining = 0;
    size_t pos = 1;
    for (unsigned shift = 0;; shift += 7) {
        if (pos >= len) {
            return KAA_ERR_NOT_FOUND;
        }
        if (pos > 4) {
            return malformed(why, why_len, "remaining length longer than 4 bytes");
        }
        uint8_t b = data[pos++];
        remaining |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            break;
        }
    }
    if (remaining > KAATCP_MAX_FRAME) {
        return malformed(why, why_len, "frame too large");
    }
    if (len - pos < remaining) {
        return KAA_ERR_NOT_FOUND;
    }
    const uint8_t *body = data + pos;
    frame->type = data[0] >> 4;
    frame->consumed = pos + remaining;
    switch (frame->type) {
    case KAATCP_CONNACK:
        if (remaining != 2) {
            return malformed(why, why_len, "CONNACK length");
        }
        frame->code = body[1];
        return KAA_OK;
    case KAATCP_DISCONNECT:
        if (remaining != 2) {
            return malformed(why, why_len, "DISCONNECT length");
        }
        frame->code = body[1];
        return KAA_OK;
    case KAATCP_PINGRESP:
        return KAA_OK;
    case KAATCP_KAASYNC:
        if (remaining < 12 || memcmp(body, MAGIC, sizeof(MAGIC)) != 0) {
            return malformed(why, why_len, "KAASYNC header");
        }
        if ((body[11] >> 4) != 1) {
            return malformed(why, why_len, "KAASYNC sub-command");
        }
        if (body[11] & 0x02) {
            return malformed(why, why_len, "zipped KAASYNC");
        }
        frame->encrypted = (body[11] & 0x04) != 0;
        frame->payload = body + 12;
        frame->payload_len = remaining - 12;
        return KAA_OK;
    default:
        return malformed(why, why_len, "unexpected frame type");
    }
}
