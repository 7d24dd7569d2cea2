-- kaa-rs metadata, version 3: event class families and the applications that speak them.
--
-- An event class family (ECF) belongs to a tenant. Each version of it is a list of event classes,
-- one Avro record schema each, kept whole in `body` (the JSON array of the schemas as uploaded)
-- and class by class in event_classes, named by the record's full name (FQN). A class is an
-- `event` (sent between endpoints) or an `object` (a type events carry). An FQN names one family
-- of the tenant: versions of one family may repeat it, other families may not.
--
-- An application maps at most one version of a family (application_event_maps), and for each
-- event class of that version says whether its endpoints send (`source`), receive (`sink`) or
-- do both.

CREATE TABLE event_families (
    id          VARCHAR(36)  PRIMARY KEY,
    tenant_id   VARCHAR(36)  NOT NULL REFERENCES tenants(id),
    name        VARCHAR(128) NOT NULL,
    namespace   VARCHAR(255) NOT NULL,
    class_name  VARCHAR(128) NOT NULL,
    created_ms  BIGINT       NOT NULL,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, class_name)
);

CREATE TABLE event_family_versions (
    id          VARCHAR(36)  PRIMARY KEY,
    family_id   VARCHAR(36)  NOT NULL REFERENCES event_families(id),
    version     BIGINT       NOT NULL,
    body        ${long_text} NOT NULL,
    created_ms  BIGINT       NOT NULL,
    UNIQUE (family_id, version)
);

CREATE TABLE event_classes (
    id                 VARCHAR(36)  PRIMARY KEY,
    family_version_id  VARCHAR(36)  NOT NULL REFERENCES event_family_versions(id),
    fqn                VARCHAR(255) NOT NULL,
    kind               VARCHAR(16)  NOT NULL,
    body               ${long_text} NOT NULL,
    UNIQUE (family_version_id, fqn)
);

CREATE INDEX event_classes_by_fqn ON event_classes (fqn);

CREATE TABLE application_event_maps (
    id                 VARCHAR(36)  PRIMARY KEY,
    app_id             VARCHAR(36)  NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    family_id          VARCHAR(36)  NOT NULL REFERENCES event_families(id),
    family_version_id  VARCHAR(36)  NOT NULL REFERENCES event_family_versions(id),
    created_ms         BIGINT       NOT NULL,
    UNIQUE (app_id, family_id)
);

CREATE TABLE application_event_actions (
    map_id      VARCHAR(36)  NOT NULL REFERENCES application_event_maps(id) ON DELETE CASCADE,
    class_id    VARCHAR(36)  NOT NULL REFERENCES event_classes(id),
    action      VARCHAR(16)  NOT NULL,
    PRIMARY KEY (map_id, class_id)
);
