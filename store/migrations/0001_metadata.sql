-- kaa-rs metadata, version 1: tenants, users and sessions, applications with their change log,
-- schemas, endpoint groups. Ids are UUID strings made by the application; times are Unix
-- milliseconds. One script for PostgreSQL, MariaDB and SQLite: `${long_text}` becomes the
-- dialect's type for large text (TEXT, or MEDIUMTEXT on MariaDB) before it runs.

CREATE TABLE tenants (
    id          VARCHAR(36)  PRIMARY KEY,
    name        VARCHAR(128) NOT NULL UNIQUE,
    created_ms  BIGINT       NOT NULL
);

CREATE TABLE users (
    id            VARCHAR(36)  PRIMARY KEY,
    tenant_id     VARCHAR(36)  REFERENCES tenants(id),
    username      VARCHAR(128) NOT NULL UNIQUE,
    role          VARCHAR(32)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_ms    BIGINT       NOT NULL
);

CREATE TABLE sessions (
    token_hash  VARCHAR(64)  PRIMARY KEY,
    user_id     VARCHAR(36)  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_ms  BIGINT       NOT NULL
);

CREATE TABLE applications (
    id                  VARCHAR(36)  PRIMARY KEY,
    tenant_id           VARCHAR(36)  NOT NULL REFERENCES tenants(id),
    name                VARCHAR(128) NOT NULL,
    app_token           VARCHAR(64)  NOT NULL UNIQUE,
    credentials_service VARCHAR(32)  NOT NULL,
    seq                 BIGINT       NOT NULL,
    created_ms          BIGINT       NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE change_log (
    app_id      VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    seq         BIGINT       NOT NULL,
    entity      VARCHAR(32)  NOT NULL,
    entity_id   VARCHAR(36)  NOT NULL,
    op          VARCHAR(16)  NOT NULL,
    created_ms  BIGINT       NOT NULL,
    PRIMARY KEY (app_id, seq)
);

CREATE TABLE app_schemas (
    id          VARCHAR(36)  PRIMARY KEY,
    app_id      VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    kind        VARCHAR(32)  NOT NULL,
    version     BIGINT       NOT NULL,
    name        VARCHAR(128) NOT NULL,
    body        ${long_text}  NOT NULL,
    created_ms  BIGINT       NOT NULL,
    UNIQUE (app_id, kind, version)
);

CREATE TABLE endpoint_groups (
    id          VARCHAR(36)  PRIMARY KEY,
    app_id      VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    name        VARCHAR(128) NOT NULL,
    weight      BIGINT       NOT NULL,
    description VARCHAR(1024) NOT NULL,
    created_ms  BIGINT       NOT NULL,
    UNIQUE (app_id, name),
    UNIQUE (app_id, weight)
);
