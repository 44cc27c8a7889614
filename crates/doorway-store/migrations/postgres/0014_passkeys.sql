-- WebAuthn passkeys and their ceremonies in progress.
-- A credential id (base64url) is unique per project; `passkey` is webauthn-rs's credential as
-- JSON (public key, counter, backup state); `counter` mirrors its sign counter for operators.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL,
    user_handle TEXT NOT NULL,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    counter BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    CONSTRAINT passkeys_project_id_credential_id_key UNIQUE (project_id, credential_id)
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- A registration or authentication started and not yet finished: found by the hash of the
-- secret in the starting browser's cookie, taken once, and only before it expires.
CREATE TABLE passkey_ceremonies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT passkey_ceremonies_binding_hash_key UNIQUE (binding_hash)
);
CREATE INDEX passkey_ceremonies_expires_idx ON passkey_ceremonies (expires_at);
