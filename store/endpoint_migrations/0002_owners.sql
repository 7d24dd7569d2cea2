-- kaa-rs endpoint data on SQL, version 2: owners' configurations (one JSON document per owner,
-- application and configuration-schema version) and the owner index of endpoint profiles.

CREATE TABLE user_configurations (
    owner_id       VARCHAR(255) NOT NULL,
    application_id VARCHAR(64)  NOT NULL,
    schema_version BIGINT       NOT NULL,
    body           ${long_text} NOT NULL,
    updated_ms     BIGINT       NOT NULL,
    PRIMARY KEY (owner_id, application_id, schema_version)
)${table_options};

CREATE INDEX endpoint_profiles_by_owner ON endpoint_profiles (owner_id);
