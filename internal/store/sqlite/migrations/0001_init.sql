-- Gateway groups, each with its editable draft and the number of its newest
-- revision (the counter that serialises publishes).
CREATE TABLE groups (
    name             TEXT PRIMARY KEY,
    created_at       BIGINT NOT NULL,
    draft            TEXT NOT NULL,
    draft_version    BIGINT NOT NULL,
    draft_updated_at BIGINT NOT NULL,
    draft_updated_by TEXT NOT NULL,
    latest_revision  BIGINT NOT NULL
);

-- Immutable, numbered configurations.
CREATE TABLE revisions (
    grp         TEXT NOT NULL REFERENCES groups (name),
    number      BIGINT NOT NULL,
    content     TEXT NOT NULL,
    hash        TEXT NOT NULL,
    author      TEXT NOT NULL,
    message     TEXT NOT NULL,
    rollback_of BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (grp, number)
);
CREATE TRIGGER revisions_immutable BEFORE UPDATE ON revisions
BEGIN SELECT RAISE(ABORT, 'revisions are immutable'); END;

-- How each node fared applying each revision.
CREATE TABLE rollout_status (
    grp        TEXT NOT NULL,
    number     BIGINT NOT NULL,
    node       TEXT NOT NULL,
    state      TEXT NOT NULL,
    detail     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (grp, number, node),
    FOREIGN KEY (grp, number) REFERENCES revisions (grp, number)
);

-- The audit log: append-only.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    grp        TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    before_doc TEXT,
    after_doc  TEXT,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_grp ON audit (grp, id);
CREATE INDEX audit_actor ON audit (actor, id);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Admin API tokens; only the SHA-256 of the secret is kept.
CREATE TABLE admin_tokens (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    groups     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT NOT NULL
);
