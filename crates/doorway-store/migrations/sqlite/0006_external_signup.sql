-- Fields of a project's external sign-up model, and provider round trips waiting for the
-- browser's next step (Aufy): single use, short-lived.
ALTER TABLE users ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';

CREATE TABLE pending_externals (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    profile TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
