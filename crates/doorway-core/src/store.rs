//! The storage port. Flows see only these traits; SQLite and PostgreSQL implement them.
//!
//! Writes happen inside a [`StoreTx`], so a flow either commits everything it did or nothing.

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::events::{AuditEntry, OutboxMessage};
use crate::keys::ProjectKey;
use crate::mail::CodePurpose;
use crate::organization::{Organization, Workspace};
use crate::project::{Project, ProjectSlug};
use crate::rate_limit::Gcra;
use crate::session::{RefreshToken, Session};
use crate::user::User;
use crate::verification::Verification;
use crate::webhooks::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus};

/// Which audit rows to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only rows older than this id (ids sort by time): the next page.
    pub before_id: Option<String>,
    pub limit: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; `key` says what clashed.
    #[error("unique constraint on {key} violated")]
    Conflict { key: UniqueKey },
    #[error("storage failure: {0}")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unexpected(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unexpected(Box::new(e))
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
            Self::Other(name) => f.write_str(name),
        }
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
    /// Every stored key of the project, newest first: the signing key, then replaced keys by
    /// their retirement, latest first (retired ones too, until purged).
    async fn project_keys(&self, project_id: &str) -> StoreResult<Vec<ProjectKey>>;
    /// Deletes keys retired at or before `now`: nothing they signed or sealed is still valid.
    async fn purge_retired_keys(&self, now: Timestamp) -> StoreResult<u64>;

    async fn user_by_id(&self, project_id: &str, user_id: &str) -> StoreResult<Option<User>>;
    /// The user and their password hash (if they have a password).
    async fn user_with_password(
        &self,
        project_id: &str,
        email: &EmailAddress,
    ) -> StoreResult<Option<(User, Option<String>)>>;
    async fn session(&self, session_id: &str) -> StoreResult<Option<Session>>;
    /// Organizations the user belongs to, with the user's role, oldest first.
    async fn memberships(&self, user_id: &str) -> StoreResult<Vec<(Organization, String)>>;
    /// Outbox messages of a project, oldest first (for inspection; workers claim separately).
    async fn outbox(&self, project_id: &str) -> StoreResult<Vec<OutboxMessage>>;
    async fn audit(&self, project_id: &str) -> StoreResult<Vec<AuditEntry>>;
    /// One GCRA hit against `key` at `now`, atomic across instances: moves the key's TAT on
    /// when the hit is allowed. Returns whether it was, and the TAT (new if allowed, else
    /// unchanged).
    async fn rate_limit_hit(&self, key: &str, now: Timestamp, gcra: Gcra) -> StoreResult<(bool, i64)>;
    /// Drops keys whose TAT is before `before` (their budget is full: as good as absent).
    async fn purge_rate_limits(&self, before: i64) -> StoreResult<u64>;

    async fn project_by_id(&self, project_id: &str) -> StoreResult<Option<Project>>;
    async fn audit_page(&self, project_id: &str, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;

    /// Takes up to `limit` due deliveries of `kind` for this worker until `lease_until`
    /// (counting the attempt); rows another worker holds are skipped, expired leases reclaimed.
    async fn claim_deliveries(
        &self,
        kind: DeliveryKind,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    /// Logs the attempt and moves the delivery on, in one transaction.
    async fn finish_attempt(
        &self,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
        error: Option<&str>,
    ) -> StoreResult<()>;
    async fn deliveries(
        &self,
        project_id: &str,
        kind: DeliveryKind,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    async fn delivery_attempts(&self, delivery_id: &str) -> StoreResult<Vec<DeliveryAttempt>>;
    /// Makes a delivery due again now, whatever its status; false if there is no such delivery.
    /// The user an external identity belongs to.
    async fn identity_user(&self, project_id: &str, provider: &str, subject: &str) -> StoreResult<Option<User>>;
    async fn workspaces(&self, organization_id: &str) -> StoreResult<Vec<Workspace>>;

    async fn replay_delivery(&self, project_id: &str, delivery_id: &str, now: Timestamp) -> StoreResult<bool>;

    /// The user's organizations (oldest membership first), each with the user's role and its
    /// workspaces (oldest first), in one query.
    async fn memberships_with_workspaces(&self, user_id: &str) -> StoreResult<Vec<crate::organization::Membership>>;
}

#[async_trait]
pub trait StoreTx: Send {
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    async fn project_by_slug(&mut self, slug: &ProjectSlug) -> StoreResult<Option<Project>>;
    async fn insert_project(&mut self, project: &Project) -> StoreResult<()>;
    async fn update_project(&mut self, project: &Project) -> StoreResult<()>;
    async fn insert_project_key(&mut self, project_id: &str, key: &ProjectKey) -> StoreResult<()>;
    /// Sets every key of the project that would retire later (or never) to retire at `retires_at`.
    async fn retire_project_keys(&mut self, project_id: &str, retires_at: Timestamp) -> StoreResult<()>;

    /// Stores a new user and returns its integer `seq`. A taken email or username is a
    /// `Conflict` on `UniqueKey::Email` / `UniqueKey::Username`.
    async fn insert_user(&mut self, user: &User) -> StoreResult<i64>;
    async fn insert_password(&mut self, user_id: &str, phc: &str, now: Timestamp) -> StoreResult<()>;
    /// Drops the user's password; says whether there was one.
    async fn delete_password(&mut self, user_id: &str) -> StoreResult<bool>;
    /// The user's password hash, held until commit so it cannot be dropped or changed meanwhile.
    async fn lock_password(&mut self, user_id: &str) -> StoreResult<Option<String>>;
    /// Inserts unless the slug is taken in the project; says whether it inserted.
    async fn insert_organization_if_slug_free(&mut self, org: &Organization) -> StoreResult<bool>;
    async fn insert_membership(
        &mut self,
        organization_id: &str,
        user_id: &str,
        role: &str,
        now: Timestamp,
    ) -> StoreResult<()>;

    async fn insert_session(&mut self, session: &Session) -> StoreResult<()>;
    /// Reads the session and holds it until commit, so that everything done to one session
    /// (refresh, reuse, sign-out) happens one transaction at a time, in one lock order.
    async fn lock_session(&mut self, session_id: &str) -> StoreResult<Option<Session>>;
    /// Revokes the session and every refresh token of its family.
    async fn revoke_session(&mut self, session_id: &str, now: Timestamp) -> StoreResult<()>;
    /// Revokes every active session of the user and their refresh tokens; returns how many sessions.
    async fn revoke_user_sessions(&mut self, user_id: &str, now: Timestamp) -> StoreResult<u64>;
    async fn insert_refresh_token(&mut self, token: &RefreshToken) -> StoreResult<()>;
    async fn refresh_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// Marks an unused token used; false when it was already used (a replay).
    async fn mark_refresh_token_used(&mut self, token_id: &str, now: Timestamp) -> StoreResult<bool>;

    async fn insert_outbox(&mut self, message: &OutboxMessage) -> StoreResult<()>;
    async fn insert_delivery(&mut self, delivery: &Delivery) -> StoreResult<()>;
    async fn insert_audit(&mut self, entry: &AuditEntry) -> StoreResult<()>;

    async fn user_by_id(&mut self, project_id: &str, user_id: &str) -> StoreResult<Option<User>>;
    async fn mark_email_verified(&mut self, user_id: &str, now: Timestamp) -> StoreResult<()>;
    async fn insert_verification(&mut self, v: &Verification) -> StoreResult<()>;
    /// The newest unconsumed verification for the address and purpose.
    async fn latest_verification(
        &mut self,
        project_id: &str,
        email: &EmailAddress,
        purpose: CodePurpose,
    ) -> StoreResult<Option<Verification>>;
    async fn verification_by_link_hash(
        &mut self,
        project_id: &str,
        link_hash: &str,
    ) -> StoreResult<Option<Verification>>;
    /// Counts a wrong code; returns the attempts so far.
    async fn count_verification_attempt(&mut self, id: &str) -> StoreResult<i64>;
    /// Marks the verification used; false if it already was (a race or a replay).
    async fn consume_verification(&mut self, id: &str, now: Timestamp) -> StoreResult<bool>;

    async fn insert_identity(&mut self, identity: &Identity) -> StoreResult<()>;
    /// Unlinks the user's identities whose provider did not verify the address; returns how many.
    async fn delete_unverified_identities(&mut self, user_id: &str) -> StoreResult<u64>;
    async fn insert_oauth_state(&mut self, state: &OAuthState) -> StoreResult<()>;
    /// Uses up the state with this hash, if it exists, is unused and not expired.
    async fn take_oauth_state(
        &mut self,
        project_id: &str,
        state_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OAuthState>>;
    async fn insert_sso_session(&mut self, sso: &SsoSession) -> StoreResult<()>;
    async fn insert_workspace(&mut self, workspace: &Workspace) -> StoreResult<()>;
    async fn insert_role(&mut self, organization_id: &str, name: &str, now: Timestamp) -> StoreResult<()>;
    async fn insert_terms_acceptance(&mut self, user_id: &str, version: &str, now: Timestamp) -> StoreResult<()>;
    async fn insert_pending_external(&mut self, pending: &PendingExternal) -> StoreResult<()>;
    /// Uses up an unexpired pending round trip of this kind.
    async fn take_pending_external(
        &mut self,
        project_id: &str,
        id: &str,
        kind: &str,
        now: Timestamp,
    ) -> StoreResult<Option<PendingExternal>>;
}

/// A provider round trip waiting for the browser's next step (Aufy): `signin` or `signup`.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingExternal {
    pub id: String,
    pub project_id: String,
    pub kind: String,
    /// The provider's profile, as JSON.
    pub profile: serde_json::Value,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// An account at an external provider, linked to a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub created_at: Timestamp,
}

/// A redirect round trip in progress; the state itself is only stored hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthState {
    pub id: String,
    pub project_id: String,
    pub state_hash: String,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    pub callback_url: String,
    /// Which flow started it (`native`, `aufy`).
    pub purpose: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The provider session a Doorway session came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SsoSession {
    pub id: String,
    pub session_id: String,
    pub user_id: String,
    pub provider: String,
    pub subject: String,
    pub created_at: Timestamp,
}
