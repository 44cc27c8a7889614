//! Codes and links sent by mail.

use doorway_core::email::EmailAddress;
use doorway_core::mail::CodePurpose;
use doorway_core::verification::Verification;

use crate::{Engine, open_with_project, t};

on_every_engine!(latest_unconsumed_wins_and_is_consumed_once, wrong_codes_are_counted, expired_codes_are_purged);

fn verification(id: &str, purpose: CodePurpose, at: i64) -> Verification {
    Verification {
        id: id.into(),
        project_id: "prj_acme".into(),
        user_id: None,
        email: EmailAddress::parse("ada@example.com").unwrap(),
        purpose,
        kid: "kid_1".into(),
        code_hash: format!("code-{id}"),
        link_hash: format!("link-{id}"),
        attempts: 0,
        created_at: t(at),
        expires_at: t(at + 900_000),
        consumed_at: None,
    }
}

async fn latest_unconsumed_wins_and_is_consumed_once(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let email = EmailAddress::parse("ada@example.com").unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.latest_verification("prj_acme", &email, CodePurpose::VerifyEmail).await.unwrap(), None);
    tx.insert_verification(&verification("ver_1", CodePurpose::VerifyEmail, 100)).await.unwrap();
    tx.insert_verification(&verification("ver_2", CodePurpose::VerifyEmail, 200)).await.unwrap();
    tx.insert_verification(&verification("ver_3", CodePurpose::SignIn, 300)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let latest = tx.latest_verification("prj_acme", &email, CodePurpose::VerifyEmail).await.unwrap();
    assert_eq!(latest, Some(verification("ver_2", CodePurpose::VerifyEmail, 200)));
    assert_eq!(
        tx.verification_by_link_hash("prj_acme", "link-ver_1").await.unwrap(),
        Some(verification("ver_1", CodePurpose::VerifyEmail, 100))
    );
    assert_eq!(tx.verification_by_link_hash("prj_other", "link-ver_1").await.unwrap(), None);
    assert!(tx.consume_verification("ver_2", t(250)).await.unwrap());
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert!(!tx.consume_verification("ver_2", t(260)).await.unwrap(), "a replay");
    let latest = tx.latest_verification("prj_acme", &email, CodePurpose::VerifyEmail).await.unwrap();
    assert_eq!(latest.map(|v| v.id).as_deref(), Some("ver_1"), "the consumed one no longer counts");
    let consumed = tx.verification_by_link_hash("prj_acme", "link-ver_2").await.unwrap().unwrap();
    assert_eq!(consumed.consumed_at, Some(t(250)));
    let sign_in = tx.latest_verification("prj_acme", &email, CodePurpose::SignIn).await.unwrap();
    assert_eq!(sign_in.map(|v| v.id).as_deref(), Some("ver_3"));
}

async fn wrong_codes_are_counted(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_verification(&verification("ver_1", CodePurpose::SignIn, 100)).await.unwrap();
    assert_eq!(tx.count_verification_attempt("ver_1").await.unwrap(), 1);
    assert_eq!(tx.count_verification_attempt("ver_1").await.unwrap(), 2);
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.count_verification_attempt("ver_1").await.unwrap(), 3);
    assert_eq!(tx.verification_by_link_hash("prj_acme", "link-ver_1").await.unwrap().unwrap().attempts, 3);
}

async fn expired_codes_are_purged(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_verification(&verification("ver_old", CodePurpose::VerifyEmail, 100)).await.unwrap();
    tx.insert_verification(&verification("ver_new", CodePurpose::VerifyEmail, 2_000_000)).await.unwrap();
    tx.commit().await.unwrap();
    // ver_old expired at 900_100, ver_new expires at 2_900_000.
    assert_eq!(store.purge_verifications(t(900_100)).await.unwrap(), 0, "expiring now is not expired before");
    assert_eq!(store.purge_verifications(t(1_000_000)).await.unwrap(), 1);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.verification_by_link_hash("prj_acme", "link-ver_old").await.unwrap(), None);
    assert!(tx.verification_by_link_hash("prj_acme", "link-ver_new").await.unwrap().is_some());
}
