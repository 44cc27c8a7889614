//! Provider round trips in progress: OAuth redirect state, and pending external sign-ins/-ups.
//! Each is used up once.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;

#[async_trait]
pub trait OAuthStateStore: Send + Sync {
    /// Deletes OAuth states and pending external round trips that expired before `before`.
    async fn purge_round_trips(&self, before: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait OAuthStateTx: Send {
    async fn insert_oauth_state(&mut self, state: &OAuthState) -> StoreResult<()>;
    /// Uses up the state with this hash, if it exists, is unused and not expired.
    async fn take_oauth_state(
        &mut self,
        project_id: &str,
        state_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<OAuthState>>;
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
