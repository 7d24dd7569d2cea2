-- kaa-rs metadata, version 4: log appenders, user verifiers and SDK profiles of an application.
-- Type-specific settings are JSON documents checked by the API before they are stored.

CREATE TABLE log_appenders (
    id                VARCHAR(36)  PRIMARY KEY,
    app_id            VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    name              VARCHAR(128) NOT NULL,
    appender_type     VARCHAR(32)  NOT NULL,
    min_log_version   BIGINT       NOT NULL,
    max_log_version   BIGINT       NOT NULL,
    confirm_delivery  BIGINT       NOT NULL,
    header_fields     VARCHAR(1024) NOT NULL,
    settings          ${long_text} NOT NULL,
    created_ms        BIGINT       NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE user_verifiers (
    id              VARCHAR(36)  PRIMARY KEY,
    app_id          VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    name            VARCHAR(128) NOT NULL,
    verifier_type   VARCHAR(32)  NOT NULL,
    verifier_token  VARCHAR(64)  NOT NULL UNIQUE,
    settings        ${long_text} NOT NULL,
    created_ms      BIGINT       NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE sdk_profiles (
    id                      VARCHAR(36)  PRIMARY KEY,
    app_id                  VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    name                    VARCHAR(128) NOT NULL,
    sdk_token               VARCHAR(64)  NOT NULL UNIQUE,
    client_profile_version  BIGINT       NOT NULL,
    server_profile_version  BIGINT       NOT NULL,
    configuration_version   BIGINT       NOT NULL,
    notification_version    BIGINT       NOT NULL,
    log_version             BIGINT       NOT NULL,
    event_map_ids           VARCHAR(4096) NOT NULL,
    default_verifier_token  VARCHAR(64),
    created_ms              BIGINT       NOT NULL,
    UNIQUE (app_id, name)
);
