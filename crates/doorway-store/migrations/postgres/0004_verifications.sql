-- One-time codes and links. Neither is stored: both are derived from the project's key and
-- the row id; only their hashes are kept, for lookups and comparison.
CREATE TABLE verifications (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    purpose TEXT NOT NULL,
    kid TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    link_hash TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT,
    CONSTRAINT verifications_link_hash_key UNIQUE (link_hash)
);
CREATE INDEX verifications_address_idx ON verifications (project_id, email, purpose, created_at);
