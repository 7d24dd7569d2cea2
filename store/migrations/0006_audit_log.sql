-- kaa-rs metadata, version 6: the audit log of the admin API. One row per login, failed login,
-- logout and admin change (every request that is not a read), newest read first. Who, what and
-- when are copied into the row rather than referenced, so an entry outlives the user and tenant
-- it names. Never a password or a request body.

CREATE TABLE audit_log (
    id          VARCHAR(36)   PRIMARY KEY,
    at_ms       BIGINT        NOT NULL,
    user_id     VARCHAR(36),
    username    VARCHAR(128),
    role        VARCHAR(32),
    tenant_id   VARCHAR(36),
    action      VARCHAR(32)   NOT NULL,
    method      VARCHAR(16)   NOT NULL,
    path        VARCHAR(1024) NOT NULL,
    status      BIGINT        NOT NULL,
    entity_id   VARCHAR(64),
    address     VARCHAR(64)
);

CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at_ms);
