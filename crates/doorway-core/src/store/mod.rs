//! The storage port. Flows see only these traits; SQLite and PostgreSQL implement them.
//!
//! Writes happen inside a [`StoreTx`], so a flow either commits everything it did or nothing.
//!
//! The port is split by aggregate, one file each: [`accounts`], [`sessions`], [`verification`],
//! [`oauth`] (state and pending external round trips), [`outbox`] (outbox and deliveries),
//! [`rate_limits`], [`audit`] and [`projects`] (projects and their keys). Each aggregate has a
//! trait for reads outside a transaction (`…Store`) and one for work inside it (`…Tx`);
//! [`Store`] and [`StoreTx`] are their sum. Methods of a supertrait are callable on
//! `dyn Store` / `dyn StoreTx` without importing it.

use async_trait::async_trait;

pub mod accounts;
pub mod audit;
pub mod oauth;
pub mod outbox;
pub mod projects;
pub mod rate_limits;
pub mod sessions;
pub mod verification;

pub use accounts::{AccountStore, AccountTx, Identity};
pub use audit::{AuditFilter, AuditStore, AuditTx};
pub use oauth::{OAuthState, OAuthStateTx, PendingExternal};
pub use outbox::{OutboxStore, OutboxTx};
pub use projects::{ProjectStore, ProjectTx};
pub use rate_limits::RateLimitStore;
pub use sessions::{SessionStore, SessionTx, SsoSession};
pub use verification::VerificationTx;

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

/// The whole store, outside a transaction: every aggregate's reads, plus the connection itself.
#[async_trait]
pub trait Store:
    ProjectStore + AccountStore + SessionStore + OutboxStore + RateLimitStore + AuditStore + Send + Sync + 'static
{
    /// `sqlite` or `postgres`, for logs and readiness output.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>>;
}

/// One transaction over every aggregate: committed whole, or dropped (and rolled back) whole.
#[async_trait]
pub trait StoreTx:
    ProjectTx + AccountTx + SessionTx + VerificationTx + OAuthStateTx + OutboxTx + AuditTx + Send
{
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
