//! Projects and their signing keys.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;
use crate::keys::ProjectKey;
use crate::project::{Project, ProjectSlug};

#[async_trait]
pub trait ProjectStore: Send + Sync {
    async fn project_by_slug(&self, slug: &ProjectSlug) -> StoreResult<Option<Project>>;
    async fn project_by_id(&self, project_id: &str) -> StoreResult<Option<Project>>;
    async fn list_projects(&self) -> StoreResult<Vec<Project>>;
    /// Every stored key of the project, newest first: the signing key, then replaced keys by
    /// their retirement, latest first (retired ones too, until purged).
    async fn project_keys(&self, project_id: &str) -> StoreResult<Vec<ProjectKey>>;
    /// Deletes keys retired at or before `now`: nothing they signed or sealed is still valid.
    async fn purge_retired_keys(&self, now: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait ProjectTx: Send {
    async fn project_by_slug(&mut self, slug: &ProjectSlug) -> StoreResult<Option<Project>>;
    async fn insert_project(&mut self, project: &Project) -> StoreResult<()>;
    async fn update_project(&mut self, project: &Project) -> StoreResult<()>;
    async fn insert_project_key(&mut self, project_id: &str, key: &ProjectKey) -> StoreResult<()>;
    /// Sets every key of the project that would retire later (or never) to retire at `retires_at`.
    async fn retire_project_keys(&mut self, project_id: &str, retires_at: Timestamp) -> StoreResult<()>;
}
