//! WebAuthn passkeys (per user; a credential id is unique per project) and the ceremonies in
//! progress (taken once, never after they expire).

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;

#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// The user's passkeys, oldest first.
    async fn passkeys_of_user(&self, user_id: &str) -> StoreResult<Vec<StoredPasskey>>;
    /// The passkey with this credential id (base64url) in the project.
    async fn passkey_by_credential(&self, project_id: &str, credential_id: &str) -> StoreResult<Option<StoredPasskey>>;
    /// Deletes ceremonies that expired before `before`.
    async fn purge_passkey_ceremonies(&self, before: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait PasskeyTx: Send {
    /// Refused with `UniqueKey::PasskeyCredential` when the project has this credential id.
    async fn insert_passkey(&mut self, passkey: &StoredPasskey) -> StoreResult<()>;
    /// Records a use: the credential as webauthn-rs updated it, its counter, and when.
    async fn record_passkey_use(
        &mut self,
        id: &str,
        passkey: &serde_json::Value,
        counter: u32,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes the user's passkey `id`; false when the user has no such passkey.
    async fn delete_passkey(&mut self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Deletes every passkey of the user; returns how many.
    async fn delete_user_passkeys(&mut self, user_id: &str) -> StoreResult<u64>;
    async fn insert_passkey_ceremony(&mut self, ceremony: &PasskeyCeremony) -> StoreResult<()>;
    /// Uses up the unexpired ceremony of this kind whose binding hash this is.
    async fn take_passkey_ceremony(
        &mut self,
        project_id: &str,
        binding_hash: &str,
        kind: &str,
        now: Timestamp,
    ) -> StoreResult<Option<PasskeyCeremony>>;
}

/// A registered passkey.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPasskey {
    /// `pk_…`: how the user names it in the API.
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    /// The WebAuthn credential id, base64url without padding.
    pub credential_id: String,
    /// The WebAuthn user handle (a UUID) the authenticator stored with the credential.
    pub user_handle: String,
    /// The user's label for it.
    pub name: String,
    /// webauthn-rs's credential (public key, counter, flags), as JSON.
    pub passkey: serde_json::Value,
    pub counter: u32,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// A registration or authentication started by one browser and not yet finished.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyCeremony {
    pub id: String,
    pub project_id: String,
    /// `signup`, `signin` or `add`.
    pub kind: String,
    /// SHA-256 (hex) of the secret held in the starting browser's cookie.
    pub binding_hash: String,
    /// The signed-in user adding a passkey.
    pub user_id: Option<String>,
    /// webauthn-rs's ceremony state and what the flow needs to finish, as JSON.
    pub state: serde_json::Value,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}
