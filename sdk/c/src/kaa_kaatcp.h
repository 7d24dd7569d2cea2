/*
 * Kaatcp framing (MQTT-like): CONNECT, CONNACK, KAASYNC, PINGREQ, PINGRESP, DISCONNECT.
 */
#ifndef KAA_KAATCP_H
#define KAA_KAATCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaa/kaa_avro.h"
#include "kaa/kaa_error.h"

#define KAATCP_CONNECT 1
#define KAATCP_CONNACK 2
#define KAATCP_PINGREQ 12
#define KAATCP_PINGRESP 13
#define KAATCP_DISCONNECT 14
#define KAATCP_KAASYNC 15

#define KAATCP_CONNACK_ACCEPTED 1
/* Avro payloads, v2 (what the Java SDK announces). */
#define KAATCP_PROTOCOL_AVRO_V2 0xe0c0c178u
#define KAATCP_MAX_FRAME (4u * 1024u * 1024u)

/* CONNECT with optional 256-byte wrapped session key and signature, then the payload. */
void kaatcp_connect(kaa_writer_t *w, const uint8_t *wrapped_key, const uint8_t *signature,
                    uint16_t keep_alive, const uint8_t *payload, size_t len);
/* A KAASYNC request. */
void kaatcp_sync(kaa_writer_t *w, bool encrypted, const uint8_t *payload, size_t len);
/* A frame without a body: PINGREQ; DISCONNECT carries its reason. */
void kaatcp_ping(kaa_writer_t *w);
void kaatcp_disconnect(kaa_writer_t *w, uint8_t reason);

/* One frame read from the server. */
typedef struct {
    uint8_t type;
    /* CONNACK return code, DISCONNECT reason. */
    uint8_t code;
    /* KAASYNC: whether the payload is encrypted, and the payload (into the input buffer). */
    bool encrypted;
    const uint8_t *payload;
    size_t payload_len;
    /* How many input bytes the frame took. */
    size_t consumed;
} kaatcp_frame_t;

/* Parses the first frame of `data`: KAA_OK with the frame, KAA_ERR_NOT_FOUND when more bytes are
 * needed, KAA_ERR_PROTOCOL when the frame is malformed (`why` says how). */
kaa_error_t kaatcp_parse(const uint8_t *data, size_t len, kaatcp_frame_t *frame, char *why,
                         size_t why_len);

#endif
