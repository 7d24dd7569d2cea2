/*
 * The POSIX implementation of the platform layer (kaa_platform.h): BSD sockets with poll(),
 * CLOCK_MONOTONIC, /dev/urandom, and files in the state folder.
 */
#define _POSIX_C_SOURCE 200809L

#include "kaa/kaa_platform.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

struct kaa_socket {
    int fd;
};

static void reason(char *why, size_t why_len, const char *what, int error)
{
    if (why && why_len) {
        snprintf(why, why_len, "%s: %s", what, strerror(error));
    }
}

kaa_error_t kaa_pal_tcp_connect(const char *host, uint16_t port, uint32_t timeout_ms,
                                kaa_socket_t **out, char *why, size_t why_len)
{
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0) {
        if (why && why_len) {
            snprintf(why, why_len, "resolve %s: %s", host, gai_strerror(rc));
        }
        return KAA_ERR_UNREACHABLE;
    }
    kaa_error_t result = KAA_ERR_UNREACHABLE;
    reason(why, why_len, "connect", ECONNREFUSED);
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            reason(why, why_len, "socket", errno);
            continue;
        }
        int flags = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                reason(why, why_len, "connect", errno);
                close(fd);
                continue;
            }
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int ready = poll(&p, 1, (int)timeout_ms);
            int error = 0;
            socklen_t len = sizeof(error);
            if (ready <= 0) {
                if (why && why_len) {
                    snprintf(why, why_len, "connect: no answer in %u ms", (unsigned)timeout_ms);
                }
                result = KAA_ERR_TIMEOUT;
                close(fd);
                continue;
            }
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
                reason(why, why_len, "connect", error ? error : errno);
                close(fd);
                continue;
            }
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        kaa_socket_t *s = malloc(sizeof(*s));
        if (!s) {
            close(fd);
            freeaddrinfo(list);
            return KAA_ERR_NOMEM;
        }
        s->fd = fd;
        *out = s;
        freeaddrinfo(list);
        return KAA_OK;
    }
    freeaddrinfo(list);
    return result;
}

kaa_error_t kaa_pal_tcp_send(kaa_socket_t *socket, const uint8_t *data, size_t len,
                             uint32_t timeout_ms)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(socket->fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd p = {.fd = socket->fd, .events = POLLOUT};
            if (poll(&p, 1, (int)timeout_ms) == 0) {
                return KAA_ERR_TIMEOUT;
            }
            continue;
        }
        return KAA_ERR_CLOSED;
    }
    return KAA_OK;
}

long kaa_pal_tcp_recv(kaa_socket_t *socket, uint8_t *buffer, size_t capacity,
                      uint32_t timeout_ms)
{
    struct pollfd p = {.fd = socket->fd, .events = POLLIN};
    int ready = poll(&p, 1, (int)timeout_ms);
    if (ready < 0) {
        return errno == EINTR ? 0 : -1;
    }
    if (ready == 0) {
        return 0;
    }
    ssize_t n = recv(socket->fd, buffer, capacity, 0);
    if (n > 0) {
        return (long)n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 0;
    }
    return -1;
}

void kaa_pal_tcp_close(kaa_socket_t *socket)
{
    if (socket) {
        close(socket->fd);
        free(socket);
    }
}

uint64_t kaa_pal_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void kaa_pal_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

kaa_error_t kaa_pal_random(uint8_t *out, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return KAA_ERR_CRYPTO;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, out + got, len - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            close(fd);
            return KAA_ERR_CRYPTO;
        }
        got += (size_t)n;
    }
    close(fd);
    return KAA_OK;
}

static char *path_of(const char *dir, const char *name, const char *suffix)
{
    size_t len = strlen(dir) + strlen(name) + strlen(suffix) + 2;
    char *path = malloc(len);
    if (path) {
        snprintf(path, len, "%s/%s%s", dir, name, suffix);
    }
    return path;
}

/* mkdir -p */
static kaa_error_t make_dir(const char *dir)
{
    char *copy = malloc(strlen(dir) + 1);
    if (!copy) {
        return KAA_ERR_NOMEM;
    }
    strcpy(copy, dir);
    for (char *p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(copy, 0700);
            *p = '/';
        }
    }
    int rc = mkdir(copy, 0700);
    int error = errno;
    free(copy);
    return (rc == 0 || error == EEXIST) ? KAA_OK : KAA_ERR_STORAGE;
}

kaa_error_t kaa_pal_storage_read(const char *dir, const char *name, uint8_t **data,
                                 size_t *len)
{
    *data = NULL;
    *len = 0;
    char *path = path_of(dir, name, "");
    if (!path) {
        return KAA_ERR_NOMEM;
    }
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) {
        return errno == ENOENT ? KAA_ERR_NOT_FOUND : KAA_ERR_STORAGE;
    }
    kaa_error_t result = KAA_OK;
    uint8_t *buffer = NULL;
    size_t size = 0;
    if (fseek(f, 0, SEEK_END) != 0) {
        result = KAA_ERR_STORAGE;
    } else {
        long end = ftell(f);
        if (end < 0 || fseek(f, 0, SEEK_SET) != 0) {
            result = KAA_ERR_STORAGE;
        } else {
            size = (size_t)end;
            buffer = malloc(size ? size : 1);
            if (!buffer) {
                result = KAA_ERR_NOMEM;
            } else if (size && fread(buffer, 1, size, f) != size) {
                result = KAA_ERR_STORAGE;
            }
        }
    }
    fclose(f);
    if (result != KAA_OK) {
        free(buffer);
        return result;
    }
    *data = buffer;
    *len = size;
    return KAA_OK;
}

/* Writes all `len` bytes of `data` to `fd`, retrying after signals; false on an error. */
static bool write_all(int fd, const uint8_t *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return false;
        }
        done += (size_t)n;
    }
    return true;
}

static kaa_error_t write_file(const char *dir, const char *name, const uint8_t *data,
                              size_t len, mode_t mode)
{
    kaa_error_t rc = make_dir(dir);
    if (rc != KAA_OK) {
        return rc;
    }
    char *tmp = path_of(dir, name, ".tmp");
    char *path = path_of(dir, name, "");
    if (!tmp || !path) {
        free(tmp);
        free(path);
        return KAA_ERR_NOMEM;
    }
    kaa_error_t result = KAA_ERR_STORAGE;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd >= 0) {
        if (write_all(fd, data, len) && fsync(fd) == 0 && close(fd) == 0) {
            fd = -1;
            if (rename(tmp, path) == 0) {
                result = KAA_OK;
            }
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    if (result != KAA_OK) {
        unlink(tmp);
    }
    free(tmp);
    free(path);
    return result;
}

kaa_error_t kaa_pal_storage_write(const char *dir, const char *name, const uint8_t *data,
                                  size_t len)
{
    return write_file(dir, name, data, len, 0644);
}

kaa_error_t kaa_pal_storage_write_secret(const char *dir, const char *name,
                                         const uint8_t *data, size_t len)
{
    return write_file(dir, name, data, len, 0600);
}

kaa_error_t kaa_pal_storage_append(const char *dir, const char *name, const uint8_t *data,
                                   size_t len)
{
    kaa_error_t rc = make_dir(dir);
    if (rc != KAA_OK) {
        return rc;
    }
    char *path = path_of(dir, name, "");
    if (!path) {
        return KAA_ERR_NOMEM;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0) {
        return KAA_ERR_STORAGE;
    }
    if (!write_all(fd, data, len)) {
        close(fd);
        return KAA_ERR_STORAGE;
    }
    return close(fd) == 0 ? KAA_OK : KAA_ERR_STORAGE;
}
