//! One implementation of the store port, expanded once per engine.
//!
//! The SQL below is the same text on SQLite and PostgreSQL (`$n` placeholders, Unix-ms times,
//! TEXT json); the macro only swaps the driver types.

use async_trait::async_trait;
use doorway_core::keys::ProjectKey;
use doorway_core::store::{Store, StoreResult, StoreTx};
use doorway_core::{Project, ProjectSlug};

use crate::errors::store_error;
use crate::rows::{KeyRow, ProjectRow, settings_json};

macro_rules! sql_store {
    ($store:ident, $tx:ident, $queries:ident, $db:ty, $backend:literal, $begin:literal) => {
        #[derive(Clone)]
        pub struct $store {
            pool: sqlx::Pool<$db>,
        }

        impl $store {
            pub fn new(pool: sqlx::Pool<$db>) -> Self {
                Self { pool }
            }

            pub fn pool(&self) -> &sqlx::Pool<$db> {
                &self.pool
            }
        }

        pub struct $tx {
            tx: sqlx::Transaction<'static, $db>,
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
                Ok(Box::new($tx { tx }))
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
                    "SELECT kid, secret, created_at, retires_at FROM signing_keys
                     WHERE project_id = $1 ORDER BY created_at DESC, kid",
                )
                .bind(project_id)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(ProjectKey::try_from)
                .collect()
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
                sqlx::query(
                    "INSERT INTO signing_keys (kid, project_id, secret, created_at, retires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.kid)
                .bind(project_id)
                .bind(&key.secret_bytes()[..])
                .bind(key.created_at.millis())
                .bind(key.retires_at.map(|t| t.millis()))
                .execute(&mut *self.tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }
        }
    };
}

// SQLite: take the write lock up front so concurrent writers wait (busy_timeout) instead of
// failing when a read lock cannot be upgraded.
sql_store!(
    SqliteStore,
    SqliteTx,
    sqlite_queries,
    sqlx::Sqlite,
    "sqlite",
    "BEGIN IMMEDIATE"
);
sql_store!(
    PgStore,
    PgTx,
    pg_queries,
    sqlx::Postgres,
    "postgres",
    "BEGIN"
);
