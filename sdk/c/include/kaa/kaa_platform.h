/*
 * The platform layer: everything the core needs from the device (TCP sockets, a monotonic
 * clock, randomness, a small key-value storage). The core calls only these functions, so a
 * port to an RTOS implements this header (see platform/posix/ for the POSIX one) and links
 * it instead. Every function is stateless or works on the handle it is given: no globals.
 */
#ifndef KAA_PLATFORM_H
#define KAA_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "kaa/kaa_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An open TCP connection; the platform defines it. */
typedef struct kaa_socket kaa_socket_t;

/* Connects to host:port within timeout_ms. On failure fills `why` with a human-readable
 * reason and returns KAA_ERR_UNREACHABLE (or KAA_ERR_TIMEOUT). */
kaa_error_t kaa_pal_tcp_connect(const char *host, uint16_t port, uint32_t timeout_ms,
                                kaa_socket_t **out, char *why, size_t why_len);
/* Sends all of `data` within timeout_ms. */
kaa_error_t kaa_pal_tcp_send(kaa_socket_t *socket, const uint8_t *data, size_t len,
                             uint32_t timeout_ms);
/* Receives up to `capacity` bytes, waiting at most timeout_ms: the count received (> 0), 0 when
 * nothing came in time (or a signal interrupted the wait), -1 when the peer closed or the
 * connection failed. */
long kaa_pal_tcp_recv(kaa_socket_t *socket, uint8_t *buffer, size_t capacity,
                      uint32_t timeout_ms);
void kaa_pal_tcp_close(kaa_socket_t *socket);

/* Milliseconds of a monotonic clock. */
uint64_t kaa_pal_now_ms(void);
/* Sleeps up to `ms` (a signal may end it early). */
void kaa_pal_sleep_ms(uint32_t ms);
/* Cryptographically strong random bytes. */
kaa_error_t kaa_pal_random(uint8_t *out, size_t len);

/* Storage: named blobs in a folder (`dir`, the client's state dir). Read returns
 * KAA_ERR_NOT_FOUND when `name` does not exist; *data is heap memory the caller frees.
 * Write replaces atomically (creating the folder); append adds at the end. */
kaa_error_t kaa_pal_storage_read(const char *dir, const char *name, uint8_t **data,
                                 size_t *len);
kaa_error_t kaa_pal_storage_write(const char *dir, const char *name, const uint8_t *data,
                                  size_t len);
kaa_error_t kaa_pal_storage_append(const char *dir, const char *name, const uint8_t *data,
                                   size_t len);
/* Writes a secret (the private key): like write, readable by the device's user only. */
kaa_error_t kaa_pal_storage_write_secret(const char *dir, const char *name,
                                         const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
