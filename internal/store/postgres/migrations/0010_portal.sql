-- The developer portal: developers (email + password hash, verified by a
-- link whose token's hash is kept here), their applications — each one a
-- consumer, whose keys authenticate on the gateways — and the
-- applications' subscriptions to APIs under a plan.
CREATE TABLE developers (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    verify_hash    TEXT NOT NULL,
    verify_expires BIGINT NOT NULL,
    verified_at    BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE TABLE developer_apps (
    id           TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES developers (id),
    name         TEXT NOT NULL,
    consumer     TEXT NOT NULL UNIQUE REFERENCES consumers (name),
    created_at   BIGINT NOT NULL
);
CREATE INDEX developer_apps_developer ON developer_apps (developer_id);
CREATE TABLE subscriptions (
    app_id     TEXT NOT NULL REFERENCES developer_apps (id),
    grp        TEXT NOT NULL,
    api        TEXT NOT NULL,
    plan       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT NOT NULL,
    decided_by TEXT NOT NULL,
    PRIMARY KEY (app_id, grp, api)
);
