-- Quota counters of plans: requests per consumer and calendar period
-- ("day:UTC:2026-11-27", "month:Europe/Paris:2026-11"). Nodes add what
-- they counted; the sum is the period's total across nodes.
CREATE TABLE quota_usage (
    consumer   TEXT NOT NULL,
    period     TEXT NOT NULL,
    used       BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, period)
);
