-- Times are Unix milliseconds (BIGINT) in both dialects so every query is shared.
-- Unique constraints carry PostgreSQL's default names, which the store reports on conflict.
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT projects_slug_key UNIQUE (slug)
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retires_at BIGINT
);
CREATE INDEX signing_keys_project_idx ON signing_keys (project_id, created_at);
