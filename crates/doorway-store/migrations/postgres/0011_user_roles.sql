-- Project-wide roles a user holds (`default_roles`, assigned at every sign-up). They go into
-- the access token's `roles` claim and into who-am-I answers.
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role)
);
