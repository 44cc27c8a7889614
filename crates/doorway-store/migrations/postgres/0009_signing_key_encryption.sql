-- How signing_keys.secret is stored: 'plain' (the raw 32-byte Ed25519 secret) or 'aes-256-gcm'
-- (sealed with the operator's master key: 12-byte nonce, ciphertext, tag; the kid is the
-- associated data). Existing rows are plain; a start with a master key seals them.
ALTER TABLE signing_keys ADD COLUMN secret_format TEXT NOT NULL DEFAULT 'plain';
