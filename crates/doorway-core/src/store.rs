//! The storage port. Flows see only these traits; SQLite and PostgreSQL implement them.
//!
//! Writes happen inside a [`StoreTx`], so a flow either commits everything it did or nothing.

use async_trait::async_trait;

use crate::keys::ProjectKey;
use crate::project::{Project, ProjectSlug};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; `constraint` names what clashed (e.g. `projects_slug`).
    #[error("unique constraint {constraint} violated")]
    Conflict { constraint: String },
    #[error("storage failure: {0}")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unexpected(Box::new(e))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for logs and readiness output.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>>;

    async fn project_by_slug(&self, slug: &ProjectSlug) -> StoreResult<Option<Project>>;
    async fn list_projects(&self) -> StoreResult<Vec<Project>>;
    /// Every key of the project that is still published, newest first.
    async fn project_keys(&self, project_id: &str) -> StoreResult<Vec<ProjectKey>>;
}

#[async_trait]
pub trait StoreTx: Send {
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    async fn project_by_slug(&mut self, slug: &ProjectSlug) -> StoreResult<Option<Project>>;
    async fn insert_project(&mut self, project: &Project) -> StoreResult<()>;
    async fn update_project(&mut self, project: &Project) -> StoreResult<()>;
    async fn insert_project_key(&mut self, project_id: &str, key: &ProjectKey) -> StoreResult<()>;
}
