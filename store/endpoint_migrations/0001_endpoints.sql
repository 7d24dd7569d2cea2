-- kaa-rs endpoint data on SQL, version 1: credentials, endpoint profiles, configuration bodies,
-- topic and unicast notifications, topic lists. One script for PostgreSQL, MariaDB and SQLite:
-- `${long_text}`, `${bytes}` and `${key_bytes}` become the dialect's types and `${table_options}`
-- makes MariaDB compare text exactly, before it runs (see kaa_store::sql::SqlDatabase::migrate).
-- Applied versions are recorded in `_kaa_endpoint_migrations`, apart from the metadata store's.
--
-- Ids are the metadata store's strings, key hashes and configuration hashes raw bytes, times Unix
-- milliseconds. An endpoint profile's groups and subscriptions are JSON arrays in one column each,
-- so a profile is one row, written in one statement under its version check.

CREATE TABLE endpoint_credentials (
    application_id    VARCHAR(64)  NOT NULL,
    endpoint_key_hash ${key_bytes} NOT NULL,
    public_key        ${bytes}     NOT NULL,
    status            VARCHAR(16)  NOT NULL,
    PRIMARY KEY (application_id, endpoint_key_hash)
)${table_options};

CREATE TABLE endpoint_profiles (
    endpoint_key_hash       ${key_bytes}  NOT NULL PRIMARY KEY,
    application_id          VARCHAR(64)   NOT NULL,
    public_key              ${bytes}      NOT NULL,
    access_token            VARCHAR(255),
    sdk_token               VARCHAR(255)  NOT NULL,
    client_profile_version  BIGINT        NOT NULL,
    client_profile          ${bytes}      NOT NULL,
    profile_hash            ${bytes}      NOT NULL,
    server_profile_version  BIGINT        NOT NULL,
    server_profile          ${long_text}  NOT NULL,
    -- [[group_id, filter_id or null, configuration_id or null], ...]
    group_states            ${long_text}  NOT NULL,
    configuration_hash      ${bytes}      NOT NULL,
    topic_hash              BIGINT        NOT NULL,
    -- [topic_id, ...]
    subscriptions           ${long_text}  NOT NULL,
    system_notification_seq BIGINT        NOT NULL,
    owner_id                VARCHAR(255),
    node_id                 VARCHAR(255),
    last_seen_ms            BIGINT        NOT NULL,
    version                 BIGINT        NOT NULL
)${table_options};

CREATE INDEX endpoint_profiles_by_app ON endpoint_profiles (application_id, endpoint_key_hash);
CREATE INDEX endpoint_profiles_by_token ON endpoint_profiles (application_id, access_token);

CREATE TABLE endpoint_configurations (
    hash ${key_bytes} NOT NULL PRIMARY KEY,
    body ${bytes}     NOT NULL
)${table_options};

CREATE TABLE topic_notifications (
    topic_id       VARCHAR(64) NOT NULL,
    seq            BIGINT      NOT NULL,
    id             VARCHAR(64) NOT NULL,
    application_id VARCHAR(64) NOT NULL,
    kind           VARCHAR(16) NOT NULL,
    body           ${bytes}    NOT NULL,
    expires_at_ms  BIGINT      NOT NULL,
    PRIMARY KEY (topic_id, seq)
)${table_options};

CREATE INDEX topic_notifications_by_expiry ON topic_notifications (expires_at_ms);

CREATE TABLE unicast_notifications (
    endpoint_key_hash ${key_bytes} NOT NULL,
    id                VARCHAR(64)  NOT NULL,
    topic_id          VARCHAR(64)  NOT NULL,
    kind              VARCHAR(16)  NOT NULL,
    body              ${bytes}     NOT NULL,
    expires_at_ms     BIGINT       NOT NULL,
    PRIMARY KEY (endpoint_key_hash, id)
)${table_options};

CREATE INDEX unicast_notifications_by_expiry ON unicast_notifications (expires_at_ms);

CREATE TABLE topic_lists (
    hash      BIGINT       NOT NULL PRIMARY KEY,
    -- [topic_id, ...]
    topic_ids ${long_text} NOT NULL
)${table_options};
