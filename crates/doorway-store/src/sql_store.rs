//! One implementation of the store port, expanded once per engine.
//!
//! The SQL below is the same text on SQLite and PostgreSQL (`$n` placeholders, Unix-ms times,
//! TEXT json); the macro only swaps the driver types.

use async_trait::async_trait;
use doorway_core::email::EmailAddress;
use doorway_core::events::{AuditEntry, OutboxMessage};
use doorway_core::keys::ProjectKey;
use doorway_core::mail::CodePurpose;
use doorway_core::organization::Membership;
use doorway_core::organization::Organization;
use doorway_core::organization::Workspace;
use doorway_core::rate_limit::Gcra;
use doorway_core::session::{RefreshToken, Session};
use doorway_core::store::{AuditFilter, Identity, OAuthState, PendingExternal, SsoSession};
use doorway_core::store::{Store, StoreResult, StoreTx};
use doorway_core::user::User;
use doorway_core::verification::Verification;
use doorway_core::webhooks::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus};
use doorway_core::{Project, ProjectSlug, Timestamp};
use sqlx::Row;
use std::sync::Arc;

use crate::ConnectError;
use crate::errors::store_error;
use crate::key_sealing::{self, MasterKey};
use crate::rows::{
    AttemptRow, AuditRow, DeliveryRow, KeyRow, MembershipRow, MembershipWorkspaceRow, OAuthStateRow, OutboxRow,
    ProjectRow, RefreshTokenRow, SessionRow, UserRow, UserWithPasswordRow, VerificationRow, WorkspaceRow, json_text,
    memberships_from, settings_json,
};

/// Claiming due deliveries. On PostgreSQL several instances claim at once, so rows another
/// worker is claiming are skipped; SQLite has a single writer and no `SKIP LOCKED`.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE deliveries SET claimed_until = $1, attempts = attempts + 1
             WHERE id IN (SELECT id FROM deliveries
                 WHERE status = 'pending' AND kind = $2 AND next_attempt_at <= $3
                   AND (claimed_until IS NULL OR claimed_until < $3)
                 ORDER BY next_attempt_at, id LIMIT $4 ",
            $lock,
            ") RETURNING *"
        )
    };
}

macro_rules! sql_store {
    ($store:ident, $tx:ident, $queries:ident, $db:ty, $backend:literal, $begin:literal, $claim:expr, $row_lock:literal) => {
        #[derive(Clone)]
        pub struct $store {
            pool: sqlx::Pool<$db>,
            /// Seals private signing keys at rest when set.
            master: Option<Arc<MasterKey>>,
        }

        impl $store {
            pub fn new(pool: sqlx::Pool<$db>) -> Self {
                Self { pool, master: None }
            }

            pub fn with_master_key(self, master: Option<MasterKey>) -> Self {
                Self { master: master.map(Arc::new), ..self }
            }

            /// Brings every stored signing key to the form the master key asks for, in one
            /// transaction: with a master key, plain secrets are sealed (returns how many) and
            /// sealed ones must open; without one, any sealed secret is an error.
            pub async fn protect_signing_keys(&self) -> Result<usize, ConnectError> {
                let mut tx = self.pool.begin_with($begin).await.map_err(ConnectError::Open)?;
                let rows: Vec<(String, Vec<u8>, String)> =
                    sqlx::query_as("SELECT kid, secret, secret_format FROM signing_keys ORDER BY kid")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(ConnectError::Open)?;
                let master = self.master.as_deref();
                let mut sealed = 0;
                for (kid, stored, format) in rows {
                    let secret = key_sealing::from_stored(master, &kid, &stored, &format)?;
                    if format == key_sealing::PLAIN && let Some(master) = master {
                        let (stored, format) = key_sealing::to_stored(Some(master), &kid, &secret);
                        // Another instance starting at the same time may have sealed it already.
                        let done = sqlx::query(
                            "UPDATE signing_keys SET secret = $2, secret_format = $3 WHERE kid = $1 AND secret_format = $4",
                        )
                        .bind(&kid)
                        .bind(stored)
                        .bind(format)
                        .bind(key_sealing::PLAIN)
                        .execute(&mut *tx)
                        .await
                        .map_err(ConnectError::Open)?;
                        sealed += done.rows_affected() as usize;
                    }
                }
                tx.commit().await.map_err(ConnectError::Open)?;
                Ok(sealed)
            }

            pub fn pool(&self) -> &sqlx::Pool<$db> {
                &self.pool
            }
        }

        pub struct $tx {
            tx: sqlx::Transaction<'static, $db>,
            master: Option<Arc<MasterKey>>,
        }

        mod $queries {
            use super::*;

            pub(super) async fn project_by_slug<'e, E>(
                e: E,
                slug: &ProjectSlug,
            ) -> StoreResult<Option<Project>>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query_as::<_, ProjectRow>("SELECT * FROM projects WHERE slug = $1")
                    .bind(slug.as_str())
                    .fetch_optional(e)
                    .await
                    .map_err(store_error)?
                    .map(Project::try_from)
                    .transpose()
            }

            pub(super) async fn user_by_id<'e, E>(e: E, project_id: &str, user_id: &str) -> StoreResult<Option<User>>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE project_id = $1 AND id = $2")
                    .bind(project_id)
                    .bind(user_id)
                    .fetch_optional(e)
                    .await
                    .map_err(store_error)?
                    .map(User::try_from)
                    .transpose()
            }

            pub(super) async fn session<'e, E>(e: E, id: &str) -> StoreResult<Option<Session>>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                Ok(sqlx::query_as::<_, SessionRow>("SELECT * FROM sessions WHERE id = $1")
                    .bind(id)
                    .fetch_optional(e)
                    .await
                    .map_err(store_error)?
                    .map(Session::from))
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }

            async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
                let tx = self.pool.begin_with($begin).await.map_err(store_error)?;
                Ok(Box::new($tx { tx, master: self.master.clone() }))
            }

            async fn project_by_slug(&self, slug: &ProjectSlug) -> StoreResult<Option<Project>> {
                $queries::project_by_slug(&self.pool, slug).await
            }

            async fn list_projects(&self) -> StoreResult<Vec<Project>> {
                sqlx::query_as::<_, ProjectRow>("SELECT * FROM projects ORDER BY slug")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .map(Project::try_from)
                    .collect()
            }

            async fn project_keys(&self, project_id: &str) -> StoreResult<Vec<ProjectKey>> {
                sqlx::query_as::<_, KeyRow>(
                    "SELECT kid, secret, secret_format, created_at, retires_at FROM signing_keys
                     WHERE project_id = $1
                     ORDER BY COALESCE(retires_at, 9223372036854775807) DESC, created_at DESC, kid",
                )
                .bind(project_id)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(|row| row.into_key(self.master.as_deref()))
                .collect()
            }

            async fn purge_retired_keys(&self, now: Timestamp) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM signing_keys WHERE retires_at IS NOT NULL AND retires_at <= $1")
                    .bind(now.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(done.rows_affected())
            }

            async fn user_by_id(&self, project_id: &str, user_id: &str) -> StoreResult<Option<User>> {
                $queries::user_by_id(&self.pool, project_id, user_id).await
            }

            async fn user_with_password(
                &self,
                project_id: &str,
                email: &EmailAddress,
            ) -> StoreResult<Option<(User, Option<String>)>> {
                sqlx::query_as::<_, UserWithPasswordRow>(
                    "SELECT u.*, p.phc FROM users u LEFT JOIN password_credentials p ON p.user_id = u.id
                     WHERE u.project_id = $1 AND u.email = $2",
                )
                .bind(project_id)
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?
                .map(<(User, Option<String>)>::try_from)
                .transpose()
            }

            async fn session(&self, session_id: &str) -> StoreResult<Option<Session>> {
                $queries::session(&self.pool, session_id).await
            }

            async fn memberships(&self, user_id: &str) -> StoreResult<Vec<(Organization, String)>> {
                Ok(sqlx::query_as::<_, MembershipRow>(
                    "SELECT o.id, o.project_id, o.name, o.slug, o.created_at, m.role
                     FROM memberships m JOIN organizations o ON o.id = m.organization_id
                     WHERE m.user_id = $1 ORDER BY m.created_at, o.id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(Into::into)
                .collect())
            }

            async fn outbox(&self, project_id: &str) -> StoreResult<Vec<OutboxMessage>> {
                sqlx::query_as::<_, OutboxRow>("SELECT * FROM outbox WHERE project_id = $1 ORDER BY created_at, id")
                    .bind(project_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .map(OutboxMessage::try_from)
                    .collect()
            }

            async fn rate_limit_hit(&self, key: &str, now: Timestamp, gcra: Gcra) -> StoreResult<(bool, i64)> {
                // GCRA in one statement (the row lock of the upsert serialises instances):
                // next = max(tat, now) + interval; allowed when next - now <= capacity.
                // Every SET expression reads the old row, so `allowed` and `tat` agree.
                let row = sqlx::query(
                    "INSERT INTO rate_limit_tats (key, tat, allowed) VALUES ($1, $2 + $3, TRUE)
                     ON CONFLICT (key) DO UPDATE SET
                         allowed = (CASE WHEN rate_limit_tats.tat > $2 THEN rate_limit_tats.tat ELSE $2 END)
                                   + $3 - $2 <= $4,
                         tat = CASE WHEN (CASE WHEN rate_limit_tats.tat > $2 THEN rate_limit_tats.tat ELSE $2 END)
                                         + $3 - $2 <= $4
                                    THEN (CASE WHEN rate_limit_tats.tat > $2 THEN rate_limit_tats.tat ELSE $2 END) + $3
                                    ELSE rate_limit_tats.tat END
                     RETURNING allowed, tat",
                )
                .bind(key)
                .bind(now.millis())
                .bind(gcra.interval_ms)
                .bind(gcra.capacity_ms)
                .fetch_one(&self.pool)
                .await
                .map_err(store_error)?;
                Ok((row.try_get::<bool, _>("allowed").map_err(store_error)?, row.try_get::<i64, _>("tat").map_err(store_error)?))
            }

            async fn purge_rate_limits(&self, before: i64) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM rate_limit_tats WHERE tat < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                Ok(done.rows_affected())
            }

            async fn project_by_id(&self, project_id: &str) -> StoreResult<Option<Project>> {
                sqlx::query_as::<_, ProjectRow>("SELECT * FROM projects WHERE id = $1")
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?
                    .map(Project::try_from)
                    .transpose()
            }

            async fn audit_page(&self, project_id: &str, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
                Ok(sqlx::query_as::<_, AuditRow>(
                    "SELECT * FROM audit_log WHERE project_id = $1
                       AND ($2 IS NULL OR user_id = $2)
                       AND ($3 IS NULL OR action = $3)
                       AND ($4 IS NULL OR outcome = $4)
                       AND ($5 IS NULL OR at >= $5)
                       AND ($6 IS NULL OR at < $6)
                       AND ($7 IS NULL OR id < $7)
                     ORDER BY id DESC LIMIT $8",
                )
                .bind(project_id)
                .bind(&f.user_id)
                .bind(&f.action)
                .bind(&f.outcome)
                .bind(f.since.map(|t| t.millis()))
                .bind(f.until.map(|t| t.millis()))
                .bind(&f.before_id)
                .bind(i64::from(f.limit))
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(Into::into)
                .collect())
            }

            async fn claim_deliveries(
                &self,
                kind: DeliveryKind,
                now: Timestamp,
                lease_until: Timestamp,
                limit: u32,
            ) -> StoreResult<Vec<Delivery>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(store_error)?;
                let rows = sqlx::query_as::<_, DeliveryRow>($claim)
                    .bind(lease_until.millis())
                    .bind(kind.as_str())
                    .bind(now.millis())
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                rows.into_iter().map(Delivery::try_from).collect()
            }

            async fn finish_attempt(
                &self,
                a: &DeliveryAttempt,
                outcome: AttemptOutcome,
                error: Option<&str>,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(store_error)?;
                sqlx::query(
                    "INSERT INTO delivery_attempts (delivery_id, attempt, at, status_code, latency_ms, error)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&a.delivery_id)
                .bind(a.attempt)
                .bind(a.at.millis())
                .bind(a.status_code)
                .bind(a.latency_ms)
                .bind(&a.error)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
                let (status, next, delivered_at) = match outcome {
                    AttemptOutcome::Delivered => (DeliveryStatus::Delivered, None, Some(a.at.millis())),
                    AttemptOutcome::RetryAt(t) => (DeliveryStatus::Pending, Some(t.millis()), None),
                    AttemptOutcome::Dead => (DeliveryStatus::Dead, None, None),
                };
                sqlx::query(
                    "UPDATE deliveries SET status = $2, next_attempt_at = COALESCE($3, next_attempt_at),
                         delivered_at = $4, last_error = $5, claimed_until = NULL
                     WHERE id = $1",
                )
                .bind(&a.delivery_id)
                .bind(status.as_str())
                .bind(next)
                .bind(delivered_at)
                .bind(error)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
                tx.commit().await.map_err(store_error)
            }

            async fn deliveries(
                &self,
                project_id: &str,
                kind: DeliveryKind,
                status: Option<DeliveryStatus>,
                limit: u32,
            ) -> StoreResult<Vec<Delivery>> {
                sqlx::query_as::<_, DeliveryRow>(
                    "SELECT * FROM deliveries WHERE project_id = $1 AND kind = $2 AND ($3 IS NULL OR status = $3)
                     ORDER BY created_at DESC, id DESC LIMIT $4",
                )
                .bind(project_id)
                .bind(kind.as_str())
                .bind(status.map(DeliveryStatus::as_str))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(Delivery::try_from)
                .collect()
            }

            async fn delivery_attempts(&self, delivery_id: &str) -> StoreResult<Vec<DeliveryAttempt>> {
                Ok(sqlx::query_as::<_, AttemptRow>(
                    "SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
                )
                .bind(delivery_id)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(Into::into)
                .collect())
            }

            async fn identity_user(&self, project_id: &str, provider: &str, subject: &str) -> StoreResult<Option<User>> {
                sqlx::query_as::<_, UserRow>(
                    "SELECT u.* FROM identities i JOIN users u ON u.id = i.user_id
                     WHERE i.project_id = $1 AND i.provider = $2 AND i.subject = $3",
                )
                .bind(project_id)
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?
                .map(User::try_from)
                .transpose()
            }

            async fn workspaces(&self, organization_id: &str) -> StoreResult<Vec<Workspace>> {
                Ok(sqlx::query_as::<_, WorkspaceRow>(
                    "SELECT * FROM workspaces WHERE organization_id = $1 ORDER BY created_at, id",
                )
                .bind(organization_id)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(Into::into)
                .collect())
            }

            async fn replay_delivery(&self, project_id: &str, delivery_id: &str, now: Timestamp) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $3, claimed_until = NULL
                     WHERE project_id = $1 AND id = $2 AND status <> 'suppressed'",
                )
                .bind(project_id)
                .bind(delivery_id)
                .bind(now.millis())
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn audit(&self, project_id: &str) -> StoreResult<Vec<AuditEntry>> {
                Ok(sqlx::query_as::<_, AuditRow>("SELECT * FROM audit_log WHERE project_id = $1 ORDER BY at, id")
                    .bind(project_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .map(Into::into)
                    .collect())
            }

            async fn memberships_with_workspaces(&self, user_id: &str) -> StoreResult<Vec<Membership>> {
                let rows = sqlx::query_as::<_, MembershipWorkspaceRow>(
                    "SELECT o.id, o.project_id, o.name, o.slug, o.created_at, m.role,
                            w.id AS workspace_id, w.name AS workspace_name, w.slug AS workspace_slug,
                            w.created_at AS workspace_created_at
                     FROM memberships m
                     JOIN organizations o ON o.id = m.organization_id
                     LEFT JOIN workspaces w ON w.organization_id = o.id
                     WHERE m.user_id = $1
                     ORDER BY m.created_at, o.id, w.created_at, w.id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
                Ok(memberships_from(rows))
            }
        }

        #[async_trait]
        impl StoreTx for $tx {
            async fn commit(self: Box<Self>) -> StoreResult<()> {
                self.tx.commit().await.map_err(store_error)
            }

            async fn project_by_slug(
                &mut self,
                slug: &ProjectSlug,
            ) -> StoreResult<Option<Project>> {
                $queries::project_by_slug(&mut *self.tx, slug).await
            }

            async fn insert_project(&mut self, p: &Project) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO projects (id, slug, name, settings, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&p.id)
                .bind(p.slug.as_str())
                .bind(&p.name)
                .bind(settings_json(p))
                .bind(p.created_at.millis())
                .bind(p.updated_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn update_project(&mut self, p: &Project) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE projects SET name = $2, settings = $3, updated_at = $4 WHERE id = $1",
                )
                .bind(&p.id)
                .bind(&p.name)
                .bind(settings_json(p))
                .bind(p.updated_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn insert_project_key(
                &mut self,
                project_id: &str,
                key: &ProjectKey,
            ) -> StoreResult<()> {
                let (secret, format) = key_sealing::to_stored(self.master.as_deref(), &key.kid, key.secret_bytes());
                sqlx::query(
                    "INSERT INTO signing_keys (kid, project_id, secret, secret_format, created_at, retires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&key.kid)
                .bind(project_id)
                .bind(secret)
                .bind(format)
                .bind(key.created_at.millis())
                .bind(key.retires_at.map(|t| t.millis()))
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn retire_project_keys(&mut self, project_id: &str, retires_at: Timestamp) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE signing_keys SET retires_at = $2
                     WHERE project_id = $1 AND (retires_at IS NULL OR retires_at > $2)",
                )
                .bind(project_id)
                .bind(retires_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn insert_user(&mut self, u: &User) -> StoreResult<i64> {
                let row = sqlx::query(
                    "INSERT INTO users (id, project_id, email, email_verified, name, username, avatar_url, bio,
                        longitude, latitude, birthdate, metadata, secure_metadata, reputation, created_at, updated_at,
                        custom_fields)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                     RETURNING seq",
                )
                .bind(&u.id)
                .bind(&u.project_id)
                .bind(u.email.as_str())
                .bind(u.email_verified)
                .bind(&u.name)
                .bind(&u.username)
                .bind(&u.avatar_url)
                .bind(&u.bio)
                .bind(u.location.map(|l| l.longitude))
                .bind(u.location.map(|l| l.latitude))
                .bind(&u.birthdate)
                .bind(json_text(&u.metadata))
                .bind(json_text(&u.secure_metadata))
                .bind(u.reputation)
                .bind(u.created_at.millis())
                .bind(u.updated_at.millis())
                .bind(json_text(&u.custom_fields))
                .fetch_one(&mut *self.tx)
                .await
                .map_err(store_error)?;
                row.try_get::<i64, _>("seq").map_err(store_error)
            }

            async fn insert_password(&mut self, user_id: &str, phc: &str, now: Timestamp) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO password_credentials (user_id, phc, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                )
                .bind(user_id)
                .bind(phc)
                .bind(now.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn delete_password(&mut self, user_id: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM password_credentials WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn lock_password(&mut self, user_id: &str) -> StoreResult<Option<String>> {
                sqlx::query_scalar(concat!("SELECT phc FROM password_credentials WHERE user_id = $1", $row_lock))
                    .bind(user_id)
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(store_error)
            }

            async fn insert_organization_if_slug_free(&mut self, o: &Organization) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO organizations (id, project_id, name, slug, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (project_id, slug) DO NOTHING",
                )
                .bind(&o.id)
                .bind(&o.project_id)
                .bind(&o.name)
                .bind(&o.slug)
                .bind(o.created_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_membership(
                &mut self,
                organization_id: &str,
                user_id: &str,
                role: &str,
                now: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO memberships (organization_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(organization_id)
                .bind(user_id)
                .bind(role)
                .bind(now.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn insert_session(&mut self, s: &Session) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (id, project_id, user_id, amr, ip, user_agent, created_at, expires_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&s.id)
                .bind(&s.project_id)
                .bind(&s.user_id)
                .bind(s.amr.join(" "))
                .bind(&s.client.ip)
                .bind(&s.client.user_agent)
                .bind(s.created_at.millis())
                .bind(s.expires_at.millis())
                .bind(s.revoked_at.map(|t| t.millis()))
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn lock_session(&mut self, session_id: &str) -> StoreResult<Option<Session>> {
                Ok(sqlx::query_as::<_, SessionRow>(concat!("SELECT * FROM sessions WHERE id = $1", $row_lock))
                    .bind(session_id)
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(store_error)?
                    .map(Session::from))
            }

            async fn revoke_session(&mut self, session_id: &str, now: Timestamp) -> StoreResult<()> {
                sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                    .bind(session_id)
                    .bind(now.millis())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                sqlx::query("UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE session_id = $1")
                    .bind(session_id)
                    .bind(now.millis())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }

            async fn revoke_user_sessions(&mut self, user_id: &str, now: Timestamp) -> StoreResult<u64> {
                // Sessions first, then their tokens: the lock order of every session change.
                let revoked = sqlx::query(
                    "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
                )
                .bind(user_id)
                .bind(now.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2)
                     WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
                )
                .bind(user_id)
                .bind(now.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(revoked.rows_affected())
            }

            async fn insert_refresh_token(&mut self, t: &RefreshToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, used_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&t.id)
                .bind(&t.session_id)
                .bind(&t.token_hash)
                .bind(&t.parent_id)
                .bind(t.created_at.millis())
                .bind(t.expires_at.millis())
                .bind(t.used_at.map(|x| x.millis()))
                .bind(t.revoked_at.map(|x| x.millis()))
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn refresh_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
                Ok(sqlx::query_as::<_, RefreshTokenRow>("SELECT * FROM refresh_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&mut *self.tx)
                    .await
                    .map_err(store_error)?
                    .map(RefreshToken::from))
            }

            async fn mark_refresh_token_used(&mut self, token_id: &str, now: Timestamp) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
                    .bind(token_id)
                    .bind(now.millis())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_outbox(&mut self, m: &OutboxMessage) -> StoreResult<()> {
                sqlx::query("INSERT INTO outbox (id, project_id, topic, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&m.id)
                    .bind(&m.project_id)
                    .bind(&m.topic)
                    .bind(json_text(&m.payload))
                    .bind(m.created_at.millis())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }

            async fn insert_delivery(&mut self, d: &Delivery) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO deliveries (id, project_id, event_id, kind, target, body, status, attempts,
                         next_attempt_at, claimed_until, last_error, created_at, delivered_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&d.id)
                .bind(&d.project_id)
                .bind(&d.event_id)
                .bind(d.kind.as_str())
                .bind(&d.target)
                .bind(&d.body)
                .bind(d.status.as_str())
                .bind(d.attempts)
                .bind(d.next_attempt_at.millis())
                .bind(d.claimed_until.map(|t| t.millis()))
                .bind(&d.last_error)
                .bind(d.created_at.millis())
                .bind(d.delivered_at.map(|t| t.millis()))
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn user_by_id(&mut self, project_id: &str, user_id: &str) -> StoreResult<Option<User>> {
                $queries::user_by_id(&mut *self.tx, project_id, user_id).await
            }

            async fn mark_email_verified(&mut self, user_id: &str, now: Timestamp) -> StoreResult<()> {
                sqlx::query("UPDATE users SET email_verified = TRUE, updated_at = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(now.millis())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }

            async fn insert_verification(&mut self, v: &Verification) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO verifications (id, project_id, user_id, email, purpose, kid, code_hash, link_hash,
                         attempts, created_at, expires_at, consumed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&v.id)
                .bind(&v.project_id)
                .bind(&v.user_id)
                .bind(v.email.as_str())
                .bind(v.purpose.as_str())
                .bind(&v.kid)
                .bind(&v.code_hash)
                .bind(&v.link_hash)
                .bind(v.attempts)
                .bind(v.created_at.millis())
                .bind(v.expires_at.millis())
                .bind(v.consumed_at.map(|t| t.millis()))
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn latest_verification(
                &mut self,
                project_id: &str,
                email: &EmailAddress,
                purpose: CodePurpose,
            ) -> StoreResult<Option<Verification>> {
                sqlx::query_as::<_, VerificationRow>(
                    "SELECT * FROM verifications
                     WHERE project_id = $1 AND email = $2 AND purpose = $3 AND consumed_at IS NULL
                     ORDER BY created_at DESC, id DESC LIMIT 1",
                )
                .bind(project_id)
                .bind(email.as_str())
                .bind(purpose.as_str())
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(store_error)?
                .map(Verification::try_from)
                .transpose()
            }

            async fn verification_by_link_hash(
                &mut self,
                project_id: &str,
                link_hash: &str,
            ) -> StoreResult<Option<Verification>> {
                sqlx::query_as::<_, VerificationRow>(
                    "SELECT * FROM verifications WHERE project_id = $1 AND link_hash = $2",
                )
                .bind(project_id)
                .bind(link_hash)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(store_error)?
                .map(Verification::try_from)
                .transpose()
            }

            async fn count_verification_attempt(&mut self, id: &str) -> StoreResult<i64> {
                let row = sqlx::query("UPDATE verifications SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts")
                    .bind(id)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                row.try_get::<i64, _>("attempts").map_err(store_error)
            }

            async fn consume_verification(&mut self, id: &str, now: Timestamp) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE verifications SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL")
                    .bind(id)
                    .bind(now.millis())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_identity(&mut self, i: &Identity) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO identities (id, project_id, user_id, provider, subject, email, email_verified, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&i.id)
                .bind(&i.project_id)
                .bind(&i.user_id)
                .bind(&i.provider)
                .bind(&i.subject)
                .bind(&i.email)
                .bind(i.email_verified)
                .bind(i.created_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn delete_unverified_identities(&mut self, user_id: &str) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM identities WHERE user_id = $1 AND email_verified = FALSE")
                    .bind(user_id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(done.rows_affected())
            }

            async fn insert_oauth_state(&mut self, s: &OAuthState) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO oauth_states (id, project_id, state_hash, provider, nonce, pkce_verifier, redirect_uri,
                         callback_url, purpose, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&s.id)
                .bind(&s.project_id)
                .bind(&s.state_hash)
                .bind(&s.provider)
                .bind(&s.nonce)
                .bind(&s.pkce_verifier)
                .bind(&s.redirect_uri)
                .bind(&s.callback_url)
                .bind(&s.purpose)
                .bind(s.created_at.millis())
                .bind(s.expires_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn take_oauth_state(
                &mut self,
                project_id: &str,
                state_hash: &str,
                now: Timestamp,
            ) -> StoreResult<Option<OAuthState>> {
                Ok(sqlx::query_as::<_, OAuthStateRow>(
                    "UPDATE oauth_states SET consumed_at = $3
                     WHERE project_id = $1 AND state_hash = $2 AND consumed_at IS NULL AND expires_at > $3
                     RETURNING id, project_id, state_hash, provider, nonce, pkce_verifier, redirect_uri,
                               callback_url, purpose, created_at, expires_at",
                )
                .bind(project_id)
                .bind(state_hash)
                .bind(now.millis())
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(store_error)?
                .map(Into::into))
            }

            async fn insert_sso_session(&mut self, s: &SsoSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sso_sessions (id, session_id, user_id, provider, subject, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&s.id)
                .bind(&s.session_id)
                .bind(&s.user_id)
                .bind(&s.provider)
                .bind(&s.subject)
                .bind(s.created_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn insert_workspace(&mut self, w: &Workspace) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO workspaces (id, organization_id, name, slug, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&w.id)
                .bind(&w.organization_id)
                .bind(&w.name)
                .bind(&w.slug)
                .bind(w.created_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn insert_role(&mut self, organization_id: &str, name: &str, now: Timestamp) -> StoreResult<()> {
                sqlx::query("INSERT INTO roles (organization_id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(organization_id)
                    .bind(name)
                    .bind(now.millis())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }

            async fn insert_terms_acceptance(&mut self, user_id: &str, version: &str, now: Timestamp) -> StoreResult<()> {
                sqlx::query("INSERT INTO terms_acceptances (user_id, version, accepted_at) VALUES ($1, $2, $3)")
                    .bind(user_id)
                    .bind(version)
                    .bind(now.millis())
                    .execute(&mut *self.tx)
                    .await
                    .map_err(store_error)?;
                Ok(())
            }

            async fn insert_pending_external(&mut self, p: &PendingExternal) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO pending_externals (id, project_id, kind, profile, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&p.id)
                .bind(&p.project_id)
                .bind(&p.kind)
                .bind(json_text(&p.profile))
                .bind(p.created_at.millis())
                .bind(p.expires_at.millis())
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            async fn take_pending_external(
                &mut self,
                project_id: &str,
                id: &str,
                kind: &str,
                now: Timestamp,
            ) -> StoreResult<Option<PendingExternal>> {
                let row = sqlx::query(
                    "UPDATE pending_externals SET consumed_at = $4
                     WHERE project_id = $1 AND id = $2 AND kind = $3 AND consumed_at IS NULL AND expires_at > $4
                     RETURNING id, project_id, kind, profile, created_at, expires_at",
                )
                .bind(project_id)
                .bind(id)
                .bind(kind)
                .bind(now.millis())
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(store_error)?;
                let Some(row) = row else { return Ok(None) };
                let text: String = row.try_get("profile").map_err(store_error)?;
                Ok(Some(PendingExternal {
                    id: row.try_get("id").map_err(store_error)?,
                    project_id: row.try_get("project_id").map_err(store_error)?,
                    kind: row.try_get("kind").map_err(store_error)?,
                    profile: serde_json::from_str(&text).map_err(|e| crate::errors::corrupt(format!("pending profile: {e}")))?,
                    created_at: Timestamp::from_millis(row.try_get("created_at").map_err(store_error)?),
                    expires_at: Timestamp::from_millis(row.try_get("expires_at").map_err(store_error)?),
                }))
            }

            async fn insert_audit(&mut self, a: &AuditEntry) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO audit_log (id, project_id, at, action, outcome, method, user_id, ip, user_agent, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&a.id)
                .bind(&a.project_id)
                .bind(a.at.millis())
                .bind(&a.action)
                .bind(&a.outcome)
                .bind(&a.method)
                .bind(&a.user_id)
                .bind(&a.ip)
                .bind(&a.user_agent)
                .bind((!a.detail.is_null()).then(|| json_text(&a.detail)))
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }
        }
    };
}

const CLAIM_SQLITE: &str = claim_sql!("");
const CLAIM_POSTGRES: &str = claim_sql!("FOR UPDATE SKIP LOCKED");

// SQLite: take the write lock up front so concurrent writers wait (busy_timeout) instead of
// failing when a read lock cannot be upgraded.
// A row lock only means something on PostgreSQL; SQLite transactions already hold the write lock.
sql_store!(SqliteStore, SqliteTx, sqlite_queries, sqlx::Sqlite, "sqlite", "BEGIN IMMEDIATE", CLAIM_SQLITE, "");
sql_store!(PgStore, PgTx, pg_queries, sqlx::Postgres, "postgres", "BEGIN", CLAIM_POSTGRES, " FOR UPDATE");
