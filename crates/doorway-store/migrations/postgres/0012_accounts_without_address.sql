-- An account may have no address (Storyden's handle + password sign-up). UNIQUE lets any
-- number of NULLs through: addresses stay unique per project where there is one, and so do
-- usernames.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
