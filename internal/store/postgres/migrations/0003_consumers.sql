-- Consumers and their API keys: live data, not part of revisions. A key
-- takes effect at once; only its SHA-256 is stored.
CREATE TABLE consumers (
    name       TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE consumer_keys (
    id         TEXT PRIMARY KEY,
    consumer   TEXT NOT NULL REFERENCES consumers (name),
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, -- 0: never
    revoked_at BIGINT NOT NULL  -- 0: not revoked
);
CREATE INDEX consumer_keys_consumer ON consumer_keys (consumer);
-- Bumped by every change to consumers or keys, so nodes can poll cheaply.
CREATE TABLE live_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO live_version (id, version) VALUES (1, 0);
