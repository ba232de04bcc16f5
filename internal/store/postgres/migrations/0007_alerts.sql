-- Alert rules live in the group's config; their state is kept here, so
-- that nodes sharing the store notify once per transition (the node whose
-- compare-and-set moves the state sends it), and so is their history.
CREATE TABLE alert_states (
    grp        TEXT NOT NULL,
    rule       TEXT NOT NULL,
    state      TEXT NOT NULL,
    since      BIGINT NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (grp, rule)
);

CREATE TABLE alert_events (
    id        BIGSERIAL PRIMARY KEY,
    grp       TEXT NOT NULL,
    rule      TEXT NOT NULL,
    state     TEXT NOT NULL,
    metric    TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    at        BIGINT NOT NULL,
    node      TEXT NOT NULL,
    delivery  TEXT NOT NULL
);
CREATE INDEX alert_events_grp ON alert_events (grp, id);
