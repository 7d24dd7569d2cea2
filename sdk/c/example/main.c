/*
 * The example program: starts the client with a profile made of the schema's defaults, prints
 * what happens (one line each, flushed at once), uploads KAA_EXAMPLE_LOGS log records after the
 * first configuration, subscribes to every optional topic, and stops cleanly on SIGTERM/SIGINT.
 *
 * Environment: KAA_STATE_DIR (default ./kaa-state), KAA_EXAMPLE_LOGS (default 10),
 * KAA_TRANSPORT (tcp, the default, or http: bootstrap over HTTP; Operations sessions are
 * Kaatcp either way).
 * Output: KEY_HASH, STORED_CONFIGURATION, CONNECTED, CONFIGURATION, NOTIFICATION,
 * LOGS_DELIVERED, ERROR lines.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaa_app.h"

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int signal)
{
    (void)signal;
    stop_requested = 1;
}

typedef struct {
    kaa_client_t *client;
    int64_t subscribed[16]; /* optional topics subscribed to */
    size_t subscribed_count;
    long logs_wanted;
    long logs_added;
    int logs_started;
    uint64_t first_id; /* id of this run's first record */
    int have_first_id;
    uint64_t delivered;
} example_t;

static void print_value(const char *tag, const char *prefix, const kaa_type_t *type,
                        const void *value)
{
    char *json = kaa_to_json(type, value);
    printf("%s %s%s\n", tag, prefix, json ? json : "null");
    fflush(stdout);
    free(json);
}

static void on_connected(void *user, const char *address)
{
    example_t *e = user;
    printf("CONNECTED %s\n", address);
    fflush(stdout);
    (void)e;
}

static void on_configuration(void *user, const void *configuration)
{
    example_t *e = user;
    print_value("CONFIGURATION", "", kaa_types.configuration, configuration);
    e->logs_started = 1;
}

static void on_notification(void *user, int64_t topic_id, const void *notification)
{
    (void)user;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "%lld ", (long long)topic_id);
    print_value("NOTIFICATION", prefix, kaa_types.notification, notification);
}

/* Subscribes to every optional topic the server offers (mandatory ones need nothing). */
static void on_topics(void *user, const kaa_topic_t *topics, size_t count)
{
    example_t *e = user;
    for (size_t i = 0; i < count; i++) {
        size_t known = 0;
        while (known < e->subscribed_count && e->subscribed[known] != topics[i].id) {
            known++;
        }
        if (!topics[i].optional || known < e->subscribed_count ||
            e->subscribed_count == sizeof(e->subscribed) / sizeof(e->subscribed[0])) {
            continue;
        }
        if (kaa_client_subscribe(e->client, topics[i].id) == KAA_OK) {
            e->subscribed[e->subscribed_count++] = topics[i].id;
        }
    }
}

static void on_logs_delivered(void *user, uint64_t first, uint64_t last)
{
    example_t *e = user;
    if (e->have_first_id && last >= e->first_id) {
        uint64_t from = first > e->first_id ? first : e->first_id;
        e->delivered += last - from + 1;
    }
    printf("LOGS_DELIVERED %llu\n", (unsigned long long)e->delivered);
    fflush(stdout);
}

static void on_error(void *user, kaa_error_t error, const char *message)
{
    (void)user;
    printf("ERROR %s (%s)\n", message, kaa_error_name(error));
    fflush(stdout);
}

/* Queues this run's log records, as many as the buffer takes now. */
static void add_logs(kaa_client_t *client, example_t *e)
{
    while (e->logs_added < e->logs_wanted) {
        kaa_log_record_t record;
        kaa_types.log->init_default(&record);
        kaa_log_record_set_index(&record, e->logs_added);
        uint64_t id = 0;
        kaa_error_t rc = kaa_client_add_log(client, &record, &id);
        kaa_types.log->free(&record);
        if (rc == KAA_ERR_BUFFER_FULL) {
            return;
        }
        if (rc != KAA_OK) {
            printf("ERROR cannot add a log record: %s\n", kaa_error_name(rc));
            fflush(stdout);
            return;
        }
        if (!e->have_first_id) {
            e->first_id = id;
            e->have_first_id = 1;
        }
        e->logs_added++;
    }
}

int main(void)
{
    const char *state_dir = getenv("KAA_STATE_DIR");
    if (!state_dir || !*state_dir) {
        state_dir = "./kaa-state";
    }
    const char *logs = getenv("KAA_EXAMPLE_LOGS");
    const char *transport = getenv("KAA_TRANSPORT");

    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    example_t example;
    memset(&example, 0, sizeof(example));
    example.logs_wanted = logs && *logs ? strtol(logs, NULL, 10) : 10;

    kaa_client_config_t config;
    kaa_client_config_init(&config, &kaa_properties, &kaa_types, state_dir);
    if (transport && strcmp(transport, "http") == 0) {
        config.bootstrap_transport = KAA_TRANSPORT_HTTP;
    } else if (transport && *transport && strcmp(transport, "tcp") != 0) {
        fprintf(stderr, "KAA_TRANSPORT=%s: expected tcp or http; using tcp\n", transport);
    }
    config.callbacks.user = &example;
    config.callbacks.on_connected = on_connected;
    config.callbacks.on_configuration = on_configuration;
    config.callbacks.on_notification = on_notification;
    config.callbacks.on_topics = on_topics;
    config.callbacks.on_logs_delivered = on_logs_delivered;
    config.callbacks.on_error = on_error;

    kaa_profile_t profile;
    kaa_types.profile->init_default(&profile);
    kaa_client_t *client = NULL;
    char why[300] = "";
    kaa_error_t rc = kaa_client_create(&client, &config, &profile, why, sizeof(why));
    kaa_types.profile->free(&profile);
    example.client = client;
    if (rc != KAA_OK) {
        printf("ERROR cannot start the client: %s (%s)\n", why, kaa_error_name(rc));
        fflush(stdout);
        return 1;
    }
    char *key_hash = kaa_client_key_hash_base64(client);
    printf("KEY_HASH %s\n", key_hash ? key_hash : "");
    fflush(stdout);
    free(key_hash);

    bool stored = false;
    const void *configuration = kaa_client_configuration(client, &stored);
    if (configuration && stored) {
        print_value("STORED_CONFIGURATION", "", kaa_types.configuration, configuration);
        example.logs_started = 1;
    }

    while (!stop_requested) {
        kaa_client_step(client, 200);
        if (example.logs_started) {
            add_logs(client, &example);
        }
    }
    kaa_client_destroy(client);
    return 0;
}
