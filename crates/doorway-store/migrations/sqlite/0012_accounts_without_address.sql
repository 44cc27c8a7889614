-- An account may have no address (Storyden's handle + password sign-up). SQLite cannot drop
-- NOT NULL in place, so the table is rebuilt (SQLite's documented twelve-step procedure: the
-- migrator runs with foreign keys off, so dropping the old table cascades nowhere, and checks
-- them afterwards). UNIQUE lets any number of NULLs through: addresses stay unique per project
-- where there is one, and so do usernames.
CREATE TABLE users_new (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    name TEXT,
    username TEXT,
    avatar_url TEXT,
    bio TEXT,
    longitude DOUBLE PRECISION,
    latitude DOUBLE PRECISION,
    birthdate TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    secure_metadata TEXT NOT NULL DEFAULT '{}',
    reputation BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    custom_fields TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT users_id_key UNIQUE (id),
    CONSTRAINT users_project_id_email_key UNIQUE (project_id, email),
    CONSTRAINT users_project_id_username_key UNIQUE (project_id, username)
);

INSERT INTO users_new (seq, id, project_id, email, email_verified, name, username, avatar_url, bio, longitude,
    latitude, birthdate, metadata, secure_metadata, reputation, created_at, updated_at, custom_fields)
SELECT seq, id, project_id, email, email_verified, name, username, avatar_url, bio, longitude,
    latitude, birthdate, metadata, secure_metadata, reputation, created_at, updated_at, custom_fields
FROM users;
-- Keep the sequence where it was, so a deleted user's seq is never handed out again.
DELETE FROM sqlite_sequence WHERE name = 'users_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'users_new', seq FROM sqlite_sequence WHERE name = 'users';

DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
