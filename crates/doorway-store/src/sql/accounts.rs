//! Accounts: users, passwords, external identities, organizations with their memberships,
//! workspaces and roles, and terms acceptances.

use async_trait::async_trait;
use doorway_core::Timestamp;
use doorway_core::email::EmailAddress;
use doorway_core::organization::{Membership, Organization, Workspace};
use doorway_core::store::{AccountStore, AccountTx, Identity, StoreResult};
use doorway_core::user::{User, Username};

use super::{PgStore, PgTx, SqliteStore, SqliteTx};
use crate::rows::{UserRow, UserWithMembershipsRow, UserWithPasswordRow, json_text};

const USER_BY_ID: &str = "SELECT * FROM users WHERE project_id = $1 AND id = $2";
const USER_ROLES: &str = "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role";

/// The user and, as one JSON array, their memberships joined to the organizations' workspaces:
/// one read where a who-am-I would make two. The aggregate is each engine's own.
const USER_WITH_MEMBERSHIPS_SQLITE: &str = "SELECT u.*, (
        SELECT json_group_array(json_array(o.id, o.project_id, o.name, o.slug, o.created_at, m.role,
                                           w.id, w.name, w.slug, w.created_at, m.created_at))
        FROM memberships m
        JOIN organizations o ON o.id = m.organization_id
        LEFT JOIN workspaces w ON w.organization_id = o.id
        WHERE m.user_id = u.id) AS memberships
     FROM users u WHERE u.project_id = $1 AND u.id = $2";
const USER_WITH_MEMBERSHIPS_POSTGRES: &str = "SELECT u.*, COALESCE((
        SELECT json_agg(json_build_array(o.id, o.project_id, o.name, o.slug, o.created_at, m.role,
                                         w.id, w.name, w.slug, w.created_at, m.created_at))
        FROM memberships m
        JOIN organizations o ON o.id = m.organization_id
        LEFT JOIN workspaces w ON w.organization_id = o.id
        WHERE m.user_id = u.id), '[]')::text AS memberships
     FROM users u WHERE u.project_id = $1 AND u.id = $2";

/// Several roles of one organization in one statement (`$2`: a JSON array of names).
const INSERT_ROLES_SQLITE: &str =
    "INSERT INTO roles (organization_id, name, created_at) SELECT $1, value, $3 FROM json_each($2)";
const INSERT_ROLES_POSTGRES: &str =
    "INSERT INTO roles (organization_id, name, created_at) SELECT $1, json_array_elements_text($2::json), $3";

macro_rules! accounts {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl AccountStore for $store {
            async fn user_by_id(&self, project_id: &str, user_id: &str) -> StoreResult<Option<User>> {
                read_optional!(self, UserRow, USER_BY_ID, project_id, user_id)?.map(User::try_from).transpose()
            }

            async fn user_with_memberships(
                &self,
                project_id: &str,
                user_id: &str,
            ) -> StoreResult<Option<(User, Vec<Membership>)>> {
                let sql = if $backend == "sqlite" { USER_WITH_MEMBERSHIPS_SQLITE } else { USER_WITH_MEMBERSHIPS_POSTGRES };
                read_optional!(self, UserWithMembershipsRow, sql, project_id, user_id)?
                    .map(<(User, Vec<Membership>)>::try_from)
                    .transpose()
            }

            async fn user_with_password(
                &self,
                project_id: &str,
                email: &EmailAddress,
            ) -> StoreResult<Option<(User, Option<String>)>> {
                read_optional!(
                    self,
                    UserWithPasswordRow,
                    "SELECT u.*, p.phc FROM users u LEFT JOIN password_credentials p ON p.user_id = u.id
                     WHERE u.project_id = $1 AND u.email = $2",
                    project_id,
                    email.as_str(),
                )?
                .map(<(User, Option<String>)>::try_from)
                .transpose()
            }

            async fn user_with_password_by_username(
                &self,
                project_id: &str,
                username: &Username,
            ) -> StoreResult<Option<(User, Option<String>)>> {
                read_optional!(
                    self,
                    UserWithPasswordRow,
                    "SELECT u.*, p.phc FROM users u LEFT JOIN password_credentials p ON p.user_id = u.id
                     WHERE u.project_id = $1 AND u.username = $2",
                    project_id,
                    username.as_str(),
                )?
                .map(<(User, Option<String>)>::try_from)
                .transpose()
            }

            async fn password_of(&self, user_id: &str) -> StoreResult<Option<String>> {
                Ok(read_optional!(self, (String,), "SELECT phc FROM password_credentials WHERE user_id = $1", user_id)?
                    .map(|(phc,)| phc))
            }

            async fn identity_user(&self, project_id: &str, provider: &str, subject: &str) -> StoreResult<Option<User>> {
                read_optional!(
                    self,
                    UserRow,
                    "SELECT u.* FROM identities i JOIN users u ON u.id = i.user_id
                     WHERE i.project_id = $1 AND i.provider = $2 AND i.subject = $3",
                    project_id,
                    provider,
                    subject,
                )?
                .map(User::try_from)
                .transpose()
            }

            async fn user_roles(&self, user_id: &str) -> StoreResult<Vec<String>> {
                Ok(read_all!(self, (String,), USER_ROLES, user_id)?.into_iter().map(|(role,)| role).collect())
            }

            async fn user_identity_providers(&self, user_id: &str) -> StoreResult<Vec<String>> {
                Ok(read_all!(
                    self,
                    (String,),
                    "SELECT DISTINCT provider FROM identities WHERE user_id = $1 ORDER BY provider",
                    user_id
                )?
                .into_iter()
                .map(|(provider,)| provider)
                .collect())
            }
        }

        #[async_trait]
        impl AccountTx for $tx {
            async fn insert_user(&mut self, u: &User) -> StoreResult<i64> {
                Ok(fetch_one!(
                    (i64,),
                    self,
                    "INSERT INTO users (id, project_id, email, email_verified, name, username, avatar_url, bio,
                        longitude, latitude, birthdate, metadata, secure_metadata, reputation, created_at, updated_at,
                        custom_fields)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                     RETURNING seq",
                    &u.id,
                    &u.project_id,
                    u.email.as_ref().map(EmailAddress::as_str),
                    u.email_verified,
                    &u.name,
                    &u.username,
                    &u.avatar_url,
                    &u.bio,
                    u.location.map(|l| l.longitude),
                    u.location.map(|l| l.latitude),
                    &u.birthdate,
                    json_text(&u.metadata),
                    json_text(&u.secure_metadata),
                    u.reputation,
                    u.created_at.millis(),
                    u.updated_at.millis(),
                    json_text(&u.custom_fields),
                )?
                .0)
            }

            async fn user_by_id(&mut self, project_id: &str, user_id: &str) -> StoreResult<Option<User>> {
                fetch_optional!(UserRow, self, USER_BY_ID, project_id, user_id)?
                    .map(User::try_from)
                    .transpose()
            }

            async fn mark_email_verified(&mut self, user_id: &str, now: Timestamp) -> StoreResult<()> {
                defer!(
                    self,
                    "UPDATE users SET email_verified = TRUE, updated_at = $2 WHERE id = $1",
                    user_id,
                    now.millis(),
                )?;
                Ok(())
            }

            async fn insert_password(&mut self, user_id: &str, phc: &str, now: Timestamp) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO password_credentials (user_id, phc, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                    user_id,
                    phc,
                    now.millis(),
                )?;
                Ok(())
            }

            async fn delete_password(&mut self, user_id: &str) -> StoreResult<bool> {
                let done = exec!(self, "DELETE FROM password_credentials WHERE user_id = $1", user_id)?;
                Ok(done > 0)
            }

            async fn lock_password(&mut self, user_id: &str) -> StoreResult<Option<String>> {
                Ok(fetch_optional!(
                    (String,),
                    self,
                    concat!("SELECT phc FROM password_credentials WHERE user_id = $1", $row_lock),
                    user_id
                )?
                .map(|(phc,)| phc))
            }

            async fn insert_identity(&mut self, i: &Identity) -> StoreResult<()> {
                exec!(
                    self,
                    "INSERT INTO identities (id, project_id, user_id, provider, subject, email, email_verified, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &i.id,
                    &i.project_id,
                    &i.user_id,
                    &i.provider,
                    &i.subject,
                    &i.email,
                    i.email_verified,
                    i.created_at.millis(),
                )?;
                Ok(())
            }

            async fn delete_unverified_identities(&mut self, user_id: &str) -> StoreResult<u64> {
                let done = exec!(
                    self,
                    "DELETE FROM identities WHERE user_id = $1 AND email_verified = FALSE",
                    user_id,
                )?;
                Ok(done)
            }

            async fn insert_organization_if_slug_free(&mut self, o: &Organization) -> StoreResult<bool> {
                let done = exec!(
                    self,
                    "INSERT INTO organizations (id, project_id, name, slug, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (project_id, slug) DO NOTHING",
                    &o.id,
                    &o.project_id,
                    &o.name,
                    &o.slug,
                    o.created_at.millis(),
                )?;
                Ok(done == 1)
            }

            async fn insert_membership(
                &mut self,
                organization_id: &str,
                user_id: &str,
                role: &str,
                now: Timestamp,
            ) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO memberships (organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
                    organization_id,
                    user_id,
                    role,
                    now.millis(),
                )?;
                Ok(())
            }

            async fn insert_workspace(&mut self, w: &Workspace) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO workspaces (id, organization_id, name, slug, created_at) VALUES ($1, $2, $3, $4, $5)",
                    &w.id,
                    &w.organization_id,
                    &w.name,
                    &w.slug,
                    w.created_at.millis(),
                )?;
                Ok(())
            }

            async fn insert_roles(&mut self, organization_id: &str, names: &[&str], now: Timestamp) -> StoreResult<()> {
                let sql = if $backend == "sqlite" { INSERT_ROLES_SQLITE } else { INSERT_ROLES_POSTGRES };
                let names = serde_json::to_string(names).map_err(doorway_core::store::StoreError::unexpected)?;
                exec!(self, sql, organization_id, names, now.millis())?;
                Ok(())
            }

            async fn insert_terms_acceptance(&mut self, user_id: &str, version: &str, now: Timestamp) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO terms_acceptances (user_id, version, accepted_at) VALUES ($1, $2, $3)",
                    user_id,
                    version,
                    now.millis(),
                )?;
                Ok(())
            }

            async fn insert_user_roles(&mut self, user_id: &str, roles: &[String], now: Timestamp) -> StoreResult<()> {
                for role in roles {
                    exec!(
                        self,
                        "INSERT INTO user_roles (user_id, role, created_at) VALUES ($1, $2, $3)
                         ON CONFLICT (user_id, role) DO NOTHING",
                        user_id,
                        role,
                        now.millis(),
                    )?;
                }
                Ok(())
            }

            async fn user_roles(&mut self, user_id: &str) -> StoreResult<Vec<String>> {
                Ok(fetch_all!((String,), self, USER_ROLES, user_id)?.into_iter().map(|(role,)| role).collect())
            }
        }
    };
}

for_both_engines!(accounts);
