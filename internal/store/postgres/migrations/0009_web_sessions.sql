-- Sessions of the web console (and, later, the developer portal). The
-- cookie holds a random secret; only its SHA-256 is stored. A session
-- ends when it expires or is revoked (sign-out).
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
