-- kaa-rs metadata, version 2: what hangs on an endpoint group.
--
-- group_documents holds profile filters and configurations: both are documents attached to one
-- group and one schema version, written as drafts and activated, at most one active per
-- (group, kind, schema versions); activating one deprecates the previous. For a profile filter,
-- schema_version is the client-profile schema version and server_schema_version the
-- server-profile one (0 = any version); for a configuration, schema_version is the
-- configuration schema version and server_schema_version is 0.

CREATE TABLE group_documents (
    id                    VARCHAR(36)  PRIMARY KEY,
    app_id                VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    group_id              VARCHAR(36)  NOT NULL REFERENCES endpoint_groups(id) ON DELETE CASCADE,
    kind                  VARCHAR(32)  NOT NULL,
    schema_version        BIGINT       NOT NULL,
    server_schema_version BIGINT       NOT NULL,
    body                  ${long_text} NOT NULL,
    status                VARCHAR(16)  NOT NULL,
    created_ms            BIGINT       NOT NULL,
    activated_ms          BIGINT
);

CREATE INDEX group_documents_by_group ON group_documents (group_id, kind, status);

-- Notification topics, and the groups whose endpoints receive them.
CREATE TABLE topics (
    id          VARCHAR(36)  PRIMARY KEY,
    app_id      VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    name        VARCHAR(128) NOT NULL,
    kind        VARCHAR(16)  NOT NULL,
    created_ms  BIGINT       NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE group_topics (
    group_id    VARCHAR(36)  NOT NULL REFERENCES endpoint_groups(id) ON DELETE CASCADE,
    topic_id    VARCHAR(36)  NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, topic_id)
);
