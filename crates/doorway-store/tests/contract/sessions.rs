//! Sessions, refresh-token families, SSO sessions.

use doorway_core::events::ClientInfo;
use doorway_core::session::{RefreshToken, Session};
use doorway_core::store::SsoSession;

use crate::{Engine, insert_user, open_with_project, t, user};

on_every_engine!(
    sessions_round_trip_and_lock,
    revoking_a_session_revokes_its_token_family,
    a_refresh_token_is_used_once,
    a_second_use_of_a_token_waits_for_the_first_and_reads_it_used,
    revoking_a_user_revokes_only_their_active_sessions,
    revoking_a_user_can_spare_one_session,
    active_sessions_are_listed_newest_first,
    a_transaction_reads_its_own_queued_inserts,
    an_insert_that_fails_late_fails_the_commit_and_keeps_nothing,
    a_clashing_queued_insert_is_not_a_conflict_for_the_flow,
);

fn session(id: &str, user_id: &str, expires_at: i64) -> Session {
    Session {
        id: id.into(),
        project_id: "prj_acme".into(),
        user_id: user_id.into(),
        amr: vec!["pwd".into(), "otp".into()],
        created_at: t(100),
        expires_at: t(expires_at),
        revoked_at: None,
        client: ClientInfo { ip: Some("192.0.2.1".into()), user_agent: Some("test".into()) },
    }
}

fn token(id: &str, session_id: &str, parent: Option<&str>) -> RefreshToken {
    RefreshToken {
        id: id.into(),
        session_id: session_id.into(),
        token_hash: format!("hash-{id}"),
        parent_id: parent.map(Into::into),
        created_at: t(100),
        expires_at: t(10_000),
        used_at: None,
        revoked_at: None,
    }
}

/// `prj_acme` with user `usr_1` and its session `ses_1` (expiring at 10 000), with tokens
/// `rt_1` → `rt_2`.
async fn open_with_session(
    engine: Engine,
) -> (Option<doorway_store::test_support::FreshDatabase>, std::sync::Arc<dyn doorway_core::Store>) {
    let (db, store) = open_with_project(engine).await;
    insert_user(&*store, user("usr_1", "ada@example.com")).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_session(&session("ses_1", "usr_1", 10_000)).await.unwrap();
    tx.insert_refresh_token(&token("rt_1", "ses_1", None)).await.unwrap();
    tx.insert_refresh_token(&token("rt_2", "ses_1", Some("rt_1"))).await.unwrap();
    tx.commit().await.unwrap();
    (db, store)
}

async fn sessions_round_trip_and_lock(engine: Engine) {
    let (_db, store) = open_with_session(engine).await;
    assert_eq!(store.session("ses_1").await.unwrap(), Some(session("ses_1", "usr_1", 10_000)));
    assert_eq!(store.session("ses_unknown").await.unwrap(), None);

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.lock_session("ses_1").await.unwrap(), Some(session("ses_1", "usr_1", 10_000)));
    assert_eq!(tx.lock_session("ses_unknown").await.unwrap(), None);
    assert_eq!(tx.refresh_token_by_hash("hash-rt_2").await.unwrap(), Some(token("rt_2", "ses_1", Some("rt_1"))));
    assert_eq!(tx.refresh_token_by_hash("hash-unknown").await.unwrap(), None);
    let sso = SsoSession {
        id: "sso_1".into(),
        session_id: "ses_1".into(),
        user_id: "usr_1".into(),
        provider: "github".into(),
        subject: "sub-1".into(),
        created_at: t(100),
    };
    tx.insert_sso_session(&sso).await.unwrap();
    tx.commit().await.unwrap();
}

async fn revoking_a_session_revokes_its_token_family(engine: Engine) {
    let (_db, store) = open_with_session(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.revoke_session("ses_1", t(200)).await.unwrap();
    tx.commit().await.unwrap();
    // Revoking again keeps the first time.
    let mut tx = store.begin().await.unwrap();
    tx.revoke_session("ses_1", t(300)).await.unwrap();
    for id in ["rt_1", "rt_2"] {
        let token = tx.refresh_token_by_hash(&format!("hash-{id}")).await.unwrap().unwrap();
        assert_eq!(token.revoked_at, Some(t(200)), "{id}");
    }
    tx.commit().await.unwrap();
    let revoked = store.session("ses_1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(t(200)));
    assert!(!revoked.is_active(t(250)));
}

async fn a_refresh_token_is_used_once(engine: Engine) {
    let (_db, store) = open_with_session(engine).await;
    let mut tx = store.begin().await.unwrap();
    let found = tx.refresh_token_with_session("hash-rt_2").await.unwrap().unwrap();
    let token = found.token;
    assert_eq!(token.used_at, None);
    assert_eq!(found.session, session("ses_1", "usr_1", 10_000));
    assert_eq!(found.roles, Vec::<String>::new(), "a user without roles");
    tx.mark_refresh_token_used(&token.id, t(150)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let replayed = tx.refresh_token_with_session("hash-rt_2").await.unwrap().unwrap().token;
    assert_eq!(replayed.used_at, Some(t(150)), "a replay reads the token used");
    assert!(tx.refresh_token_with_session("hash-rt_unknown").await.unwrap().is_none());
    drop(tx);

    // The user's roles come with the token, in name order.
    let mut tx = store.begin().await.unwrap();
    tx.insert_user_roles("usr_1", &["user".into(), "admin".into()], t(160)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let found = tx.refresh_token_with_session("hash-rt_2").await.unwrap().unwrap();
    assert_eq!(found.roles, ["admin", "user"]);
}

/// The read that finds a token holds it: a second use started meanwhile waits for the first
/// transaction and then reads the token used (what decides a race between two refreshes).
async fn a_second_use_of_a_token_waits_for_the_first_and_reads_it_used(engine: Engine) {
    let (_db, store) = open_with_session(engine).await;
    let mut first = store.begin().await.unwrap();
    let token = first.refresh_token_with_session("hash-rt_2").await.unwrap().unwrap().token;
    let second = tokio::spawn({
        let store = store.clone();
        async move {
            let mut tx = store.begin().await.unwrap();
            tx.refresh_token_with_session("hash-rt_2").await.unwrap().unwrap().token.used_at
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!second.is_finished(), "the second use did not wait for the first");
    first.mark_refresh_token_used(&token.id, t(150)).await.unwrap();
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), Some(t(150)));
}

async fn revoking_a_user_revokes_only_their_active_sessions(engine: Engine) {
    let (_db, store) = open_with_session(engine).await;
    insert_user(&*store, user("usr_2", "bob@example.com")).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_session(&session("ses_2", "usr_1", 10_000)).await.unwrap();
    tx.insert_session(&session("ses_old", "usr_1", 150)).await.unwrap();
    tx.insert_session(&session("ses_bob", "usr_2", 10_000)).await.unwrap();
    tx.insert_refresh_token(&token("rt_bob", "ses_bob", None)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.revoke_user_sessions("usr_1", None, t(200)).await.unwrap(), 2, "ses_1 and ses_2; ses_old expired");
    assert_eq!(tx.refresh_token_by_hash("hash-rt_1").await.unwrap().unwrap().revoked_at, Some(t(200)));
    assert_eq!(tx.refresh_token_by_hash("hash-rt_bob").await.unwrap().unwrap().revoked_at, None);
    tx.commit().await.unwrap();
    assert_eq!(store.session("ses_2").await.unwrap().unwrap().revoked_at, Some(t(200)));
    assert_eq!(store.session("ses_old").await.unwrap().unwrap().revoked_at, None);
    assert_eq!(store.session("ses_bob").await.unwrap().unwrap().revoked_at, None);
}

async fn revoking_a_user_can_spare_one_session(engine: Engine) {
    let (_db, store) = open_with_session(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_session(&session("ses_2", "usr_1", 10_000)).await.unwrap();
    tx.insert_refresh_token(&token("rt_3", "ses_2", None)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.revoke_user_sessions("usr_1", Some("ses_1"), t(200)).await.unwrap(), 1);
    assert_eq!(tx.refresh_token_by_hash("hash-rt_1").await.unwrap().unwrap().revoked_at, None, "spared family");
    assert_eq!(tx.refresh_token_by_hash("hash-rt_3").await.unwrap().unwrap().revoked_at, Some(t(200)));
    tx.commit().await.unwrap();
    assert_eq!(store.session("ses_1").await.unwrap().unwrap().revoked_at, None);
    assert_eq!(store.session("ses_2").await.unwrap().unwrap().revoked_at, Some(t(200)));
}

async fn active_sessions_are_listed_newest_first(engine: Engine) {
    let (_db, store) = open_with_session(engine).await;
    insert_user(&*store, user("usr_2", "bob@example.com")).await;
    let mut newer = session("ses_new", "usr_1", 10_000);
    newer.created_at = t(150);
    let mut revoked = session("ses_revoked", "usr_1", 10_000);
    revoked.created_at = t(160);
    let mut tx = store.begin().await.unwrap();
    tx.insert_session(&newer).await.unwrap();
    tx.insert_session(&revoked).await.unwrap();
    tx.insert_session(&session("ses_old", "usr_1", 150)).await.unwrap();
    tx.insert_session(&session("ses_bob", "usr_2", 10_000)).await.unwrap();
    tx.revoke_session("ses_revoked", t(170)).await.unwrap();
    tx.commit().await.unwrap();

    let ids: Vec<String> = store.active_sessions("usr_1", t(200)).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["ses_new", "ses_1"], "expired, revoked and other users' sessions are not listed");
    assert_eq!(store.active_sessions("usr_1", t(10_000)).await.unwrap(), vec![], "all expired");
}

// Inserts nobody waits for are queued on PostgreSQL and sent with the next statement (see
// `crates/doorway-store/src/postgres.rs`): a transaction still sees them, a failure still
// fails the whole transaction, and a clash is not mistaken for the next statement's conflict.

async fn a_transaction_reads_its_own_queued_inserts(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert_user(&*store, user("usr_1", "ada@example.com")).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_session(&session("ses_1", "usr_1", 10_000)).await.unwrap();
    tx.insert_refresh_token(&token("rt_1", "ses_1", None)).await.unwrap();
    assert_eq!(tx.lock_session("ses_1").await.unwrap(), Some(session("ses_1", "usr_1", 10_000)));
    assert_eq!(tx.refresh_token_by_hash("hash-rt_1").await.unwrap(), Some(token("rt_1", "ses_1", None)));
    tx.commit().await.unwrap();
    assert!(store.session("ses_1").await.unwrap().is_some());
}

async fn an_insert_that_fails_late_fails_the_commit_and_keeps_nothing(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert_user(&*store, user("usr_1", "ada@example.com")).await;
    let outcome = async {
        let mut tx = store.begin().await?;
        tx.insert_session(&session("ses_1", "usr_1", 10_000)).await?;
        // No such session: the foreign key refuses it, at the insert or at the commit.
        tx.insert_refresh_token(&token("rt_1", "ses_unknown", None)).await?;
        tx.commit().await
    }
    .await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert_eq!(store.session("ses_1").await.unwrap(), None);
}

async fn a_clashing_queued_insert_is_not_a_conflict_for_the_flow(engine: Engine) {
    let (_db, store) = open_with_session(engine).await;
    let outcome = async {
        let mut tx = store.begin().await?;
        tx.insert_session(&session("ses_1", "usr_1", 10_000)).await?;
        // The next statement is a user's insert, whose own conflict a flow answers as "email taken".
        tx.insert_user(&user("usr_2", "grace@example.com")).await?;
        tx.commit().await
    }
    .await;
    assert!(matches!(outcome, Err(doorway_core::StoreError::Unexpected(_))), "{outcome:?}");
    assert_eq!(store.user_by_id("prj_acme", "usr_2").await.unwrap(), None);
}
