//! Codes and links sent by mail.

use async_trait::async_trait;
use doorway_core::Timestamp;
use doorway_core::email::EmailAddress;
use doorway_core::mail::CodePurpose;
use doorway_core::store::{StoreResult, VerificationStore, VerificationTx};
use doorway_core::verification::Verification;

use super::{PgStore, PgTx, SqliteStore, SqliteTx};
use crate::rows::VerificationRow;

macro_rules! verification {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl VerificationStore for $store {
            async fn purge_verifications(&self, before: Timestamp) -> StoreResult<u64> {
                exec!(self, "DELETE FROM verifications WHERE expires_at < $1", before.millis())
            }
        }

        #[async_trait]
        impl VerificationTx for $tx {
            async fn insert_verification(&mut self, v: &Verification) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO verifications (id, project_id, user_id, email, purpose, kid, code_hash, link_hash,
                         attempts, created_at, expires_at, consumed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    &v.id,
                    &v.project_id,
                    &v.user_id,
                    v.email.as_str(),
                    v.purpose.as_str(),
                    &v.kid,
                    &v.code_hash,
                    &v.link_hash,
                    v.attempts,
                    v.created_at.millis(),
                    v.expires_at.millis(),
                    v.consumed_at.map(|t| t.millis()),
                )?;
                Ok(())
            }

            async fn latest_verification(
                &mut self,
                project_id: &str,
                email: &EmailAddress,
                purpose: CodePurpose,
            ) -> StoreResult<Option<Verification>> {
                fetch_optional!(
                    VerificationRow,
                    self,
                    "SELECT * FROM verifications
                     WHERE project_id = $1 AND email = $2 AND purpose = $3 AND consumed_at IS NULL
                     ORDER BY created_at DESC, id DESC LIMIT 1",
                    project_id,
                    email.as_str(),
                    purpose.as_str(),
                )?
                .map(Verification::try_from)
                .transpose()
            }

            async fn verification_by_link_hash(
                &mut self,
                project_id: &str,
                link_hash: &str,
            ) -> StoreResult<Option<Verification>> {
                fetch_optional!(
                    VerificationRow,
                    self,
                    "SELECT * FROM verifications WHERE project_id = $1 AND link_hash = $2",
                    project_id,
                    link_hash,
                )?
                .map(Verification::try_from)
                .transpose()
            }

            async fn count_verification_attempt(&mut self, id: &str) -> StoreResult<i64> {
                Ok(fetch_one!(
                    (i64,),
                    self,
                    "UPDATE verifications SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
                    id
                )?
                .0)
            }

            async fn consume_verification(&mut self, id: &str, now: Timestamp) -> StoreResult<bool> {
                let done = exec!(
                    self,
                    "UPDATE verifications SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL",
                    id,
                    now.millis(),
                )?;
                Ok(done == 1)
            }
        }
    };
}

for_both_engines!(verification);
