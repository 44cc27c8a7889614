//! The storage port. Flows see only these traits; SQLite and PostgreSQL implement them.
//!
//! Writes happen inside a [`StoreTx`], so a flow either commits everything it did or nothing.
//!
//! The port is split by aggregate, one file each: [`accounts`], [`sessions`], [`verification`],
//! [`oauth`] (state and pending external round trips), [`outbox`] (outbox and deliveries),
//! [`rate_limits`], [`bot_checks`] (spent proof-of-work solutions), [`audit`], [`passkeys`] and
//! [`projects`] (projects and their keys). Each aggregate has a trait for reads outside a
//! transaction (`…Store`) and one for work inside it (`…Tx`); [`Store`] and [`StoreTx`] are their
//! sum. Methods of a supertrait are callable on
//! `dyn Store` / `dyn StoreTx` without importing it.

use async_trait::async_trait;

pub mod accounts;
pub mod audit;
pub mod bot_checks;
pub mod oauth;
pub mod outbox;
pub mod passkeys;
pub mod projects;
pub mod rate_limits;
pub mod sessions;
pub mod verification;

pub use accounts::{AccountStore, AccountTx, Identity};
pub use audit::{AuditFilter, AuditStore, AuditTx};
pub use bot_checks::BotCheckStore;
pub use oauth::{OAuthState, OAuthStateStore, OAuthStateTx, PendingExternal};
pub use outbox::{OutboxStore, OutboxTx};
pub use passkeys::{PasskeyCeremony, PasskeyStore, PasskeyTx, StoredPasskey};
pub use projects::{ProjectStore, ProjectTx};
pub use rate_limits::RateLimitStore;
pub use sessions::{SessionStore, SessionTx, SsoSession, TokenWithSession};
pub use verification::{VerificationStore, VerificationTx};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; `key` says what clashed.
    #[error("unique constraint on {key} violated")]
    Conflict { key: UniqueKey },
    /// The database cannot serve the request now (unreachable, timed out, out of space):
    /// not a bug, and the same request may succeed later. Contracts answer 503 + Retry-After.
    #[error("storage unavailable ({outage}): {source}")]
    Unavailable {
        outage: Outage,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("storage failure: {0}")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unexpected(Box::new(e))
    }

    pub fn unavailable(outage: Outage, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable { outage, source: Box::new(e) }
    }

    /// Which outage this is, when the storage is unavailable rather than broken.
    pub fn outage(&self) -> Option<Outage> {
        match self {
            Self::Unavailable { outage, .. } => Some(*outage),
            _ => None,
        }
    }
}

/// Why the storage cannot serve a request right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Down, unreachable, out of connections, or an I/O error on its files.
    Unreachable,
    /// The disk (or the database's quota) is full: reads may work, writes do not.
    Full,
}

impl Outage {
    /// What a client reads, in every contract.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unreachable => "The database is unavailable right now; please retry shortly",
            Self::Full => "The server's storage is full; please retry later",
        }
    }

    /// The `Retry-After` of the answer: an unreachable database usually comes back within
    /// seconds (restart, failover); a full disk needs an operator.
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Self::Unreachable => 5,
            Self::Full => 30,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Full => "full",
        }
    }
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a refused write clashed with, the same on every engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniqueKey {
    /// A user's address, per project.
    Email,
    /// A user's username, per project.
    Username,
    ProjectSlug,
    /// An organization's slug, per project.
    OrganizationSlug,
    /// An external identity (provider and subject), per project.
    Identity,
    /// A passkey's credential id, per project.
    PasskeyCredential,
    /// Any other unique constraint, by its name.
    Other(String),
}

impl std::fmt::Display for UniqueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Email => f.write_str("email"),
            Self::Username => f.write_str("username"),
            Self::ProjectSlug => f.write_str("project slug"),
            Self::OrganizationSlug => f.write_str("organization slug"),
            Self::Identity => f.write_str("identity"),
            Self::PasskeyCredential => f.write_str("passkey credential"),
            Self::Other(name) => f.write_str(name),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The whole store, outside a transaction: every aggregate's reads, plus the connection itself.
#[async_trait]
pub trait Store:
    ProjectStore
    + AccountStore
    + SessionStore
    + VerificationStore
    + OAuthStateStore
    + OutboxStore
    + RateLimitStore
    + BotCheckStore
    + AuditStore
    + PasskeyStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`, for logs and readiness output.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>>;
    /// How many transactions revoking sessions this process has committed: a session check
    /// cached before the count moved may be stale (see [`crate::session_cache`]).
    fn session_revocations(&self) -> u64;
}

/// One transaction over every aggregate: committed whole, or dropped (and rolled back) whole.
#[async_trait]
pub trait StoreTx:
    ProjectTx + AccountTx + SessionTx + VerificationTx + OAuthStateTx + OutboxTx + AuditTx + PasskeyTx + Send
{
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
