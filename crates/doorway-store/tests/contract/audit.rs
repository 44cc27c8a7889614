//! The audit log: everything oldest first, or pages newest first with filters.

use doorway_core::events::AuditEntry;
use doorway_core::store::AuditFilter;

use crate::{Engine, open_with_project, t};

on_every_engine!(audit_rows_round_trip, audit_pages_filter_and_continue);

fn entry(n: i64, action: &str, outcome: &str, user_id: Option<&str>) -> AuditEntry {
    AuditEntry {
        id: format!("aud_{n:03}"),
        project_id: "prj_acme".into(),
        at: t(n * 100),
        action: action.into(),
        outcome: outcome.into(),
        method: Some("password".into()),
        user_id: user_id.map(Into::into),
        ip: Some("192.0.2.1".into()),
        user_agent: None,
        detail: if n % 2 == 0 { serde_json::json!({"n": n}) } else { serde_json::Value::Null },
    }
}

/// Rows 1..=6: sign-ups and sign-ins of two users, one denied.
fn rows() -> Vec<AuditEntry> {
    vec![
        entry(1, "signup", "ok", Some("usr_1")),
        entry(2, "signin", "ok", Some("usr_1")),
        entry(3, "signup", "ok", Some("usr_2")),
        entry(4, "signin", "denied:bad_password", None),
        entry(5, "signin", "ok", Some("usr_2")),
        entry(6, "signin", "ok", Some("usr_1")),
    ]
}

async fn open_with_rows(
    engine: Engine,
) -> (Option<doorway_store::test_support::FreshDatabase>, std::sync::Arc<dyn doorway_core::Store>) {
    let (db, store) = open_with_project(engine).await;
    let mut tx = store.begin().await.unwrap();
    for row in rows().iter().rev() {
        tx.insert_audit(row).await.unwrap();
    }
    tx.commit().await.unwrap();
    (db, store)
}

fn ids(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.id.as_str()).collect()
}

async fn audit_rows_round_trip(engine: Engine) {
    let (_db, store) = open_with_rows(engine).await;
    assert_eq!(store.audit("prj_acme").await.unwrap(), rows(), "oldest first, details as written");
    assert_eq!(store.audit("prj_other").await.unwrap(), vec![]);
}

async fn audit_pages_filter_and_continue(engine: Engine) {
    let (_db, store) = open_with_rows(engine).await;
    let page = |f: AuditFilter| {
        let store = store.clone();
        async move { store.audit_page("prj_acme", &AuditFilter { limit: f.limit.max(1), ..f }).await.unwrap() }
    };
    let everything = page(AuditFilter { limit: 100, ..Default::default() }).await;
    assert_eq!(ids(&everything), ["aud_006", "aud_005", "aud_004", "aud_003", "aud_002", "aud_001"]);

    let first = page(AuditFilter { limit: 2, ..Default::default() }).await;
    assert_eq!(ids(&first), ["aud_006", "aud_005"]);
    let next = page(AuditFilter { limit: 2, before_id: Some(first[1].id.clone()), ..Default::default() }).await;
    assert_eq!(ids(&next), ["aud_004", "aud_003"]);

    let by_user = page(AuditFilter { user_id: Some("usr_1".into()), limit: 100, ..Default::default() }).await;
    assert_eq!(ids(&by_user), ["aud_006", "aud_002", "aud_001"]);
    let sign_ins = page(AuditFilter { action: Some("signin".into()), limit: 100, ..Default::default() }).await;
    assert_eq!(ids(&sign_ins), ["aud_006", "aud_005", "aud_004", "aud_002"]);
    let denied =
        page(AuditFilter { outcome: Some("denied:bad_password".into()), limit: 100, ..Default::default() }).await;
    assert_eq!(ids(&denied), ["aud_004"]);
    // `since` is inclusive, `until` exclusive.
    let window = page(AuditFilter { since: Some(t(200)), until: Some(t(500)), limit: 100, ..Default::default() }).await;
    assert_eq!(ids(&window), ["aud_004", "aud_003", "aud_002"]);
    let combined = page(AuditFilter {
        user_id: Some("usr_2".into()),
        action: Some("signin".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&combined), ["aud_005"]);
    assert_eq!(store.audit_page("prj_other", &AuditFilter { limit: 100, ..Default::default() }).await.unwrap(), vec![]);
}
