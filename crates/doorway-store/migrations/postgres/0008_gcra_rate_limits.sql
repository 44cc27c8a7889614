-- Rate limits by GCRA: one theoretical arrival time (Unix ms) per key instead of fixed-window
-- counts. The old buckets are only throttling state, so they are dropped, not converted.
DROP TABLE rate_limit_buckets;

CREATE TABLE rate_limit_tats (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL,
    -- Whether the latest hit was allowed, so the upsert can say so in its RETURNING.
    allowed BOOLEAN NOT NULL
);
