//! Passkeys and passkey ceremonies: a ceremony is taken once (deleted as it is read), and only
//! before it expires.

use async_trait::async_trait;
use doorway_core::Timestamp;
use doorway_core::store::{PasskeyCeremony, PasskeyStore, PasskeyTx, StoreResult, StoredPasskey};

use super::{PgStore, PgTx, SqliteStore, SqliteTx};
use crate::rows::{PasskeyCeremonyRow, PasskeyRow, json_text};

macro_rules! passkeys {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl PasskeyStore for $store {
            async fn passkeys_of_user(&self, user_id: &str) -> StoreResult<Vec<StoredPasskey>> {
                read_all!(
                    self,
                    PasskeyRow,
                    "SELECT id, project_id, user_id, credential_id, user_handle, name, passkey, counter, created_at, last_used_at
                     FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
                    user_id,
                )?
                .into_iter()
                .map(StoredPasskey::try_from)
                .collect()
            }

            async fn passkey_by_credential(
                &self,
                project_id: &str,
                credential_id: &str,
            ) -> StoreResult<Option<StoredPasskey>> {
                read_optional!(
                    self,
                    PasskeyRow,
                    "SELECT id, project_id, user_id, credential_id, user_handle, name, passkey, counter, created_at, last_used_at
                     FROM passkeys WHERE project_id = $1 AND credential_id = $2",
                    project_id,
                    credential_id,
                )?
                .map(StoredPasskey::try_from)
                .transpose()
            }

            async fn purge_passkey_ceremonies(&self, before: Timestamp) -> StoreResult<u64> {
                let done = exec!(self, "DELETE FROM passkey_ceremonies WHERE expires_at < $1", before.millis())?;
                Ok(done)
            }
        }

        #[async_trait]
        impl PasskeyTx for $tx {
            async fn insert_passkey(&mut self, p: &StoredPasskey) -> StoreResult<()> {
                exec!(
                    self,
                    "INSERT INTO passkeys (id, project_id, user_id, credential_id, user_handle, name, passkey, counter,
                         created_at, last_used_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &p.id,
                    &p.project_id,
                    &p.user_id,
                    &p.credential_id,
                    &p.user_handle,
                    &p.name,
                    json_text(&p.passkey),
                    i64::from(p.counter),
                    p.created_at.millis(),
                    p.last_used_at.map(Timestamp::millis),
                )?;
                Ok(())
            }

            async fn record_passkey_use(
                &mut self,
                id: &str,
                passkey: &serde_json::Value,
                counter: u32,
                now: Timestamp,
            ) -> StoreResult<()> {
                exec!(
                    self,
                    "UPDATE passkeys SET passkey = $2, counter = $3, last_used_at = $4 WHERE id = $1",
                    id,
                    json_text(passkey),
                    i64::from(counter),
                    now.millis(),
                )?;
                Ok(())
            }

            async fn delete_passkey(&mut self, user_id: &str, id: &str) -> StoreResult<bool> {
                let done = exec!(self, "DELETE FROM passkeys WHERE user_id = $1 AND id = $2", user_id, id)?;
                Ok(done > 0)
            }

            async fn delete_user_passkeys(&mut self, user_id: &str) -> StoreResult<u64> {
                let done = exec!(self, "DELETE FROM passkeys WHERE user_id = $1", user_id)?;
                Ok(done)
            }

            async fn insert_passkey_ceremony(&mut self, c: &PasskeyCeremony) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO passkey_ceremonies (id, project_id, kind, binding_hash, user_id, state, created_at,
                         expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &c.id,
                    &c.project_id,
                    &c.kind,
                    &c.binding_hash,
                    c.user_id.as_deref(),
                    json_text(&c.state),
                    c.created_at.millis(),
                    c.expires_at.millis(),
                )?;
                Ok(())
            }

            async fn take_passkey_ceremony(
                &mut self,
                project_id: &str,
                binding_hash: &str,
                kind: &str,
                now: Timestamp,
            ) -> StoreResult<Option<PasskeyCeremony>> {
                // Deleted whatever its kind or age: a binding is presented once.
                let taken = fetch_optional!(
                    PasskeyCeremonyRow,
                    self,
                    "DELETE FROM passkey_ceremonies WHERE project_id = $1 AND binding_hash = $2
                     RETURNING id, project_id, kind, binding_hash, user_id, state, created_at, expires_at",
                    project_id,
                    binding_hash,
                )?;
                match taken {
                    Some(row) if row.kind == kind && row.expires_at > now.millis() => {
                        PasskeyCeremony::try_from(row).map(Some)
                    }
                    _ => Ok(None),
                }
            }
        }
    };
}

for_both_engines!(passkeys);
