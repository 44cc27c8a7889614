//! Codes and links sent by mail, until used up.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::mail::CodePurpose;
use crate::verification::Verification;

#[async_trait]
pub trait VerificationStore: Send + Sync {
    /// Deletes verifications that expired before `before` (used, guessed out or not, none of
    /// them can verify anything any more); returns how many.
    async fn purge_verifications(&self, before: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait VerificationTx: Send {
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
}
