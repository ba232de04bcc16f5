-- Metered usage. A node writes its records in batches; usage_batches
-- remembers every batch ID written, so a batch delivered again (from the
-- node's spool after a crash or a store outage) is written once.
CREATE TABLE usage_batches (
    id         TEXT PRIMARY KEY,
    grp        TEXT NOT NULL,
    node       TEXT NOT NULL,
    records    BIGINT NOT NULL,
    -- The first and last request times of the batch (Unix microseconds)
    -- and when it was written (Unix milliseconds).
    first_at   BIGINT NOT NULL,
    last_at    BIGINT NOT NULL,
    written_at BIGINT NOT NULL,
    -- The raw records, one per proxied request, in a compact encoding
    -- (internal/store/sqldb/records.go), kept for the analytics retention
    -- of raw records.
    data       BYTEA NOT NULL
);
CREATE INDEX usage_batches_at ON usage_batches (grp, last_at);
CREATE INDEX usage_batches_written ON usage_batches (grp, written_at);

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
    sketch         BYTEA NOT NULL,
    PRIMARY KEY (grp, granularity, bucket, api, route, consumer, status)
);
