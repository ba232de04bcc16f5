-- Metered usage. A node writes its records in batches; usage_batches
-- remembers every batch ID written, so a batch delivered again (from the
-- node's spool after a crash or a store outage) is written once.
CREATE TABLE usage_batches (
    id         TEXT PRIMARY KEY,
    grp        TEXT NOT NULL,
    node       TEXT NOT NULL,
    records    BIGINT NOT NULL,
    written_at BIGINT NOT NULL
);
CREATE INDEX usage_batches_written ON usage_batches (written_at);

-- One row per proxied request, kept for the analytics retention of raw
-- records. Times are Unix microseconds.
CREATE TABLE usage_records (
    batch_id   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    grp        TEXT NOT NULL,
    node       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    api        TEXT NOT NULL,
    route      TEXT NOT NULL,
    consumer   TEXT NOT NULL,
    plan       TEXT NOT NULL,
    upstream   TEXT NOT NULL,
    request_id TEXT NOT NULL,
    status     INTEGER NOT NULL,
    latency_us BIGINT NOT NULL,
    bytes_in   BIGINT NOT NULL,
    bytes_out  BIGINT NOT NULL,
    PRIMARY KEY (batch_id, seq)
);
CREATE INDEX usage_records_at ON usage_records (grp, at);

-- Minute, hour and day rollups: counts, sums and a mergeable latency
-- sketch (DDSketch, 1% relative accuracy) per API route, consumer and
-- status. Buckets are Unix seconds (UTC).
CREATE TABLE usage_rollups (
    grp            TEXT NOT NULL,
    granularity    TEXT NOT NULL,
    bucket         BIGINT NOT NULL,
    api            TEXT NOT NULL,
    route          TEXT NOT NULL,
    consumer       TEXT NOT NULL,
    status         INTEGER NOT NULL,
    requests       BIGINT NOT NULL,
    bytes_in       BIGINT NOT NULL,
    bytes_out      BIGINT NOT NULL,
    latency_sum_us BIGINT NOT NULL,
    sketch         BLOB NOT NULL,
    PRIMARY KEY (grp, granularity, bucket, api, route, consumer, status)
);
