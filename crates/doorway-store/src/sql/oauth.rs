//! OAuth redirect state and pending external round trips: each taken once, and only before it
//! expires.

use async_trait::async_trait;
use doorway_core::Timestamp;
use doorway_core::store::{OAuthState, OAuthStateStore, OAuthStateTx, PendingExternal, StoreResult};

use super::{PgStore, PgTx, SqliteStore, SqliteTx};
use crate::rows::{OAuthStateRow, PendingExternalRow, json_text};

macro_rules! oauth {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl OAuthStateStore for $store {
            async fn purge_round_trips(&self, before: Timestamp) -> StoreResult<u64> {
                let states = exec!(self, "DELETE FROM oauth_states WHERE expires_at < $1", before.millis())?;
                let pending = exec!(self, "DELETE FROM pending_externals WHERE expires_at < $1", before.millis())?;
                Ok(states + pending)
            }
        }

        #[async_trait]
        impl OAuthStateTx for $tx {
            async fn insert_oauth_state(&mut self, s: &OAuthState) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO oauth_states (id, project_id, state_hash, provider, nonce, pkce_verifier, redirect_uri,
                         callback_url, purpose, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &s.id,
                    &s.project_id,
                    &s.state_hash,
                    &s.provider,
                    &s.nonce,
                    &s.pkce_verifier,
                    &s.redirect_uri,
                    &s.callback_url,
                    &s.purpose,
                    s.created_at.millis(),
                    s.expires_at.millis(),
                )?;
                Ok(())
            }

            async fn take_oauth_state(
                &mut self,
                project_id: &str,
                state_hash: &str,
                now: Timestamp,
            ) -> StoreResult<Option<OAuthState>> {
                Ok(fetch_optional!(
                    OAuthStateRow,
                    self,
                    "UPDATE oauth_states SET consumed_at = $3
                     WHERE project_id = $1 AND state_hash = $2 AND consumed_at IS NULL AND expires_at > $3
                     RETURNING id, project_id, state_hash, provider, nonce, pkce_verifier, redirect_uri,
                               callback_url, purpose, created_at, expires_at",
                    project_id,
                    state_hash,
                    now.millis(),
                )?
                .map(Into::into))
            }

            async fn insert_pending_external(&mut self, p: &PendingExternal) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO pending_externals (id, project_id, kind, profile, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &p.id,
                    &p.project_id,
                    &p.kind,
                    json_text(&p.profile),
                    p.created_at.millis(),
                    p.expires_at.millis(),
                )?;
                Ok(())
            }

            async fn take_pending_external(
                &mut self,
                project_id: &str,
                id: &str,
                kind: &str,
                now: Timestamp,
            ) -> StoreResult<Option<PendingExternal>> {
                fetch_optional!(
                    PendingExternalRow,
                    self,
                    "UPDATE pending_externals SET consumed_at = $4
                     WHERE project_id = $1 AND id = $2 AND kind = $3 AND consumed_at IS NULL AND expires_at > $4
                     RETURNING id, project_id, kind, profile, created_at, expires_at",
                    project_id,
                    id,
                    kind,
                    now.millis(),
                )?
                .map(PendingExternal::try_from)
                .transpose()
            }
        }
    };
}

for_both_engines!(oauth);
