-- Proof-of-work (ALTCHA) solutions already used for a sign-up: the primary key makes each one
-- count once across every instance. A row is useless once its challenge has expired (the
-- expiry alone refuses it then), so housekeeping deletes it.
CREATE TABLE spent_bot_challenges (
    -- hex SHA-256 of the challenge's random salt and number: unique per challenge.
    challenge TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- Unix ms.
    expires_at BIGINT NOT NULL
);
CREATE INDEX spent_bot_challenges_expires_at ON spent_bot_challenges (expires_at);
