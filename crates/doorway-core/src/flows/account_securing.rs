//! What a first proof of mailbox control does to credentials nobody had proved.
//!
//! Anyone may sign up with someone else's address (a password, or a provider that did not
//! verify it) and keep a session. When the address is first proved by mail, everything set up
//! before that proof belongs to someone who never showed they own the mailbox, unless the proof
//! happens inside their own session: then the person who set it up is the one who read the mail.
//! Otherwise passwords, passkeys and unverified provider identities are dropped and every session is
//! revoked; the owner signs in by email code from then on. This is the mitigation of
//! Sudhodanan & Paverd, "Pre-hijacked accounts" (2022).

use serde_json::json;

use crate::clock::Timestamp;
use crate::events::ClientInfo;
use crate::flows::{Audit, emit, user_event};
use crate::project::ProjectContext;
use crate::session::{Session, verify_access_token};
use crate::store::{Store, StoreError, StoreTx};
use crate::user::User;

/// Who brought the proof: the request's client and the session it carried, if any.
pub(crate) struct Presenter<'a> {
    pub client: &'a ClientInfo,
    session: Option<Session>,
}

impl<'a> Presenter<'a> {
    /// A request that carried no session (or one that does not count, like a sign-in by code).
    pub(crate) fn without_session(client: &'a ClientInfo) -> Self {
        Self { client, session: None }
    }

    /// Resolves the access token the request carried (Bearer or cookie) to its active session.
    pub(crate) async fn with_access_token(
        store: &dyn Store,
        ctx: &ProjectContext,
        access_token: Option<&str>,
        client: &'a ClientInfo,
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        let Some(claims) = access_token.and_then(|t| verify_access_token(ctx, t, now)) else {
            return Ok(Self::without_session(client));
        };
        let session = store.session(&claims.sid).await?.filter(|s| s.project_id == ctx.project.id && s.is_active(now));
        Ok(Self { client, session })
    }

    /// Whether the proof came from inside an active session of this user. On an account whose
    /// address was never proved, every session was opened with a credential set up before the
    /// proof (the password, an unverified provider identity, or the sign-up itself), so its
    /// bearer is the person who set that credential up.
    fn is_holder_of(&self, user: &User) -> bool {
        self.session.as_ref().is_some_and(|s| s.user_id == user.id)
    }
}

/// Called in the transaction that first marks `user`'s address verified.
pub(crate) async fn on_first_proof(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    user: &User,
    presenter: &Presenter<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    if presenter.is_holder_of(user) {
        return Ok(());
    }
    let password = tx.delete_password(&user.id).await?;
    let identities = tx.delete_unverified_identities(&user.id).await?;
    // A passkey registered before the proof is a credential like the password.
    let passkeys = tx.delete_user_passkeys(&user.id).await?;
    let sessions = tx.revoke_user_sessions(&user.id, None, now).await?;
    if !password && identities == 0 && passkeys == 0 && sessions == 0 {
        return Ok(());
    }
    let dropped = json!({
        "password": password,
        "unverifiedIdentities": identities,
        "passkeys": passkeys,
        "sessionsRevoked": sessions,
    });
    let audit = Audit { ctx, action: "account.secured", method: None, client: presenter.client };
    let mut entry = audit.entry("ok", Some(&user.id), now);
    entry.detail = json!({ "reason": "address proved outside the credential holder's session", "dropped": dropped });
    tx.insert_audit(&entry).await?;
    emit(tx, ctx, "user.secured", json!({ "user": user_event(user), "dropped": dropped }), now).await
}
