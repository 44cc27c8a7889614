//! Projects and their signing keys (sealed at rest when the store has a master key).

use async_trait::async_trait;
use doorway_core::keys::ProjectKey;
use doorway_core::store::{ProjectStore, ProjectTx, StoreResult};
use doorway_core::{Project, ProjectSlug, Timestamp};

use super::{PgStore, PgTx, SqliteStore, SqliteTx};
use crate::key_sealing;
use crate::rows::{KeyRow, ProjectRow, settings_json};

const PROJECT_BY_SLUG: &str = "SELECT * FROM projects WHERE slug = $1";

macro_rules! projects {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl ProjectStore for $store {
            async fn project_by_slug(&self, slug: &ProjectSlug) -> StoreResult<Option<Project>> {
                read_optional!(self, ProjectRow, PROJECT_BY_SLUG, slug.as_str())?.map(Project::try_from).transpose()
            }

            async fn project_by_id(&self, project_id: &str) -> StoreResult<Option<Project>> {
                read_optional!(self, ProjectRow, "SELECT * FROM projects WHERE id = $1", project_id)?
                    .map(Project::try_from)
                    .transpose()
            }

            async fn list_projects(&self) -> StoreResult<Vec<Project>> {
                read_all!(self, ProjectRow, "SELECT * FROM projects ORDER BY slug")?
                    .into_iter()
                    .map(Project::try_from)
                    .collect()
            }

            async fn project_keys(&self, project_id: &str) -> StoreResult<Vec<ProjectKey>> {
                read_all!(
                    self,
                    KeyRow,
                    "SELECT kid, secret, secret_format, created_at, retires_at FROM signing_keys
                     WHERE project_id = $1
                     ORDER BY COALESCE(retires_at, 9223372036854775807) DESC, created_at DESC, kid",
                    project_id,
                )?
                .into_iter()
                .map(|row| row.into_key(self.master.as_deref()))
                .collect()
            }

            async fn purge_retired_keys(&self, now: Timestamp) -> StoreResult<u64> {
                let done = exec!(
                    self,
                    "DELETE FROM signing_keys WHERE retires_at IS NOT NULL AND retires_at <= $1",
                    now.millis(),
                )?;
                Ok(done)
            }
        }

        #[async_trait]
        impl ProjectTx for $tx {
            async fn project_by_slug(&mut self, slug: &ProjectSlug) -> StoreResult<Option<Project>> {
                fetch_optional!(ProjectRow, self, PROJECT_BY_SLUG, slug.as_str())?.map(Project::try_from).transpose()
            }

            async fn insert_project(&mut self, p: &Project) -> StoreResult<()> {
                exec!(
                    self,
                    "INSERT INTO projects (id, slug, name, settings, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &p.id,
                    p.slug.as_str(),
                    &p.name,
                    settings_json(p),
                    p.created_at.millis(),
                    p.updated_at.millis(),
                )?;
                Ok(())
            }

            async fn update_project(&mut self, p: &Project) -> StoreResult<()> {
                exec!(
                    self,
                    "UPDATE projects SET name = $2, settings = $3, updated_at = $4 WHERE id = $1",
                    &p.id,
                    &p.name,
                    settings_json(p),
                    p.updated_at.millis(),
                )?;
                Ok(())
            }

            async fn insert_project_key(&mut self, project_id: &str, key: &ProjectKey) -> StoreResult<()> {
                let (secret, format) = key_sealing::to_stored(self.master.as_deref(), &key.kid, key.secret_bytes());
                exec!(
                    self,
                    "INSERT INTO signing_keys (kid, project_id, secret, secret_format, created_at, retires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &key.kid,
                    project_id,
                    secret,
                    format,
                    key.created_at.millis(),
                    key.retires_at.map(|t| t.millis()),
                )?;
                Ok(())
            }

            async fn retire_project_keys(&mut self, project_id: &str, retires_at: Timestamp) -> StoreResult<()> {
                exec!(
                    self,
                    "UPDATE signing_keys SET retires_at = $2
                     WHERE project_id = $1 AND (retires_at IS NULL OR retires_at > $2)",
                    project_id,
                    retires_at.millis(),
                )?;
                Ok(())
            }
        }
    };
}

for_both_engines!(projects);
